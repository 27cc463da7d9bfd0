"""The PINN-sampling lab as a standalone Panel app: ``panel serve apps/pinn_sampling.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("pinn-sampling").servable()

"""The SELU lab as a standalone Panel app: ``panel serve apps/selu.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("selu").servable()

"""The robust-counterfactuals lab as a standalone Panel app: ``panel serve apps/robust_counterfactuals.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("robust-counterfactuals").servable()

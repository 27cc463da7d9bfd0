"""The piecewise-equivariance lab as a standalone Panel app: ``panel serve apps/apen.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("apen").servable()

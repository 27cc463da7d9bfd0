"""The DPP least-squares lab as a standalone Panel app: ``panel serve apps/dpp_least_squares.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("dpp-least-squares").servable()

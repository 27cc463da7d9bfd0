"""The neural-collapse lab as a standalone Panel app: ``panel serve apps/neural_collapse.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("neural-collapse").servable()

"""The causal-bounds lab as a standalone Panel app: ``panel serve apps/causal_bounds.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("causal-bounds").servable()

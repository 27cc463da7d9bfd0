"""The impossibility lab as a standalone Panel app: ``panel serve apps/generalization_bounds.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("generalization-bounds").servable()

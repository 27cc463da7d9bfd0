"""The reusable-holdout lab as a standalone Panel app: ``panel serve apps/thresholdout.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("thresholdout").servable()

"""The rich/lazy lab as a standalone Panel app: ``panel serve apps/rich_lazy.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("rich-lazy").servable()

"""The NSdim lab as a standalone Panel app: ``panel serve apps/nsdim.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("nsdim").servable()

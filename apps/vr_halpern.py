"""The VR-Halpern lab as a standalone Panel app: ``panel serve apps/vr_halpern.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("vr-halpern").servable()

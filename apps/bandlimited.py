"""The bandlimited-random-net lab as a standalone Panel app: ``panel serve apps/bandlimited.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("bandlimited").servable()

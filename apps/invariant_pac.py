"""The invariant-PAC lab as a standalone Panel app: ``panel serve apps/invariant_pac.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("invariant-pac").servable()

"""The Smooth Diffusion lab as a standalone Panel app: ``panel serve apps/smooth_diffusion.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("smooth-diffusion").servable()

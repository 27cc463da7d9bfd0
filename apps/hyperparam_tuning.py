"""The hyperparameter-tuning lab as a standalone Panel app: ``panel serve apps/hyperparam_tuning.py``."""

from paperscope.ui.app import build_app, extension

extension()
build_app("hyperparam-tuning").servable()

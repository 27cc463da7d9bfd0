"""Labs: one module per paper, pure computation (torch/scipy/numpy), no UI imports.

Each module defines ``PAPER`` (core.paper.Paper), ``Params`` (core.params.LabParams) and
``run(params) -> Iterator[Frame]``, and is registered as a ``paperscope.labs`` entry point in
pyproject.toml. This list only orders the built-in labs in the gallery.
"""

LAB_MODULES = [
    "rich_lazy", "pinn_sampling", "smooth_diffusion",
    "selu", "thresholdout", "dpp_least_squares", "nsdim", "bandlimited", "vr_halpern",
    "generalization_bounds", "invariant_pac", "causal_bounds", "robust_counterfactuals",
    "hyperparam_tuning", "apen", "neural_collapse",
]

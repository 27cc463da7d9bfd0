"""Labs: one module per paper, pure computation (torch/scipy/numpy), no UI imports.

Each module defines ``INFO`` (core.registry.LabInfo), ``Params`` (core.params.LabParams) and
``run(params) -> Iterator[Frame]``. This list is the registry, in gallery order.
"""

LAB_MODULES = [
    "rich_lazy", "pinn_sampling", "smooth_diffusion",
    "selu", "thresholdout", "dpp_least_squares", "nsdim", "bandlimited", "vr_halpern",
]

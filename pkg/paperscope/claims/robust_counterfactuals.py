"""Claims of the robust-counterfactuals lab (spec C1, C2, and the price of robustness), over 3
seeds, at τ = 0.7, σ = 0.1, k = 200, γ = 1 with the default model change (a new seed on a
random 90 % of the data). Both CF methods serve the same queries of the same model m, and
validity is measured among the CFs valid under m."""

import torch

from ..core.claims import Claim, Measurement
from ..labs import robust_counterfactuals as rc


def validities(seed: int, **size) -> dict:
    """One run's headline metrics (the lab's own ``run``, on the CPU with one thread)."""
    torch.set_num_threads(1)  # tiny batched nets: one thread beats a contended pool
    metrics = rc.final_metrics({**size, "seed": seed, "threshold": 0.7})
    return {k: v for k, v in metrics.items() if k != "by_method"}


# quick: the lab's QUICK sizes with the spec's k; paper: the spec's CPU experiment (the defaults).
RUNS = {"measure": Measurement(validities), "seeds": 3,
        "quick": {**rc.Params.QUICK, "samples": 200}, "paper": {}}

CLAIMS = [
    Claim("C1", "T-Rex minus closest: validity under retrained models (τ = 0.7)",
          value=lambda r: r["validity_retrained_trex"] - r["validity_retrained_closest"], threshold=0.25, **RUNS),
    Claim("C2", "T-Rex CFs stay valid under retrained models (τ = 0.7)",
          value=lambda r: r["validity_retrained_trex"], threshold=0.8, **RUNS),
    Claim("C-cost", "robustness is not free: T-Rex cost minus closest cost (L2)",
          value=lambda r: r["cost_trex"] - r["cost_closest"], threshold=0.0, direction=">", **RUNS),
]

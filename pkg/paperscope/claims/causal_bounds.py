"""Claims of the causal-bounds lab (spec C1–C3), per seed over γ_u ∈ {0.5, 2}.

Each seed draws one sample per γ_u (the lab's DGP at its default δ, slope and Gaussian noise,
8 bins) and solves every divergence's per-bin dual; a claim reads the worst of the two γ_u.
"""

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..core.seeding import torch_generator
from ..labs import causal_bounds as cb

GAMMAS = (0.5, 2.0)


def bins_at(seed: int, n: int, bins: int = 8) -> dict:
    """Per γ_u: ê, the truth, the naive means and [lo, up] for every base divergence per bin."""
    torch.set_num_threads(1)  # small batched solves: one thread beats a contended pool
    edges = np.linspace(-2, 2, bins + 1)
    out = {"truth": cb.bin_truth(edges)}
    for gamma in GAMMAS:
        params = cb.Params(n=n, bins=bins, confounding=gamma, device="cpu")
        gen = torch_generator(seed, "cpu", cb.STREAM_DATA)
        with torch.no_grad():
            e_hat, naive, per_div = cb.bounds(*cb.draw(n, params, "gaussian", gen, "cpu"), bins)
        out[gamma] = {"e_hat": e_hat, "naive": naive,
                      **{div: per_div[k] for k, div in enumerate(cb.BASE)}}  # (2, B) each
    return out


def worst_coverage(div: str):
    return lambda r: min(cb.coverage(*r[g][div], r["truth"]) for g in GAMMAS)


def width(r: dict, gamma: float, div: str) -> np.ndarray:
    lo, up = r[gamma][div]
    return up - lo


def worst_spearman(r: dict) -> float:
    return max(cb.spearman(width(r, g, "chi2"), r[g]["e_hat"]) for g in GAMMAS)


def chi2_narrower(r: dict) -> float:
    return min(np.mean(width(r, g, "chi2") <= width(r, g, "KL")) for g in GAMMAS)


SPEC = {"measure": Measurement(bins_at), "seeds": 5, "quick": {"n": 5000}, "paper": {"n": 20000}}

CLAIMS = [
    Claim("C1-chi2", "χ² bounds hold θ(1, x): share of bins covered (worst γ_u of 0.5, 2)",
          value=worst_coverage("chi2"), threshold=0.95, **SPEC),
    Claim("C1-KL", "KL bounds hold θ(1, x): share of bins covered (worst γ_u of 0.5, 2)",
          value=worst_coverage("KL"), threshold=0.95, **SPEC),
    Claim("C2", "width falls with the propensity: Spearman(χ² width, ê) (worst γ_u)",
          value=worst_spearman, threshold=-0.8, direction="<=", **SPEC),
    Claim("C3", "χ² is tighter than KL: share of bins with χ² width ≤ KL width (worst γ_u)",
          value=chi2_narrower, threshold=0.8, **SPEC),
]

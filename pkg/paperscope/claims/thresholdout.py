"""Claims of the reusable-holdout lab (spec C1, C2 and its signal variant), at the spec's size."""

import numpy as np

from ..core.claims import Claim, Measurement
from ..labs import thresholdout as th


def accuracies(seed: int, **params) -> dict:
    """Reported (holdout) and fresh accuracies of the last frame: ``(reps, method, k)`` arrays,
    method 0 the standard holdout and 1 Thresholdout."""
    *_, last = th.run(th.Params(**params, seed=seed, device="cpu"))
    return {"ks": np.asarray(last.ks), "holdout": np.asarray(last.holdout), "fresh": np.asarray(last.fresh)}


def gaps(f: dict, method: int, k_min: int) -> np.ndarray:
    """holdout − fresh for one method at every k ≥ k_min: ``(reps, k)``."""
    big = f["ks"] >= k_min
    return f["holdout"][:, method][:, big] - f["fresh"][:, method][:, big]


def at_k(f: dict, name: str, k: int) -> np.ndarray:
    """The standard holdout's ``name`` accuracies at exactly k, over repetitions."""
    return f[name][:, 0, list(f["ks"]).index(k)]


SPEC = {"measure": Measurement(accuracies), "seeds": 5,
        "quick": {"n": 2000, "d": 2000, "reps": 10, "rounds": 10, "k_step": 10}}  # k = 10, 20, ..., 100
# The spec's signal variant: 20 biased features, 150 queries.
SIGNAL = {"measure": Measurement(accuracies), "seeds": 3,
          "quick": {"signal": 20, "reps": 6, "rounds": 15, "k_step": 10}}

CLAIMS = [
    Claim("C1", "reused holdout overfits: mean(holdout − fresh) at k = 100",
          value=lambda f: np.mean(at_k(f, "holdout", 100) - at_k(f, "fresh", 100)), threshold=0.07, **SPEC),
    Claim("C1-chance", "fresh data stay at chance: |mean fresh − 0.5| at k = 100",
          value=lambda f: abs(at_k(f, "fresh", 100).mean() - 0.5), threshold=0.02, direction="<", **SPEC),
    Claim("C2-answered", "Thresholdout answers every query at k ≥ 50 (fraction)",
          value=lambda f: np.isfinite(f["holdout"][:, 1][:, f["ks"] >= 50]).mean(), threshold=1.0, **SPEC),
    Claim("C2", "Thresholdout tracks fresh: mean |holdout − fresh|, k ≥ 50",
          value=lambda f: np.mean(np.abs(gaps(f, 1, 50))), threshold=0.04, direction="<=", **SPEC),
    Claim("S-fresh", "signal: Thresholdout generalises: fresh accuracy, k ≥ 100",
          value=lambda f: f["fresh"][:, 1][:, f["ks"] >= 100].mean(), threshold=0.55, direction=">", **SIGNAL),
    Claim("S-std", "signal: holdout over-reports: mean(holdout − fresh), k ≥ 100",
          value=lambda f: np.mean(gaps(f, 0, 100)), threshold=0.05, direction=">", **SIGNAL),
    Claim("S-thr", "signal: Thresholdout near fresh: |mean(hold. − fresh)|, k ≥ 100",
          value=lambda f: abs(np.mean(gaps(f, 1, 100))), threshold=0.04, direction="<", **SIGNAL),
]

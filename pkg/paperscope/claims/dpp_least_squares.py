"""Claims of the DPP least-squares lab (spec C1-C3), per seed at the spec's sizes."""

import numpy as np

from ..core.claims import Claim, Measurement
from ..labs import dpp_least_squares as dl


def draws(seed: int, m: int, reps: int, samplers: tuple, ratio: int) -> dict:
    """err²/best² and ‖G − I‖₂ of ``reps`` designs per sampler at n/m = ratio."""
    out = dl.simulate(dl.Params(m=m, reps=reps, seed=seed, device="cpu"), samplers, (ratio,))
    return {s: {"err2": out[(s, ratio)][1], "gi": out[(s, ratio)][2]} for s in samplers}


def stable(d: dict, sampler: str) -> float:
    """P(‖G − I‖₂ ≤ ½) over the draws."""
    return float((d[sampler]["gi"] <= 0.5).mean())


QUASI = ("iid_optimal", "dpp_repeated", "volume")

CLAIMS = [
    Claim("C1", "one DPP, n = m = 5: |MoM(err²/best²)/(m + 1) − 1|, 3000 draws",
          Measurement(draws), value=lambda d: abs(dl.median_of_means(d["dpp"]["err2"]) / 6 - 1),
          threshold=0.2, direction="<=", quick={"m": 5, "reps": 3000, "samplers": ("dpp",), "ratio": 1}),
    Claim("C2", "n = 5m: P_stable(repeated DPP) − P_stable(i.i.d. optimal)",
          Measurement(draws), value=lambda d: stable(d, "dpp_repeated") - stable(d, "iid_optimal"),
          threshold=0.5, quick={"m": 10, "reps": 300, "samplers": ("iid_optimal", "dpp_repeated"), "ratio": 5}),
    Claim("C3", "n = 8m: worst median err/best (i.i.d., repeated DPP, volume)",
          Measurement(draws), value=lambda d: max(np.median(np.sqrt(d[s]["err2"])) for s in QUASI),
          threshold=1.1, direction="<=", quick={"m": 10, "reps": 300, "samplers": QUASI, "ratio": 8}),
]

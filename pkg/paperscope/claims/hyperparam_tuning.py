"""Claims of the dual-function lab (spec C1 and C2).

C1 is algebra (each margin is a ratio of polynomials of degree ≤ 2H): the exact jump count of
u(α) on 20 tasks never exceeds 2·H·n_val. C2 is the spec's empirical sample-complexity claim:
the mean |ū_train(α̂_N) − ū_fresh(α̂_N)| over seeds and repetitions at N = 64 is below half its
value at N = 4 (a 1/√N law predicts a quarter); it is pooled over seeds, as the spec's E_seed
reads, and evaluated on the spec's 200 fresh tasks.
"""

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..labs import hyperparam_tuning as ht


def jump_counts(seed: int, **size) -> dict:
    """Exact jump counts of the first 20 pool tasks and their bound 2·H·n_val."""
    torch.set_num_threads(1)  # small batched solves: one thread beats a contended pool
    frame = ht.final_frame({**size, "tasks": ht.COUNTED // 2, "fresh_tasks": 10, "repeats": 1, "seed": seed})
    return {"jumps": frame.jumps, "bound": frame.jump_bound}


def gaps(seed: int, **size) -> dict:
    """|gap| per repetition at every N of the learning curve: ``{"N": (L,), "abs_gap": (L, R)}``."""
    torch.set_num_threads(1)
    frame = ht.final_frame({**size, "seed": seed})
    return {"N": frame.Ns, "abs_gap": np.abs(frame.gap), "excess": frame.excess}


def mean_abs_gap(results: list, N: int) -> float:
    """Mean |gap| at N over every seed's repetitions."""
    return float(np.mean([r["abs_gap"][list(r["N"]).index(N)] for r in results]))


SIZE = {"width": 64, "n_val": 200, "n_train": 200, "alphas": 201}  # the spec's task
QUICK = {"width": 16, "n_val": 100, "n_train": 100, "alphas": 51}

CLAIMS = [
    Claim("C1", "exact jumps of u(α) on 20 tasks / (2·H·n_val), largest",
          measure=Measurement(jump_counts), value=lambda r: r["jumps"].max() / r["bound"], threshold=1.0,
          direction="<=", quick=QUICK, paper=SIZE, seeds=3),
    Claim("C2", "mean |ū_train − ū_fresh| at α̂_N: N = 64 over N = 4 (seeds pooled)",
          measure=Measurement(gaps), value=lambda rs: mean_abs_gap(rs, 64) / mean_abs_gap(rs, 4),
          threshold=0.5, direction="<", pooled=True,
          quick={**QUICK, "tasks": 64, "fresh_tasks": 200, "repeats": 20},
          paper={**SIZE, "tasks": 64, "fresh_tasks": 200, "repeats": 50}, seeds=5),
]

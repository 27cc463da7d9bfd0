"""Claims of the VR-Halpern lab (spec A1-A3, and the paper's √n rate as A4): seeds run as the
lanes of one batched run.

Every method's step constant is tuned on the same relative grid (× 1/4 … × 16 in steps of √2
around the app's default: EG's and EAG's η·L, VR-EG's τ factor, VR-Halpern's c), on tuning
seeds that the claims never evaluate: A1-A2 keep the step with the smallest residual at the
budget, A4 the one that reaches ε in the fewest oracle calls. The measurements return the tuned
steps, and the T- claims report them.
"""

from functools import lru_cache

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..labs import vr_halpern as vh

TUNING_SEED = 100  # tuning uses seeds 100, 101, ...: disjoint from the evaluation seeds 0, 1, 2, ...
DEFAULT_STEPS = {"eg": vh.EG_FACTOR, "halpern": vh.EAG_FACTOR, "vr_eg": vh.TAU_FACTOR,
                 "vr_halpern": vh.Params.param["step"].default}
GRID_RATIO = 2 ** 0.5  # neighbouring grid steps differ by √2


def step_grid(method: str, grid: tuple) -> np.ndarray:
    """The method's candidate steps: its default × ``grid[0]`` … × ``grid[1]`` in steps of √2."""
    lo, hi = (round(np.log(g) / np.log(GRID_RATIO)) for g in grid)
    return DEFAULT_STEPS[method] * GRID_RATIO ** np.arange(lo, hi + 1)


def _problem(seeds: tuple, n: int):
    return vh.make_problem(seeds[0], len(seeds), n, 20, 1e-2, 1.0, "cpu")


@lru_cache(maxsize=64)  # deterministic: the claims reading one n share it, in pytest and per worker
def tuned_at_budget(method: str, n: int, passes: float, grid: tuple, tuning_seeds: int) -> float:
    """The step with the smallest residual at the budget (geometric mean over the tuning seeds)."""
    steps = step_grid(method, grid)
    seeds = tuple(range(TUNING_SEED, TUNING_SEED + tuning_seeds))
    calls, res = vh.trace(_problem(seeds, n), seeds[0], method, steps, passes)
    scores = [vh.geometric_mean(vh.residual_at(calls[:, g], res[:, g], passes * n)) for g in range(len(steps))]
    return float(steps[int(np.argmin(scores))])


@lru_cache(maxsize=64)
def tuned_to_reach(method: str, n: int, epsilon: float, cap: float, grid: tuple, tuning_seeds: int) -> float:
    """The step that reaches ``‖F‖ ≤ ε`` in the fewest oracle calls (the slowest tuning seed's)."""
    steps = step_grid(method, grid)
    seeds = tuple(range(TUNING_SEED, TUNING_SEED + tuning_seeds))
    calls, res = vh.trace(_problem(seeds, n), seeds[0], method, steps, cap, epsilon=epsilon, race=True)
    worst = [vh.calls_to_reach(calls[:, g], res[:, g], epsilon).max() for g in range(len(steps))]
    if not np.isfinite(min(worst)):
        raise RuntimeError(f"{method} reached ε = {epsilon:g} within {cap:g} passes at no step (n = {n})")
    return float(steps[int(np.argmin(worst))])


def finals_at(seeds: tuple, passes: int, ns: tuple, grid: tuple, tuning_seeds: int) -> list[dict]:
    """‖F‖ at the end of ``passes`` passes per seed, every method at its tuned step:
    ``{"final": {n: {method: value}}, "step": {n: {method: tuned step}}}`` for each seed."""
    torch.set_num_threads(1)  # small batched loops: one thread beats a contended pool
    final, step = {}, {}
    for n in ns:
        problem = _problem(seeds, n)
        step[n] = {m: tuned_at_budget(m, n, passes, tuple(grid), tuning_seeds) for m in vh.METHODS}
        final[n] = {m: vh.residual_at(*[a[:, 0] for a in vh.trace(problem, seeds[0], m, step[n][m], passes)],
                                      passes * n)
                    for m in vh.METHODS}  # (seeds,) each
    return [{"final": {n: {m: float(v[r]) for m, v in final[n].items()} for n in ns}, "step": step}
            for r in range(len(seeds))]


def calls_to_epsilon(seeds: tuple, ns: tuple, epsilon: float, cap: float, grid: tuple,
                     tuning_seeds: int) -> list[dict]:
    """Oracle calls for EAG and VR-Halpern (tuned per n) to reach ``‖F‖ ≤ ε``, per seed, and the
    log-log slope of calls against n: ``{"calls": {method: [per n]}, "slope": {method: s}, "step": ...}``."""
    torch.set_num_threads(1)
    methods = ("halpern", "vr_halpern")
    calls = {m: np.zeros((len(ns), len(seeds))) for m in methods}
    step = {m: [tuned_to_reach(m, n, epsilon, cap, tuple(grid), tuning_seeds) for n in ns] for m in methods}
    for i, n in enumerate(ns):
        problem = _problem(seeds, n)
        for m in methods:
            c, r = vh.trace(problem, seeds[0], m, step[m][i], cap, epsilon=epsilon)
            calls[m][i] = vh.calls_to_reach(c[:, 0], r[:, 0], epsilon)  # inf if never within cap
    x = np.asarray(ns, dtype=float)
    return [{"calls": {m: calls[m][:, s].tolist() for m in methods},
             "slope": {m: vh.loglog_slope(x, calls[m][:, s]) if np.isfinite(calls[m][:, s]).all() else np.nan
                       for m in methods},
             "step": step} for s in range(len(seeds))]


def tail_slopes(seeds: tuple, iters: int, n: int, dim: int, s_min: float, tail_from: int) -> list[dict]:
    """Log-log slope of ‖F(u_k)‖ over k in [tail_from, iters] for EG and EAG, per seed."""
    R = len(seeds)
    det = vh.Deterministic(vh.make_problem(seeds[0], R, n, dim, s_min, 1.0, "cpu"))
    det.steps(iters)
    _, res, _ = det.history()  # (iters + 1, methods x seeds): EG lanes first, then EAG
    k = np.arange(res.shape[0])
    tail = k >= tail_from
    return [{"eg": vh.loglog_slope(k[tail], res[tail, r]), "eag": vh.loglog_slope(k[tail], res[tail, R + r])}
            for r in range(R)]


GRID = (0.25, 16.0)
# The spec's sizes (200 passes at n = 50 and 400), which the tests use too (tuned on one seed).
AT_200 = {"measure": Measurement(finals_at, batched=True),
          "quick": {"passes": 200, "ns": (50, 400), "grid": GRID, "tuning_seeds": 1},
          "paper": {"passes": 200, "ns": (50, 400), "grid": GRID, "tuning_seeds": 2}}
# The √n rate: calls to reach ε over n = 25 … 400 (ε: reached by both methods at every n).
# pytest stops at n = 200 (the n = 400 runs double its time) and tunes on one seed.
TO_EPSILON = {"measure": Measurement(calls_to_epsilon, batched=True),
              "quick": {"ns": (25, 50, 100, 200), "epsilon": 0.05, "cap": 1500.0, "grid": GRID, "tuning_seeds": 1},
              "paper": {"ns": (25, 50, 100, 200, 400), "epsilon": 0.05, "cap": 1500.0, "grid": GRID,
                        "tuning_seeds": 2}}
# The theory's steps, as the spec's A3 (a rate, not a comparison at a budget: nothing to tune).
SLOPES = {"measure": Measurement(tail_slopes, batched=True),
          "quick": {"iters": 1000, "n": 100, "dim": 20, "s_min": 1e-2, "tail_from": 250}}


def ratio(r: dict, n: int, method: str) -> float:
    return r["final"][n]["vr_halpern"] / r["final"][n][method]


def tuned_step(method: str, top: float):
    """A T- claim: the tuned step at n = 400 (what verify prints), below the grid's top."""
    return {"value": lambda r: r["step"][400][method], "threshold": DEFAULT_STEPS[method] * top,
            "direction": "<", **AT_200}


CLAIMS = [
    Claim("A1", "VR-Halpern ends ≤ 0.1× EG's ‖F‖ at n = 400 (200 passes, steps tuned)",
          value=lambda r: ratio(r, 400, "eg"), threshold=0.1, direction="<=", **AT_200,
          known_fail=("with EG's step tuned on the same grid (a larger η·L than the theory's 1/2), "
                      "one seed of three ends above 0.1× EG")),
    Claim("A1-n50", "VR-Halpern ends ≤ 0.25× EG's ‖F‖ at n = 50 (200 passes, steps tuned)",
          value=lambda r: ratio(r, 50, "eg"), threshold=0.25, direction="<=", **AT_200,
          known_fail="with EG's step tuned on the same grid, no seed gets within 0.25× EG at n = 50"),
    Claim("A1-vr-eg", "VR-Halpern ends below VR-EG at n = 50, 400 (largest ratio, tuned)",
          value=lambda r: max(ratio(r, n, "vr_eg") for n in r["final"]), threshold=1.0, direction="<=",
          **AT_200),
    Claim("A2", "the EG / VR-Halpern gain grows from n = 50 to 400 (ratio, tuned)",
          value=lambda r: ratio(r, 50, "eg") / ratio(r, 400, "eg"), threshold=1.0, direction=">",
          **AT_200),
    Claim("A3-eag", "EAG's tail slope is ≤ -0.8 (Halpern's O(1/k))",
          value=lambda s: s["eag"], threshold=-0.8, direction="<=", **SLOPES,
          known_fail="one seed's slope is shallower than -0.8 over k in [250, 1000]"),
    Claim("A3-eg", "EG's tail slope is ≥ -0.6 (O(1/√k))",
          value=lambda s: s["eg"], threshold=-0.6, direction=">=", **SLOPES,
          known_fail="one seed's EG slope is steeper than -0.6 over k in [250, 1000]"),
    Claim("A3-gap", "EAG's tail slope is below EG's by ≥ 0.2 (added by the lab)",
          value=lambda s: s["eag"] - s["eg"], threshold=-0.2, direction="<=", **SLOPES),
    Claim("A4", "√n: log-log slope of calls to ‖F‖ ≤ 0.05 vs n, EAG's − VR-Halpern's ≥ 0.25",
          value=lambda r: r["slope"]["halpern"] - r["slope"]["vr_halpern"], threshold=0.25,
          direction=">=", **TO_EPSILON),
    Claim("T-eg", "EG's tuned η·L at n = 400 is below its grid's top", **tuned_step("eg", GRID[1])),
    Claim("T-eag", "EAG's tuned η·L at n = 400 is below its grid's top", **tuned_step("halpern", GRID[1])),
    Claim("T-vr-eg", "VR-EG's tuned τ factor at n = 400 is below its grid's top",
          **tuned_step("vr_eg", GRID[1])),
    Claim("T-vr-halpern", "VR-Halpern's tuned c at n = 400 is below its grid's top",
          **tuned_step("vr_halpern", GRID[1])),
]

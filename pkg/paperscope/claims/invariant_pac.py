"""Claims of the invariant-PAC lab (spec C1-C3), at exact invariance (ε = 0).

Each seed is one run of the lab: ``reps`` repetitions (their own SEM weights and intervention
draws) at every m of the sweep, both graphs (8 covariates, and 8 + 20 irrelevant ones). C1
reads the median over the repetitions, as the spec's "median over 5 seeds"; the claims hold
when they hold on every seed.

C1's lower end is declared twice. For m ≤ s − 2 the worst case almost always finds a failing
representation. At m = s − 1 it can only when a sign-constrained hyperplane passes through the
m training interventions: the sites X3..X6 are not ancestors of Y, so their coefficients
c_j = −u_j² are ≤ 0, and a hyperplane {c₀ + Σ_j t_j c_j = 0} with c ≤ 0 through m random points
exists only on some draws (an LP decides it): on about half of them (seeds 0-3, 200 draws
each: 0.46-0.55). The spec's check at m = s − 1 (the median over 5 repetitions ≥ 0.5) is then a
coin flip on any seed, so C1-low-s-1 asks how likely it is to hold: the binomial chance that 3 of
5 repetitions draw such points, from the LP share over many draws of the lab's own streams. It
is declared KNOWN-FAIL: the spec's lower end does not reproduce reliably at m = s − 1. C1-lp-sound and C1-lp-power check
the adversary against the LP itself: it never fails where no failing w exists, and it finds one
in most fits where one does (a local optimiser can miss a narrow feasible set at m = s).
"""

import numpy as np
import torch
from scipy.optimize import linprog
from scipy.stats import binom

from ..core.claims import Claim, Measurement
from ..core.seeding import torch_generator
from ..labs import invariant_pac as ip

SITES = 4
EXTRA = 20


def exact_runs(seed: int, reps: int, steps: int) -> dict:
    """One run at ε = 0 (adversary's numbers): the sweep, fail fractions (graph, m, rep), the
    worst training violations and the metrics."""
    torch.set_num_threads(1)  # small batched loops: one thread beats a contended pool
    params = ip.Params(seed=seed, device="cpu", tolerance=0.0, sites=SITES, extra_nodes=EXTRA, reps=reps,
                       steps=steps, learner="adversarial")
    *_, last = ip.run(params)
    li = ip.LEARNERS.index("adversarial")
    T_train = ip.build(params, torch.device("cpu")).T_train_rep.numpy()
    return {"ms": np.asarray(last.ms), "fail": np.asarray(last.fail[:, li]), "T_train": T_train,
            "violation": np.asarray(last.train_violation[:, li]), "metrics": last.metrics}


def failing_w_exists(T: np.ndarray) -> bool:
    """Whether some w is exactly invariant on the training interventions ``T (m, s)`` without
    being invariant everywhere, when every site is a non-ancestor of Y (c_j = −u_j² ≤ 0): an LP
    for c ≤ 0, Σc = −1 with c·(t_e − t_1) = 0 for every e (c₀ then takes the common value)."""
    m, s = T.shape
    A = np.vstack([T[1:] - T[0], -np.ones((1, s))])
    b = np.r_[np.zeros(m - 1), 1.0]
    return linprog(np.zeros(s), A_eq=A, b_eq=b, bounds=[(None, 0)] * s).status == 0


def lp_verdicts(r: dict) -> tuple[np.ndarray, np.ndarray]:
    """For every feasible adversary at m ≤ s + 1 (both graphs): whether the LP says a failing w
    exists, and whether the adversary failed (on more than 1 % of the test interventions)."""
    exists, failed = [], []
    for rep in range(r["T_train"].shape[0]):
        for mi, m in enumerate(r["ms"]):
            if m > SITES + 1:
                break
            lp = failing_w_exists(r["T_train"][rep, :m])
            for fail in r["fail"][:, mi, rep]:
                if np.isfinite(fail):  # NaN: an adversary that missed its constraints, left out
                    exists.append(lp)
                    failed.append(fail > 0.01)
    return np.array(exists), np.array(failed)


def unsound(r: dict) -> float:
    """Adversaries that fail where the LP proves no failing w exists (each would be a failure
    that does not come from the theory)."""
    exists, failed = lp_verdicts(r)
    return float((failed & ~exists).sum())


def power(r: dict) -> float:
    """The share of the fits where a failing w exists in which the adversary finds one."""
    exists, failed = lp_verdicts(r)
    return float(failed[exists].mean())


def spec_check_chance(seed: int, draws: int) -> float:
    """The chance that the spec's check at m = s − 1 holds on a seed, i.e. that at least 3 of 5
    repetitions draw training interventions through which a failing w exists (the adversary
    fails exactly there: C1-lp-sound, C1-lp-power), from the LP share over ``draws``
    repetitions of the lab's own random streams."""
    found = 0
    for i in range(draws):
        gen = torch_generator(seed, "cpu", ip.STREAM_SEM + i)
        ip.sem_weights(1, EXTRA, gen, "cpu")  # the lab's stream order: SEM weights, then environments
        T = ip.environments(1, ip.M_MAX, SITES, ip.Params.param.t_max.default, gen, "cpu")[0]
        found += failing_w_exists(T[:SITES - 1].numpy())
    return float(binom.sf(2, 5, found / draws))


def lowest_median(r: dict, m_max: int) -> float:
    """The smallest median fail fraction over m ≤ m_max (base graph)."""
    med = ip.median(r["fail"][0])
    return float(med[r["ms"] <= m_max].min())


def highest_median(r: dict, m_min: int) -> float:
    """The largest median fail fraction over m ≥ m_min (base graph)."""
    med = ip.median(r["fail"][0])
    return float(med[r["ms"] >= m_min].max())


def transition_shift(r: dict) -> float:
    """|m* with 20 irrelevant nodes − m* without| (inf when either is not within the sweep)."""
    a, b = r["metrics"]["transition_m"], r["metrics"]["transition_m_extra"]
    return float("inf") if a is None or b is None else float(abs(a - b))


def infeasible(r: dict) -> float:
    """The share of adversaries whose training violation exceeds the feasibility tolerance
    (their fail fractions are left out of the medians: no valid worst case)."""
    return float((r["violation"] > ip.FEASIBLE_TOL).mean())


EXACT = {"measure": Measurement(exact_runs), "seeds": 2,
         "quick": {"reps": 5, "steps": 400}, "paper": {"reps": 5, "steps": 800}}

CLAIMS = [
    Claim("C1-low", "ε = 0: worst-case median fail fraction ≥ 0.5 for every m ≤ s − 2",
          value=lambda r: lowest_median(r, SITES - 2), threshold=0.5, **EXACT),
    Claim("C1-low-s-1", "ε = 0, m = s − 1: the spec's check (median of 5 repetitions ≥ 0.5) holds "
          "with probability ≥ 0.9", measure=Measurement(spec_check_chance), value=float, threshold=0.9,
          seeds=3, quick={"draws": 200}, paper={"draws": 1000},
          known_fail=("at m = s − 1 a failing w exists on only about half the draws (the LP), so the "
                      "spec's median check holds on about half the seeds: the transition sits at "
                      "m ≈ s − 1, not above it")),
    Claim("C1-high", "ε = 0: worst-case median fail fraction ≤ 0.05 for every m ≥ 3s",
          value=lambda r: highest_median(r, 3 * SITES), threshold=0.05, direction="<=", **EXACT),
    Claim("C1-lp-sound", "adversaries failing where an LP proves no failing w exists (count)",
          value=unsound, threshold=0.0, direction="<=", **EXACT),
    Claim("C1-lp-power", "adversaries finding a failing w where the LP says one exists (share)",
          value=power, threshold=0.9, **EXACT),
    Claim("C1-feasible", "adversaries that missed their training constraints (share, left out)",
          value=infeasible, threshold=0.01, direction="<=", **EXACT),
    Claim("C2", "causal predictor: max_t |r_t| over test interventions",
          value=lambda r: r["metrics"]["causal_residual"], threshold=1e-10, direction="<", **EXACT),
    Claim("C3", "20 irrelevant nodes move the transition m* by at most 1",
          value=transition_shift, threshold=1.0, direction="<=", **EXACT),
]

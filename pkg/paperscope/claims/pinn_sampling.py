"""Claims of the PINN-sampling lab on the 2-D Poisson peak at κ = 200, every comparison at an
equal number of collocation points at every stage and an equal number of Adam steps.

Each claim compares two runs that train the same PINN (same seeded weights, same first N
uniform points, same lr schedule, same steps) and differ only in where their points go:

* C1, C3: AAS (``set_update="add"``: N/2 points join the set per stage) against a uniform set
  grown by the same N/2 uniform points per stage (``uniform-redraw`` + ``add``, which is also
  the lab's equal-size ``control`` run);
* C2: RAR-D (Wu et al. 2023: the RAD density ``|r|^k/mean|r|^k + c``, k = c = 1, its new points
  *added*: ``sampler="rad"``, ``set_update="add"``) against the same grown uniform set;
* C2-rad: RAD proper (all N points redrawn from that density each stage) against the fixed
  uniform set of N points;
* C4: AAS against RAR-D, both growing by N/2 per stage: the paper's comparison of AAS with
  residual-based adaptive sampling, at equal budget.

Before issue 14 the claims compared a growing 3.5N-point adaptive set with the fixed N-point
set: a uniform set grown alike also lowers the error, so those ratios measured set size as much
as adaptivity.

The paper size is the spec's experiment (N = 1000, lr 1e-3 with cosine decay per stage, the
64-wide PINN) run for 11 stages × 500 Adam steps: the budget at which the best sampler resolves
the peak (relative L2 error below 0.1; at the spec's 6 × 500 steps none has yet, so error
ratios there compare unresolved runs). With N/2 points added per
stage the set reaches 6000 points, the lab's CPU cap, at the last stage.

Quick sizes (pytest): the growing sets (C1, C2, C3, C4) at 6 stages × 200 steps with a 32-wide
PINN, where no sampler resolves the peak (errors of order one): the error claims' quick forms
are smoke checks of the pipeline on unconverged runs, not reproductions (they could still pass
where they are declared to fail, and the test would report it), while C1's flattening shows at
any size. C2-rad compares two sets that never grow, run at the spec's 6 × 500 steps with the
lab's PINN and N = 500 (at 6 × 200 steps their errors are noise too): unresolved still, but
the fixed set's error is far the larger. C2, C3 and C4 are declared known to fail (at both
sizes); their numbers are in the recorded verify run.
"""

from ..core.claims import Claim, Measurement
from ..labs import pinn_sampling as ps

# Each compared sampler's settings, pinned (not left to defaults) so that the claims keep their
# meaning if a default changes: RAD / RAR-D at the spec's k = 1, c = 1; AAS with the histogram
# adversary on any device (the flow is the CUDA default); no in-run control (the grown uniform
# set is its own run here, shared by the claims that read it).
RAD_KC = {"sampler": "rad", "rad_k": 1.0, "rad_c": 1.0}
SAMPLERS = {
    "uniform": {"sampler": "uniform"},
    "uniform-grown": {"sampler": "uniform-redraw", "set_update": "add"},
    "rar-d": {**RAD_KC, "set_update": "add"},
    "rad": {**RAD_KC, "set_update": "replace"},
    "aas": {"sampler": "aas", "set_update": "add", "beta": 3.0, "adversary": "histogram"},
}
PROBLEM = {"problem": "peak", "kappa": 200.0, "control": False}


def final_runs(seed: int, samplers=tuple(SAMPLERS), **size) -> dict:
    """The last frame's metrics (``rel_l2``, ``cv_r2``, ``n_train``, ...) of one CPU run per
    sampler in ``samplers`` at ``size`` (``Params`` overrides), all from ``seed``."""
    return {name: ps.final_metrics({**PROBLEM, **size, **SAMPLERS[name], "seed": seed}) for name in samplers}


def ratio(sampler: str, baseline: str, metric: str):
    """``metric`` of ``sampler`` over that of ``baseline`` in one seed's runs, which must have
    trained on equally many points at every stage (an error otherwise, not a quiet ratio)."""
    def value(runs):
        sizes = [[h["n_train"] for h in runs[name]["history"]] for name in (sampler, baseline)]
        if sizes[0] != sizes[1]:
            raise ValueError(f"{sampler} and {baseline} trained on different set sizes: {sizes}")
        return runs[sampler][metric] / runs[baseline][metric]
    return value


RUNS = Measurement(final_runs)
# 11 stages × 500 Adam steps: the budget at which the best sampler resolves the peak (module
# docstring); N = 1000 and the 64-wide PINN as the spec.
PAPER = {"n_points": 1000, "stages": 11, "steps_per_stage": 500, "samplers": tuple(SAMPLERS)}
# Quick sizes: the growing sets at 6 × 200 steps with a 32-wide PINN (unconverged: a smoke
# check); RAD against the fixed set (sets that never grow) at the spec's own 6 × 500 steps with
# the lab's PINN and N = 500: at 6 × 200 steps their errors are noise.
# pytest checks seeds 0-1 at the quick size (the lab's whole claim class took 138 s on three);
# verify checks seeds 0-2 at the paper's.
SHARED = {"measure": RUNS, "paper": PAPER, "seeds": 3, "quick_seeds": 2}
GROWING = {**SHARED, "quick": {"n_points": 1000, "stages": 6, "steps_per_stage": 200, "width": 32,
                               "samplers": ("uniform-grown", "rar-d", "aas")}}
FIXED_SIZE = {**SHARED, "quick": {"n_points": 500, "stages": 6, "steps_per_stage": 500,
                                  "samplers": ("uniform", "rad")}}

CLAIMS = [
    Claim("C1", "AAS flattens the residual: CV(r²) of AAS (add N/2) / a uniform set grown alike",
          value=ratio("aas", "uniform-grown", "cv_r2"), threshold=0.5, direction="<=", **GROWING),
    Claim("C2", "RAR-D halves the error of a uniform set grown alike (N/2 points per stage): rel. L2 ratio",
          value=ratio("rar-d", "uniform-grown", "rel_l2"), threshold=0.5, direction="<=", **GROWING,
          known_fail=("a uniform set grown by the same N/2 points per stage lowers the error as much: "
                      "RAR-D does not halve it, and ends behind it on some seeds")),
    Claim("C2-rad", "RAD (N points redrawn) halves the error of the fixed uniform N points: rel. L2 ratio",
          value=ratio("rad", "uniform", "rel_l2"), threshold=0.5, direction="<=", **FIXED_SIZE),
    Claim("C3", "AAS (add N/2) beats a uniform set grown alike, equal points and steps: rel. L2 ratio",
          value=ratio("aas", "uniform-grown", "rel_l2"), threshold=1.0, direction="<", **GROWING,
          known_fail=("AAS's flatter residual does not buy a smaller error than a uniform set grown "
                      "alike on every seed")),
    Claim("C4", "AAS beats RAR-D at equal points and steps (the paper's comparison): rel. L2 ratio",
          value=ratio("aas", "rar-d", "rel_l2"), threshold=1.0, direction="<", **GROWING,
          known_fail=("with the lab's histogram adversary (not the paper's KRnet flow), AAS's error "
                      "stays above RAR-D's on some seed at equal points and steps")),
]

"""Views of the invariant-PAC lab: the fraction of unseen interventions on which the learned
representation fails, against the number m of training interventions (median and quartiles
over repetitions, both learners, the realizable PAC bound and the reference m = s + 1); the
same curve with extra irrelevant nodes; the violation r_t of the selected learner's w over a
slice of intervention space with the training interventions; and the spread of c_t over the
test interventions for both learners and the causal predictor (c_t ≡ 1).

Both learners are fitted in every run and always drawn: the claim is about the worst case
(the adversary), and the IRM curve shows what a typical learner does at the same m.
"""

import warnings
from functools import partial

import numpy as np

from ..labs.invariant_pac import GRAPHS, LEARNERS
from ..labs.invariant_pac import run_label as _run_label
from .figure import default_figure
from .specs import Curves, Heatmap, Line, LivePlot

NAMES = {"adversarial": "adversarial", "irm": "IRMv1"}
M_LABEL = "training interventions m"
FAIL_LABEL = "fraction of test interventions failing"


def _median_iqr(fail: np.ndarray):
    """Median and quartiles over repetitions (the last axis), leaving out adversaries that missed
    their training constraints (NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (no feasible adversary)
        q1, med, q3 = np.nanquantile(fail, [0.25, 0.5, 0.75], axis=-1)
    return med, (q1, q3)


def _reference(frame) -> tuple[np.ndarray, np.ndarray]:
    """A vertical segment at m = s + 1, the affine count (shown, never asserted)."""
    return np.array([frame.sites + 1.0, frame.sites + 1.0]), np.array([0.0, 1.0])


def fail_vs_m(frame):
    """Median (quartile band) fraction of failing test interventions against m, both learners,
    base graph; the PAC bound (h = s + 1, δ = 0.1, clipped at 1) and the line m = s + 1."""
    ms = frame.ms.astype(float)
    xs, Y, labels, bands = [], [], [], []
    for li, learner in enumerate(LEARNERS):
        med, band = _median_iqr(frame.fail[0, li])
        xs.append(ms), Y.append(med), bands.append(band)
        labels.append(NAMES[learner] + (" (selected)" if learner == frame.learner else ""))
    xs.append(ms), Y.append(frame.pac), bands.append(None), labels.append("PAC bound (h = s + 1, δ = 0.1)")
    x_ref, y_ref = _reference(frame)
    xs.append(x_ref), Y.append(y_ref), bands.append(None), labels.append("m = s + 1")
    return Curves(None, Y, tuple(labels), M_LABEL, FAIL_LABEL, xs=xs, bands=bands, markers=False)


def extra_nodes(frame):
    """The selected learner's curve on the 8-covariate graph and with ``extra_nodes`` irrelevant
    covariates (median, quartile band): the transition should not move."""
    li = LEARNERS.index(frame.learner)
    ms = frame.ms.astype(float)
    Y, bands = [], []
    for g in range(len(GRAPHS)):
        med, band = _median_iqr(frame.fail[g, li])
        Y.append(med), bands.append(band)
    labels = ("d = 8", "d = 8 + extra nodes")
    return Curves(ms, np.stack(Y, 1), labels, M_LABEL, FAIL_LABEL, bands=bands, markers=True)


def extra_nodes_numeric(frame, numeric: bool = False):
    """:func:`extra_nodes`, with d named on paper."""
    spec = extra_nodes(frame)
    if not numeric:
        return spec
    labels = ("d = 8", f"d = {8 + frame.extra_nodes}")
    return Curves(spec.x, spec.Y, labels, spec.xlabel, spec.ylabel, bands=spec.bands, markers=True)


COLOUR_STEPS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # symmetric colour ranges of the violation map
CROSS = 0.03  # half-width of a training intervention's cross, as a fraction of the t range


def _crosses(x: np.ndarray, y: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """Small '+' marks at the points, as one NaN-separated polyline (a map's Points are dots too
    small to find on it)."""
    nan = np.full_like(x, np.nan)
    px = np.stack([x - half, x + half, nan, x, x, nan], 1).ravel()
    py = np.stack([y, y, nan, y - half, y + half, nan], 1).ravel()
    return px, py


def violation_map(frame):
    """r_t of the selected learner's w (repetition 0, m = train_envs, base graph) over t_1, t_2
    with the other sites at the first training intervention's values; crosses: the training
    interventions' (t_1, t_2). Small m: a zero line through the slice, violations elsewhere. The
    colour range is the smallest of COLOUR_STEPS that holds the map (r beyond ±1 is clipped)."""
    li = LEARNERS.index(frame.learner)
    grid = frame.heat_t
    step = (grid[-1] - grid[0]) / (len(grid) - 1)
    bounds = (grid[0] - step / 2, grid[0] - step / 2, grid[-1] + step / 2, grid[-1] + step / 2)
    heat = np.clip(frame.heat[li], -1.0, 1.0)
    top = float(np.nanmax(np.abs(heat))) if np.isfinite(heat).any() else 1.0
    scale = next((c for c in COLOUR_STEPS if top <= c), 1.0)
    cross = _crosses(frame.heat_train[:, 0], frame.heat_train[:, 1], CROSS * (grid[-1] - grid[0]))
    return Heatmap(heat, "r_t", bounds=bounds, kdims=("t₁ (site X3)", "t₂ (site X4)"),
                   overlays=(Line(*cross, "training interventions", "#000000"),), cmap="RdBu_r",
                   clim=(-scale, scale))


def c_spread(frame):
    """Quantile function of c_t = 1 + r_t over the test interventions (repetition 0, m =
    train_envs): both learners and the causal predictor, whose c_t is 1 everywhere."""
    labels = tuple(NAMES[learner] for learner in LEARNERS) + ("causal (OLS on X0..X2)",)
    return Curves(frame.c_quantiles, frame.c_sorted.T, labels, "quantile over test interventions",
                  "c_t (optimal rescaling)")


# Legends above the live plots (they would hide the curves near 1); the paper figure keeps them inside.
_ABOVE = {"legend_position": "top"}
_PAPER = {"legend_position": "best"}
PLOTS = {
    "Unseen interventions failing vs m": LivePlot(fail_vs_m, ("fail", "pac"), _ABOVE, export=_PAPER),
    "The same with extra irrelevant nodes": LivePlot(extra_nodes_numeric, ("fail",), _ABOVE, export=_PAPER),
    "Violation r_t over a slice of t": LivePlot(violation_map, ("heat", "heat_train")),
    "c_t over the test interventions": LivePlot(c_spread, ("c_sorted",), _ABOVE, export=_PAPER),
}


def run_label(params) -> str:
    return _run_label(params)


def summary(frame) -> str:
    """The status line: the headline metrics of the selected learner and the other's."""
    m = frame.metrics or {}
    if not m:
        return ""

    def transition(x):
        return "not within the sweep" if x is None else f"m* = {x}"

    def pct(x):
        return "—" if x is None else f"{x:.1%}"

    parts = [f"At m = {frame.m_chosen}: {NAMES[frame.learner]} fails on {pct(m['test_fail_fraction'])} "
             f"of unseen interventions (median)",
             f"transition {transition(m['transition_m'])} (d = 8), "
             f"{transition(m['transition_m_extra'])} (d = {8 + frame.extra_nodes})"]
    other = [learner for learner in LEARNERS if learner != frame.learner][0]
    om = m["by_method"][other]
    parts.append(f"{NAMES[other]}: {pct(om['test_fail_fraction'])}, {transition(om['transition_m'])}")
    parts.append(f"causal predictor max |r_t| = {m['causal_residual']:.1e}")
    if m["by_method"]["adversarial"]["infeasible_fraction"] > 0:
        parts.append(f"{m['by_method']['adversarial']['infeasible_fraction']:.0%} of adversaries missed "
                     "their training constraints (left out of the curves)")
    return "; ".join(parts) + "."


figure = partial(default_figure, PLOTS, cols=2, fig_inches=(9.5, 7), hspace=0.7)

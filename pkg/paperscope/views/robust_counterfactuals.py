"""Views of the robust-counterfactuals lab: the decision map of m with the changed models' 0.5
contours (the Rashomon set) and the queries' closest and T-Rex counterfactuals as arrows;
validity under the changed models against τ; cost against validity (the Pareto view, one point
per τ); the Stability of CFs that stayed valid and of those invalidated.

Validity and cost are computed among the CFs valid under m (the closest walk may stop short of
the boundary); the τ views come from one ascent, so the whole sweep redraws with every run.
"""

from functools import partial

import contourpy
import numpy as np

from ..labs.robust_counterfactuals import METHOD_LABELS, METHODS, mean_cost, retrained_validity
from .figure import default_figure
from .specs import Curves, Heatmap, Line, LivePlot, Points, Table
from .style import PALETTE

X1, X2 = "x₁ (standardized)", "x₂ (standardized)"
VALIDITY = "validity under changed models"
COST = "mean L2 cost ‖x′ − x‖"
CHANGED_COLOR, BOUNDARY_COLOR = "#555555", "#000000"
ARROW_COLORS = {"closest": PALETTE[0], "trex": PALETTE[1]}  # as in the curves (ORDER)
MAX_ARROWS = 40
HIST_BINS = np.linspace(-0.3, 1.0, 27)  # R̂ bins of 0.05


def _contours(grid: np.ndarray, z: np.ndarray, level: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The ``level`` contour of a map as one NaN-separated polyline ``(x, y)`` (empty when none)."""
    if z.size == 0 or not np.isfinite(z).all():
        return np.zeros(0), np.zeros(0)
    lines = contourpy.contour_generator(grid, grid, z).lines(level)
    if not lines:
        return np.zeros(0), np.zeros(0)
    joined = np.concatenate([np.vstack([line, [np.nan, np.nan]]) for line in lines])
    return joined[:, 0], joined[:, 1]


def _arrows(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments start → end, NaN-separated, as one polyline."""
    if len(start) == 0 or len(end) == 0:
        return np.zeros(0), np.zeros(0)
    gap = np.full_like(start, np.nan)
    path = np.stack([start, end, gap], 1).reshape(-1, 2)
    return path[:, 0], path[:, 1]


def decision_map(frame):
    """m(x) on the plane; grey lines: the changed models' boundaries; dashed: m's; arrows from
    each query to its closest CF and on to its T-Rex CF at the selected τ (the first
    MAX_ARROWS queries, so that the map stays readable; the metrics use all of them)."""
    grid = frame.grid
    step = (grid[-1] - grid[0]) / (len(grid) - 1)
    bounds = (grid[0] - step / 2, grid[0] - step / 2, grid[-1] + step / 2, grid[-1] + step / 2)
    changed = [_contours(grid, z) for z in frame.prob_changed]
    shown = slice(0, MAX_ARROWS)  # the first queries (in data order, a random draw)
    cx = np.concatenate([c[0] for c in changed] + [np.zeros(0)])
    cy = np.concatenate([c[1] for c in changed] + [np.zeros(0)])
    overlays = (
        Line(cx, cy, "changed models' boundaries", CHANGED_COLOR),
        Line(*_contours(grid, frame.prob), "m's boundary", BOUNDARY_COLOR, dashed=True),
        Points(frame.queries[shown, 0], frame.queries[shown, 1], "queries"),
        Line(*_arrows(frame.queries[shown], frame.closest[shown]), "→ closest CF", ARROW_COLORS["closest"]),
        Line(*_arrows(frame.closest[shown], frame.trex[shown]), "→ T-Rex CF", ARROW_COLORS["trex"]),
    )
    return Heatmap(frame.prob, "m(x)", bounds=bounds, kdims=(X1, X2), overlays=overlays,
                   cmap="RdBu", clim=(0.0, 1.0))


def _sweep(frame, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Validity under the changed models and cost at each τ of the sweep (the selected τ, the
    last entry of ``taus``, left out); NaN before the CFs are computed."""
    T = len(frame.taus) - 1
    if method not in frame.valid_m:
        return np.full(T, np.nan), np.full(T, np.nan)
    vm, vr, cfs = frame.valid_m[method], frame.valid_retrained[method], frame.cfs[method]
    validity = np.array([retrained_validity(vm[t], vr[t]) for t in range(T)])
    cost = np.array([mean_cost(cfs[t], frame.queries, vm[t]) for t in range(T)])
    return validity, cost


def _selected(frame, method: str) -> tuple[float, float]:
    """(cost, validity) of a method at the selected τ (NaN before the CFs are computed)."""
    if method not in frame.valid_m:
        return np.nan, np.nan
    vm = frame.valid_m[method][-1]
    return (mean_cost(frame.cfs[method][-1], frame.queries, vm),
            retrained_validity(vm, frame.valid_retrained[method][-1]))


ORDER = ("closest", "trex", "stce")  # the curves' order, hence their colours (the map's arrows match)


def validity_vs_tau(frame):
    """Validity under the changed models at each τ: T-Rex and STCE rise with τ; the closest CF
    does not depend on τ (a flat line); T-Rex at the selected τ marked."""
    taus = frame.taus[:-1]
    Y = [_sweep(frame, method)[0] for method in ORDER]
    xs = [taus] * len(ORDER) + [np.array([frame.threshold])]
    Y.append(np.array([_selected(frame, "trex")[1]]))
    labels = (*(METHOD_LABELS[m] for m in ORDER), "T-Rex at the selected τ")
    return Curves(None, Y, labels, "threshold τ", VALIDITY, markers=True, xs=xs)


def pareto(frame):
    """Cost against validity: one point per τ of the sweep for T-Rex and STCE, one point for the
    closest CF (τ plays no part in it), and T-Rex at the selected τ marked."""
    xs, Y = [], []
    for method in ORDER:
        validity, cost = _sweep(frame, method) if method != "closest" else _selected(frame, method)[::-1]
        xs.append(np.atleast_1d(cost))
        Y.append(np.atleast_1d(validity))
    cost, validity = _selected(frame, "trex")
    xs.append(np.array([cost]))
    Y.append(np.array([validity]))
    labels = (*(METHOD_LABELS[m] for m in ORDER), "T-Rex at the selected τ")
    return Curves(None, Y, labels, COST, VALIDITY, markers=True, xs=xs)


def stability_histogram(frame):
    """R̂ (fresh draws) of the closest and T-Rex CFs, each CF counted once per changed model:
    under the models that kept it valid and under those that invalidated it."""
    centres = (HIST_BINS[:-1] + HIST_BINS[1:]) / 2
    kept, lost = np.zeros(len(centres)), np.zeros(len(centres))
    R = len(frame.prob_changed)
    for method in ("closest", "trex"):
        if method not in frame.stability:
            continue
        ok = frame.valid_m[method][-1] > 0
        r, frac = frame.stability[method][ok], frame.valid_retrained[method][-1][ok]
        kept += np.histogram(r, HIST_BINS, weights=frac * R)[0]
        lost += np.histogram(r, HIST_BINS, weights=(1 - frac) * R)[0]
    return Curves(centres, np.stack([kept, lost], 1), ("valid after the change", "invalidated"),
                  "Stability R̂ of the CF (fresh draws)", "CF × changed-model pairs", markers=True)


_CURVES = {"legend_position": "bottom_right", "padding": 0.08}  # markers at the edges stay whole
PLOTS = {
    "Decision boundary and counterfactuals": LivePlot(
        decision_map, ("prob", "prob_changed", "queries", "closest", "trex"), {"legend_position": "top"},
        export={"legend_position": "top_left"}),
    "Validity under changed models vs τ": LivePlot(
        validity_vs_tau, ("valid_m", "valid_retrained", "cfs", "queries", "threshold"), _CURVES),
    "Cost vs validity (one point per τ)": LivePlot(
        pareto, ("valid_m", "valid_retrained", "cfs", "queries"), _CURVES),
    "Stability of kept and invalidated CFs": LivePlot(
        stability_histogram, ("stability", "valid_m", "valid_retrained", "prob_changed"),
        {"legend_position": "top_left"}),
}


def _pct(x) -> str:
    return "—" if x is None else f"{x:.0%}"


def _num(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def summary(frame) -> str:
    """The status line: each method's validity under the changed models and cost at τ."""
    m = frame.metrics or {}
    if not m:
        return ""
    parts = [f"{METHOD_LABELS[method]} {_pct(m[f'validity_retrained_{method}'])} valid "
             f"(cost {_num(m[f'cost_{method}'])})" for method in ("trex", "closest", "stce")]
    return (f"At τ = {frame.threshold:g}, under {len(frame.prob_changed)} changed models: "
            + "; ".join(parts) + ". Among CFs valid under m.")


def table(frame) -> Table | None:
    """Under the status line: every method at the selected τ."""
    by = (frame.metrics or {}).get("by_method")
    if not by:
        return None
    nan = float("nan")
    column = lambda key: [nan if by[m][key] is None else by[m][key] for m in METHODS]  # noqa: E731
    return Table({"method": [METHOD_LABELS[m] for m in METHODS], "valid under m": column("validity_m"),
                  "valid under changed models": column("validity_retrained"), "cost (L2)": column("cost"),
                  "mean R̂": column("stability")})


figure = partial(default_figure, PLOTS, cols=2, fig_inches=(10, 8))

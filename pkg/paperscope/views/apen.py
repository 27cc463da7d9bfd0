"""Views of the piecewise-equivariance lab: one scene before and after its piecewise motion,
coloured by the selected predictor's clusters (a 2-D x–y projection of the 3-D points: the
views vocabulary has no 3-D scatter), then the equivariance error, the violation probability and
the task error of every predictor against the radius.

Every predictor is computed on the same scenes in every run and always drawn: the claim is the
contrast between an invariant predictor (radius graph), non-invariant ones (voxel grid,
k-means) and the true parts (oracle). ``predictor`` picks the point clouds, the bound's curve
and the headline numbers. A vertical line marks the selected radius.
"""

from functools import partial

import numpy as np

from ..labs.apen import PREDICTORS
from .figure import default_figure
from .specs import Curves, LivePlot, Scatter, Table

NAMES = {"radius_graph": "radius graph", "voxel_grid": "voxel grid", "kmeans": "k-means (seeded)",
         "oracle": "oracle (true parts)"}
GOLDEN = 0.6180339887498949  # spreads consecutive cluster ids over the colour map
R_LABEL = "radius r"
EE_RANGE = (1e-34, 10.0)  # a fixed log range: float64 round-off (~1e-30) up to O(1) errors


def _cluster_colour(ids: np.ndarray) -> np.ndarray:
    """A colour value per point that tells neighbouring cluster ids apart (ids are numbered by
    first appearance, so equal partitions before and after the motion get equal colours)."""
    return (np.asarray(ids, dtype=float) * GOLDEN) % 1.0


def _cloud(points: str, clusters: str):
    def build(frame):
        xyz, ids = getattr(frame, points), getattr(frame, clusters)
        return Scatter(xyz[:, 0], xyz[:, 1], "x", "y", color=_cluster_colour(ids), color_label="predicted part")
    return build


def _selected_line(frame, Y, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """A vertical line at the selected radius, spanning the curves' values (positive ones on a
    log axis)."""
    Y = np.asarray(Y, dtype=float)
    finite = Y[np.isfinite(Y) & (Y > 0)] if log else Y[np.isfinite(Y)]
    low = float(finite.min()) if log and finite.size else 0.0
    high = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return np.array([frame.radius, frame.radius]), np.array([low, high])


def _sweep(field: str, ylabel: str, bound: bool = False, log: bool = False):
    """One curve per predictor against the radius (and, for the error, the lab's bound
    P(violation) · max_t EE_t of the selected predictor). On a log axis exact zeros are not
    drawn: the bound is 0 wherever no trial violates."""
    def build(frame):
        ys = [row for row in getattr(frame, field)]
        labels = [NAMES[name] for name in PREDICTORS]
        if bound:
            p = PREDICTORS.index(frame.predictor)
            ys.append(frame.p_violation[p] * frame.ee_max[p])
            labels.append(f"lab's bound P·max EE_t ({NAMES[frame.predictor]})")
        lx, ly = _selected_line(frame, np.array(ys), log)
        return Curves(None, [*ys, ly], (*labels, "selected r"), R_LABEL, ylabel, markers=True,
                      xs=[frame.radii] * len(ys) + [lx])
    return build


def per_trial(frame):
    """Every trial's EE_t for the selected predictor over the radii (log axis, exact zeros drawn
    at the axis floor), coloured by whether either predicted partition failed to be a
    sub-partition: with an invariant predictor the safe trials sit at float64 round-off."""
    p = PREDICTORS.index(frame.predictor)
    ee, violated = frame.ee_trials[p], frame.violated[p]  # (R, T)
    T = ee.shape[1]
    spread = np.exp(np.linspace(-0.12, 0.12, T)) if T > 1 else np.ones(1)  # side by side, not on top
    r = (frame.radii[:, None] * spread[None, :]).ravel()
    y = np.clip(ee, EE_RANGE[0] * 10, None).ravel()
    return Scatter(r, y, R_LABEL, f"EE_t, {NAMES[frame.predictor]}", color=violated.ravel(),
                   color_label="violated (1) or safe (0)")


_CLOUD = {"colorbar": False}  # colours only tell clusters apart: a colour bar would mean nothing
_TOP_LEFT = {"logx": True, "legend_position": "top_left"}
PLOTS = {
    "X, coloured by predicted part (x–y projection)": LivePlot(
        _cloud("X0", "clusters_X0"), ("X0", "clusters_X0"), _CLOUD),
    "g·X after the piecewise motion (x–y projection)": LivePlot(
        _cloud("gX0", "clusters_gX0"), ("gX0", "clusters_gX0"), _CLOUD),
    # log y: float64 round-off (~1e-30) where the partition is safe, O(1) where it is not
    "Equivariance error vs radius": LivePlot(
        _sweep("ee", "equivariance error EE", bound=True, log=True), ("ee", "p_violation", "ee_max"),
        {"logx": True, "logy": True, "ylim": EE_RANGE, "legend_position": "right"},
        export={"legend_position": "best"}),
    "P(predicted ⋢ true parts) vs radius": LivePlot(
        _sweep("p_violation", "P(not a sub-partition)"), ("p_violation",), _TOP_LEFT),
    "Task MSE vs radius": LivePlot(_sweep("task_mse", "MSE of the offset to the part centroid"),
                                   ("task_mse",), _TOP_LEFT),
    "Per-trial EE_t: safe vs violating trials": LivePlot(
        per_trial, ("ee_trials", "violated"), {"logx": True, "logy": True, "ylim": EE_RANGE}),
}


def _fmt(x: float) -> str:
    return f"{x:.2g}" if abs(x) >= 1e-12 else "0"


def summary(frame) -> str:
    """The status line: the selected predictor at the selected radius, and the radius graph's
    exactness where it is safe."""
    m = frame.metrics or {}
    if not m:
        return ""
    text = (f"{NAMES[frame.predictor]} at r = {frame.radius:g} ({m['trials']} scenes): equivariance error "
            f"{_fmt(m['equivariance_error'])}, P(not a sub-partition) {m['violation_probability']:.2f}, "
            f"bound P·max EE_t {_fmt(m['ee_bound'])}")
    if m["equivariance_error"] > m["ee_bound"] + 1e-20:
        text += " (above the bound: this predictor is not invariant, a sub-partition is not enough)"
    text += f", task MSE {_fmt(m['task_mse'])}"
    g = PREDICTORS.index("radius_graph")
    safe = frame.violated[g] == 0
    if safe.any():
        text += (f". Radius graph, over all radii: largest EE_t where both partitions are sub-partitions "
                 f"{np.nanmax(frame.ee_trials[g][safe]):.1e}")
    return text + "."


def table(frame) -> Table | None:
    """Under the status line: every predictor at the selected radius."""
    if not frame.metrics:
        return None
    by = frame.metrics["by_method"]
    return Table({
        "predictor": [NAMES[p] for p in PREDICTORS],
        "equivariance error": [by[p]["equivariance_error"] for p in PREDICTORS],
        "P(violation)": [by[p]["violation_probability"] for p in PREDICTORS],
        "bound P·max EE_t": [by[p]["ee_bound"] for p in PREDICTORS],
        "task MSE": [by[p]["task_mse"] for p in PREDICTORS],
    })


# The exported figure: the two point clouds, the error sweep; violations, task error, per trial.
figure = partial(default_figure, PLOTS, cols=3, fig_inches=(13, 7.5))

"""Views of the bandlimited-random-net lab: the error heat map over (frequency, weight bound)
with the marked cell, the lab's band edge and the best λ; the fit at the marked cell; the error
against λ at this frequency (with the target's energy outside the band, the lab's reading of the
paper's bound), against the width at this λ, and against the ridge ρ at this cell."""

from functools import partial

import numpy as np

from .figure import default_figure
from .specs import Curves, Heatmap, Line, LivePlot, Marker
from .style import FAINT

TINY = 1e-16  # errors and energies drawn no lower than this on log axes (an energy can be 0)
OUTSIDE_LABEL = "energy outside the band (lab's reading of the bound)"

LOG_FLOOR, LOG_CEIL = -12.0, 1.0  # log10 errors drawn within this range (fits can blow up)
X_NAME, Y_NAME = "log₂ k (target frequency)", "log₂ λ (weight bound)"
EDGE_COLOR, BEST_COLOR, CELL_COLOR = "white", "#D55E00", "#FF3B3B"


def _log_err(values) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.log10(np.asarray(values, dtype=float)), LOG_FLOOR, LOG_CEIL)


def _cell_bounds(centres_x: np.ndarray, centres_y: np.ndarray) -> tuple:
    """Image bounds putting each cell centred on its (log-spaced) grid value."""
    def edges(c):
        step = (c[-1] - c[0]) / max(1, len(c) - 1)
        return c[0] - step / 2, c[-1] + step / 2
    (left, right), (bottom, top) = edges(centres_x), edges(centres_y)
    return (left, bottom, right, top)


def error_map(frame):
    """log10 relative test error: rows λ (bottom-up, filled as they are computed), columns k."""
    lx, ly = np.log2(frame.freqs), np.log2(frame.bounds)
    left, bottom, right, top = bounds = _cell_bounds(lx, ly)
    # Band edge k = slope λ: a straight line in log-log, kept inside the map.
    edge_x = np.log2(np.maximum(frame.band_edge, 1e-300))
    inside = (edge_x >= left) & (edge_x <= right)
    edge = (np.where(inside, edge_x, np.nan), np.where(inside, ly, np.nan))
    best = np.log2(frame.best_bound)  # NaN until the grid is complete, and where nothing fits
    overlays = (Line(*edge, "band edge (lab's)", EDGE_COLOR, dashed=True),
                Line(lx, best, "best λ per k", BEST_COLOR),
                Marker(float(np.log2(frame.frequency)), float(np.log2(frame.weight_bound)), "this (k, λ)",
                       CELL_COLOR))
    return Heatmap(_log_err(frame.rel_error_grid), "log10 relative test error", bounds=bounds,
                   kdims=(X_NAME, Y_NAME), overlays=overlays)


def fit(frame):
    return Curves(frame.x_test, np.stack([frame.target, frame.fit], axis=1),
                  ("target sin(kπx)", "random net f_N"), "x", "f(x)", groups=(FAINT, "Fit"))


def error_vs_bound(frame):
    """The heat map's column at this k (all of λ), this run's λ, and the target's relative energy
    outside the band at each λ: a lower bound would keep it under the error curve."""
    return Curves(None, [np.maximum(frame.slice_error, TINY), [max(frame.rel_error, TINY)],
                         np.maximum(frame.out_of_band, TINY)],
                  ("grid of λ", "this λ", OUTSIDE_LABEL), "weight bound λ", "relative test error",
                  markers=True, xs=[frame.bounds, [frame.weight_bound], frame.bounds])


def error_vs_ridge(frame):
    """This cell refitted at every ridge ρ: the floor the error sits on moves with ρ, and so does
    the band (hence the energy outside it). The last line is ρ itself, for scale."""
    return Curves(None, [np.maximum(frame.ridge_error, TINY), [max(frame.rel_error, TINY)],
                         np.maximum(frame.ridge_out_of_band, TINY), frame.ridges],
                  ("this (k, λ)", "this ρ", OUTSIDE_LABEL, "ρ (for scale)"), "ridge ρ",
                  "relative test error", markers=True, xs=[frame.ridges, [frame.ridge], frame.ridges, frame.ridges])


def error_vs_width(frame, numeric=False):
    """On paper: the actual k values, and ticks at the widths swept."""
    labels = (tuple(f"k = {k:.3g}" for k in frame.width_freqs) if numeric else ("k/2", "k", "2k"))
    return Curves(frame.widths, np.maximum(frame.width_error, 1e-16), labels, "width N",
                  "relative test error", markers=True, xticks=tuple(int(w) for w in frame.widths) if numeric else None)


_LOG = {"logx": True, "logy": True}
PLOTS = {
    "Test error over (k, λ), log10": LivePlot(
        error_map, ("rel_error_grid", "best_bound"), {"legend_position": "top_left"}),
    "Fit at the marked cell": LivePlot(fit, ("fit", "target")),
    "Error against λ at this k": LivePlot(error_vs_bound, ("slice_error", "rel_error", "out_of_band"), _LOG),
    "Error against width N at this λ": LivePlot(error_vs_width, ("width_error",), _LOG),
    "Error against the ridge ρ at this (k, λ)": LivePlot(
        error_vs_ridge, ("ridge_error", "rel_error", "ridge_out_of_band"), _LOG),
}


def summary(frame) -> str:
    m = frame.metrics or {}
    if not m:
        return ""
    edge = "" if m["band_edge"] is None else (
        f"; band edge k ≈ {m['band_edge']:.3g} at this λ (energy outside it {m['out_of_band']:.2g})")
    return (f"λ = {frame.weight_bound:.3g}, k = {frame.frequency:.3g}, N = {frame.width}: relative "
            f"test error {m['rel_error']:.2g}; best λ on the grid {m['best_bound']:.3g} "
            f"(error {m['min_rel_error']:.2g}){edge}")


# The exported figure: the heat map, the fit, error against λ, against N and against ρ. The
# error panels have different ranges: no shared axes.
figure = partial(default_figure, PLOTS, cols=2, fig_inches=(10, 12), shared_axes=False)

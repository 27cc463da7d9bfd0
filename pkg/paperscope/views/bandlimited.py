"""Views of the bandlimited-random-net lab: the error heat map over (frequency, weight bound)
with the marked cell, the band edge and the best λ; the fit at the marked cell; the error
against λ at this frequency and against the width at this λ."""

import warnings
from dataclasses import dataclass

import holoviews as hv
import numpy as np

from .specs import XY, Curves, Heatmap, LivePlot
from .style import FAINT

LOG_FLOOR, LOG_CEIL = -12.0, 1.0  # log10 errors drawn within this range (fits can blow up)
X_NAME, Y_NAME = "log₂ k (target frequency)", "log₂ λ (weight bound)"
EDGE_COLOR, BEST_COLOR, CELL_COLOR = "white", "#D55E00", "#FF3B3B"


@dataclass(frozen=True)
class MarkedHeatmap:
    """A heat map with lines and one marked point over it (the spec protocol of
    ``views.specs``: ``signature``, ``glyphs()``, ``element()``), so the live app swaps its
    arrays in place. ``lines`` are (label, x, y, colour, dashed); ``marker`` is (label, x, y)."""

    background: Heatmap
    lines: tuple
    marker: tuple

    @property
    def signature(self) -> tuple:
        return ("marked-heatmap", self.background.signature, tuple(line[0] for line in self.lines),
                self.marker[0])

    def glyphs(self) -> list:
        xname, yname = self.background.kdims
        return [*self.background.glyphs(),
                *[XY(np.asarray(x, float), np.asarray(y, float), xname, yname) for _, x, y, _, _ in self.lines],
                XY(np.array([self.marker[1]], float), np.array([self.marker[2]], float), xname, yname)]

    def element(self) -> hv.Overlay:
        kdims = list(self.background.kdims)
        with warnings.catch_warnings():  # the first frame's map is all NaN (no rows yet)
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            layers = [self.background.element()]
        for label, x, y, color, dashed in self.lines:
            curve = hv.Curve((np.asarray(x, float), np.asarray(y, float)), kdims[0], kdims[1], label=label)
            layers.append(curve.opts(color=color, line_width=2.5, line_dash="dashed" if dashed else "solid",
                                     backend="bokeh")
                          .opts(color=color, linewidth=2, linestyle="--" if dashed else "-",
                                backend="matplotlib"))
        label, mx, my = self.marker
        point = hv.Scatter(([mx], [my]), kdims[0], kdims[1], label=label)
        layers.append(point.opts(marker="square", size=16, fill_alpha=0.0, line_color=CELL_COLOR,
                                 line_width=3, color=CELL_COLOR, backend="bokeh")
                      .opts(marker="s", s=140, facecolors="none", edgecolors=CELL_COLOR, linewidth=2,
                            backend="matplotlib"))
        return hv.Overlay(layers)


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
    background = Heatmap(_log_err(frame.rel_error_grid), "log10 relative test error", bounds=bounds,
                         kdims=(X_NAME, Y_NAME))
    # Band edge k = slope λ: a straight line in log-log, kept inside the map.
    edge_x = np.log2(np.maximum(frame.band_edge, 1e-300))
    inside = (edge_x >= left) & (edge_x <= right)
    edge = (np.where(inside, edge_x, np.nan), np.where(inside, ly, np.nan))
    best = np.log2(frame.best_bound)  # NaN until the grid is complete, and where nothing fits
    lines = (("band edge (heuristic)", *edge, EDGE_COLOR, True),
             ("best λ per k", lx, best, BEST_COLOR, False))
    cell = ("this (k, λ)", float(np.log2(frame.frequency)), float(np.log2(frame.weight_bound)))
    return MarkedHeatmap(background, lines, cell)


def fit(frame):
    return Curves(frame.x_test, np.stack([frame.target, frame.fit], axis=1),
                  ("target sin(kπx)", "random net f_N"), "x", "f(x)", groups=(FAINT, "Fit"))


def error_vs_bound(frame):
    """The heat map's column at this k (all of λ), and this run's λ."""
    return Curves(None, [np.maximum(frame.slice_error, 1e-16), [max(frame.rel_error, 1e-16)]],
                  ("grid of λ", "this λ"), "weight bound λ", "relative test error", markers=True,
                  xs=[frame.bounds, [frame.weight_bound]])


def error_vs_width(frame, numeric=False):
    labels = (tuple(f"k = {k:.3g}" for k in frame.width_freqs) if numeric else ("k/2", "k", "2k"))
    return Curves(frame.widths, np.maximum(frame.width_error, 1e-16), labels, "width N",
                  "relative test error", markers=True)


_LOG = {"logx": True, "logy": True}
PLOTS = {
    "Test error over (k, λ), log10": LivePlot(
        error_map, ("rel_error_grid", "best_bound"), {"legend_position": "top_left"}),
    "Fit at the marked cell": LivePlot(fit, ("fit", "target")),
    "Error against λ at this k": LivePlot(error_vs_bound, ("slice_error", "rel_error"), _LOG),
    "Error against width N at this λ": LivePlot(error_vs_width, ("width_error",), _LOG),
}


def summary(frame) -> str:
    m = frame.metrics or {}
    if not m:
        return ""
    edge = "" if m["band_edge"] is None else f"; band edge k ≈ {m['band_edge']:.3g} at this λ"
    return (f"λ = {frame.weight_bound:.3g}, k = {frame.frequency:.3g}, N = {frame.width}: relative "
            f"test error {m['rel_error']:.2g}; best λ on the grid {m['best_bound']:.3g} "
            f"(error {m['min_rel_error']:.2g}){edge}")


def _no_minor_labels(plot, element) -> None:
    """Matplotlib labels minor log ticks on short ranges; with ticks at the widths they collide."""
    from matplotlib.ticker import NullFormatter

    plot.handles["axis"].xaxis.set_minor_formatter(NullFormatter())


def figure(frame, previous=()) -> hv.Layout:
    """The exported figure: the heat map, the fit, error against λ and against N."""
    panels = []
    for title, plot in PLOTS.items():
        if plot.build is error_vs_width:  # the actual k values, and ticks at the widths swept
            ticks = [(int(w), str(int(w))) for w in frame.widths]
            panels.append(plot.draw(frame, title, numeric=True).opts(
                xticks=ticks, hooks=[_no_minor_labels], backend="matplotlib"))
        else:
            panels.append(plot.draw(frame, title))
    # The two error panels have different ranges: no shared axes.
    return hv.Layout(panels).cols(2).opts(
        hv.opts.Layout(fig_inches=(10, 8), sublabel_format="({alpha})", shared_axes=False),
        backend="matplotlib")

"""One look for every lab, in the browser (bokeh) and in exported figures (matplotlib)."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("MPLBACKEND", "Agg")  # exports are headless

import holoviews as hv  # noqa: E402
import holoviews.plotting.bokeh  # noqa: E402, F401  (registers the backend's options)
import holoviews.plotting.mpl  # noqa: E402, F401
import numpy as np  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"

PLOT_WIDTH, PLOT_HEIGHT = 430, 300  # browser pixels
FIG_SIZE = 110  # matplotlib percent


@dataclass(frozen=True)
class LivePlot:
    """One plot of a lab: ``build(frame)`` returns plain elements (no options: setting options
    per element costs more than the drawing), ``fields`` are the frame fields it reads (the app
    redraws it only when one changed), ``options`` apply once, to the live stream or the export.
    """

    build: Callable
    fields: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def draw(self, frame, title: str):
        """The finished plot for one frame (export, notebooks)."""
        return common(self.build(frame), title=title, **self.options)


def _defaults() -> None:
    hv.Store.set_current_backend("bokeh")  # also fills hv.opts' builders for both backends
    cycle = hv.Cycle(PALETTE)  # layer k of every overlay gets colour k, its markers too
    hv.opts.defaults(
        hv.opts.Curve(width=PLOT_WIDTH, height=PLOT_HEIGHT, line_width=2, tools=["hover"],
                      framewise=True, show_grid=True, color=cycle),
        hv.opts.Scatter(width=PLOT_WIDTH, height=PLOT_HEIGHT, size=8, tools=["hover"], framewise=True,
                        color=cycle),
        hv.opts.Overlay(width=PLOT_WIDTH, height=PLOT_HEIGHT, legend_position="top_right", framewise=True,
                        toolbar="above"),
        hv.opts.Image(width=PLOT_HEIGHT + 40, height=PLOT_HEIGHT, colorbar=True, cmap=SEQUENTIAL,
                      framewise=True, tools=["hover"]),
        backend="bokeh",
    )
    hv.opts.defaults(
        hv.opts.Curve(linewidth=1.8, fig_size=FIG_SIZE, show_grid=True, aspect=1.4, color=cycle),
        hv.opts.Scatter(s=30, fig_size=FIG_SIZE, aspect=1.4, color=cycle),
        hv.opts.Overlay(fig_size=FIG_SIZE, aspect=1.4, legend_position="best", fontsize={"legend": 7, "title": 10}),
        hv.opts.Image(colorbar=True, cmap=SEQUENTIAL, fig_size=FIG_SIZE, aspect="square"),
        hv.opts.Layout(fig_size=FIG_SIZE, sublabel_format="({alpha})", sublabel_position=(-0.25, 1.05),
                       vspace=0.4, hspace=0.45),
        backend="matplotlib",
    )


_defaults()


def common(obj, **options):
    """Apply options that mean the same in both backends (title, log axes, colour) to both."""
    return obj.opts(backend="bokeh", **options).opts(backend="matplotlib", **options)


def curves(x, Y, labels, *, xlabel: str, ylabel: str, markers=False, group: str = "Curve") -> hv.Overlay:
    """One curve per column of ``Y`` (shape (len(x), K)); layer k takes colour k."""
    x = np.asarray(x, dtype=float)
    Y = np.asarray(Y, dtype=float).reshape(len(x), -1)
    layers = []
    for k, label in enumerate(labels):
        layers.append(hv.Curve((x, Y[:, k]), xlabel, ylabel, label=label, group=group))
        if markers:
            layers.append(hv.Scatter((x, Y[:, k]), xlabel, ylabel, label=label))
    return hv.Overlay(layers)


def heatmap(matrix, *, label: str) -> hv.Image:
    """A matrix as an image with (row, column) indices on the axes, row 0 at the top."""
    matrix = np.asarray(matrix, dtype=float)
    n, m = matrix.shape
    return hv.Image(matrix[::-1], bounds=(0, 0, m, n), kdims=["column", "row"], vdims=[label])


def placeholder(title: str, message: str = "waiting for the first frame...") -> hv.Text:
    return common(hv.Text(0.5, 0.5, message), title=title, xaxis=None, yaxis=None)

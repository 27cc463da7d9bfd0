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

PLOT_WIDTH, PLOT_HEIGHT = 430, 300  # browser pixels
FIG_SIZE = 110  # matplotlib percent
FAINT = "Initial"  # curves in this group are drawn faint (e.g. a spectrum before training)


@dataclass(frozen=True)
class LivePlot:
    """One plot of a lab. ``build(frame)`` returns a :class:`Curves` or :class:`Heatmap` (plain
    arrays: the live app swaps them into glyphs already drawn, without building HoloViews
    elements per frame); ``fields`` are the frame fields it reads (the app redraws it only when
    one changed); ``options`` are HoloViews options valid in both backends.
    """

    build: Callable
    fields: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def draw(self, frame, title: str, **build_options):
        """The finished HoloViews plot for one frame (export, notebooks)."""
        return common(self.build(frame, **build_options).element(), title=title, **self.options)


@dataclass(frozen=True)
class Curves:
    """Curves sharing one x axis: column k of ``Y`` is layer k (colour k), optionally with
    markers, and with an optional group per layer (groups are styled apart, e.g. faint)."""

    x: np.ndarray  # (L,)
    Y: np.ndarray  # (L, K)
    labels: tuple[str, ...]
    xlabel: str
    ylabel: str
    markers: bool = False
    groups: tuple[str, ...] | None = None  # e.g. FAINT for reference curves

    @property
    def signature(self) -> tuple:
        """What fixes the drawn glyphs: frames with equal signatures update in place."""
        return ("curves", self.labels, self.groups, self.markers, self.xlabel, self.ylabel)

    def glyph_data(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(x, y) per glyph, in the order HoloViews draws them (curve, then its markers)."""
        x, Y = np.asarray(self.x, dtype=float), np.asarray(self.Y, dtype=float).reshape(len(self.x), -1)
        return [(x, Y[:, k]) for k in range(Y.shape[1]) for _ in range(2 if self.markers else 1)]

    def element(self) -> hv.Overlay:
        layers, data = [], self.glyph_data()[:: 2 if self.markers else 1]
        for k, (label, (x, y)) in enumerate(zip(self.labels, data)):
            group = self.groups[k] if self.groups else "Curve"
            layers.append(hv.Curve((x, y), self.xlabel, self.ylabel, label=label, group=group))
            if self.markers:
                layers.append(hv.Scatter((x, y), self.xlabel, self.ylabel, label=label))
        return hv.Overlay(layers)


@dataclass(frozen=True)
class Heatmap:
    """A matrix as an image with (row, column) indices on the axes, row 0 at the top."""

    matrix: np.ndarray  # (n, m)
    label: str

    @property
    def signature(self) -> tuple:
        return ("heatmap", self.label)

    def element(self) -> hv.Image:
        matrix = np.asarray(self.matrix, dtype=float)
        n, m = matrix.shape
        return hv.Image(matrix[::-1], bounds=(0, 0, m, n), kdims=["column", "row"], vdims=[self.label])


def apply_defaults() -> None:
    """The shared look, as HoloViews option defaults for both backends."""
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
        hv.opts.Curve(FAINT, alpha=0.45),
        backend="bokeh",
    )
    hv.opts.defaults(
        hv.opts.Curve(linewidth=1.8, fig_size=FIG_SIZE, show_grid=True, aspect=1.4, color=cycle),
        hv.opts.Scatter(s=30, fig_size=FIG_SIZE, aspect=1.4, color=cycle),
        hv.opts.Overlay(fig_size=FIG_SIZE, aspect=1.4, legend_position="best", fontsize={"legend": 7, "title": 10}),
        hv.opts.Image(colorbar=True, cmap=SEQUENTIAL, fig_size=FIG_SIZE, aspect="square"),
        hv.opts.Layout(fig_size=FIG_SIZE, sublabel_format="({alpha})", sublabel_position=(-0.25, 1.05),
                       vspace=0.4, hspace=0.45),
        hv.opts.Curve(FAINT, alpha=0.45),
        backend="matplotlib",
    )


apply_defaults()


def common(obj, **options):
    """Apply options that mean the same in both backends (title, log axes, colour) to both."""
    return obj.opts(backend="bokeh", **options).opts(backend="matplotlib", **options)


def placeholder(title: str, message: str = "waiting for the first frame...") -> hv.Text:
    return common(hv.Text(0.5, 0.5, message), title=title, xaxis=None, yaxis=None)

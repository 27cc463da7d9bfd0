"""One look for every lab, in the browser (bokeh) and in exported figures (matplotlib)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # exports are headless

import holoviews as hv  # noqa: E402
import holoviews.plotting.bokeh  # noqa: E402, F401  (registers the backend's options)
import holoviews.plotting.mpl  # noqa: E402, F401

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL = "viridis"

PLOT_WIDTH, PLOT_HEIGHT = 430, 300  # browser pixels
FIG_SIZE = 110  # matplotlib percent
FAINT = "Initial"  # curves in this group are drawn faint (e.g. a spectrum before training)
POINTS_COLOR = "#D55E00"


def apply_defaults() -> None:
    """The shared look, as HoloViews option defaults for both backends."""
    hv.Store.set_current_backend("bokeh")  # also fills hv.opts' builders for both backends
    # Live plots draw on a 2-D canvas, not WebGL (HoloViews' default): with at most a few
    # thousand points per glyph WebGL gains nothing, and every repaint copies each WebGL
    # glyph back to the page's canvas (a GPU read-back). In a browser without GPU
    # rasterisation (VMs, remote desktops, headless) that read-back was most of the page's CPU
    # per update (benchmarks/room_load.py).
    hv.renderer("bokeh").webgl = False
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
        hv.opts.Points(size=2, color=POINTS_COLOR, alpha=0.6),
        hv.opts.Bars(width=PLOT_WIDTH, height=PLOT_HEIGHT, color=PALETTE[0], tools=["hover"], framewise=True,
                     show_grid=True),
        hv.opts.Table(width=PLOT_WIDTH, height=PLOT_HEIGHT),
        hv.opts.Curve(FAINT, alpha=0.45),
        backend="bokeh",
    )
    hv.opts.defaults(
        hv.opts.Curve(linewidth=1.8, fig_size=FIG_SIZE, show_grid=True, aspect=1.4, color=cycle),
        hv.opts.Scatter(s=30, fig_size=FIG_SIZE, aspect=1.4, color=cycle),
        hv.opts.Overlay(fig_size=FIG_SIZE, aspect=1.4, legend_position="best", fontsize={"legend": 7, "title": 10}),
        hv.opts.Image(colorbar=True, cmap=SEQUENTIAL, fig_size=FIG_SIZE, aspect="square"),
        hv.opts.Points(s=2, color=POINTS_COLOR, alpha=0.6),
        hv.opts.Bars(fig_size=FIG_SIZE, aspect=1.4, color=PALETTE[0], show_grid=True),
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

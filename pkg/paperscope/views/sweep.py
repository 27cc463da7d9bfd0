"""The sweep figure: for each metric, mean ± standard error over seeds against the first swept
parameter, one line per combination of the others. Drawn in the labs' shared style and
written through the same export path as ``paperscope run --export``."""

from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd

from ..core.files import atomic_write
from .figure import figure_format, render_bytes
from .style import PALETTE

MAX_PANELS = 12
COLS = 3
MPL = {"backend": "matplotlib"}  # the figure is only ever exported (the style module leaves bokeh current)


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in values)


def figure(summary: pd.DataFrame, grid: dict, metrics: list[str], title: str = "") -> hv.Layout:
    """One panel per metric from :func:`paperscope.service.sweep.summarize`'s table.

    ``grid`` maps each swept parameter to its values (categories keep that order on the x axis).
    """
    names = list(grid)
    x = names[0] if names else None
    by = names[1:]
    xs = [v for v in grid[x] if v in set(summary[x])] if x else ["all"]
    numeric = x is not None and _numeric(xs)
    # Categories (strings, booleans) sit at 0, 1, 2... with their names as ticks.
    position = {v: (float(v) if numeric else i) for i, v in enumerate(xs)}
    logx = numeric and min(xs) > 0 and max(xs) / min(xs) >= 20  # e.g. learning rates by decade
    panels = []
    for i, metric in enumerate(metrics):
        rows = summary[summary["metric"] == metric]
        xdim = hv.Dimension("x", label=x or "configuration")
        ydim = hv.Dimension(f"y{i}", label=metric)  # one name per panel: no shared y axes
        groups = rows.groupby(by, sort=True, dropna=False) if by else [((), rows)]
        layers = []
        for j, (combo, g) in enumerate(groups):
            combo = combo if isinstance(combo, tuple) else (combo,)
            px = np.array([position[v] for v in (g[x] if x else ["all"] * len(g))], dtype=float)
            order = np.argsort(px)
            px, mean, sem = px[order], g["mean"].to_numpy(float)[order], g["sem"].to_numpy(float)[order]
            label = ", ".join(f"{n}={_text(v)}" for n, v in zip(by, combo))
            color = PALETTE[j % len(PALETTE)]
            layers.append(hv.Curve((px, mean), xdim, ydim, label=label).opts(color=color, marker="o", **MPL))
            layers.append(hv.ErrorBars((px, mean, sem), xdim, [ydim, f"e{i}"]).opts(
                color=color, edgecolor=color, capsize=3, **MPL))
        panel = hv.Overlay(layers).opts(title=metric, show_legend=bool(by), logx=logx, padding=0.08, **MPL)
        if not numeric:
            panel = panel.opts(xticks=[(position[v], _text(v)) for v in xs], **MPL)
        panels.append(panel)
    layout = hv.Layout(panels).cols(min(COLS, max(1, len(panels))))
    return layout.opts(title=title, **MPL) if title else layout


def write_figure(summary: pd.DataFrame, grid: dict, metrics: list[str], path, title: str = "",
                 record: dict | None = None) -> Path:
    """Render and write ``path`` (.pdf/.svg/.png), never leaving a half-written file; ``record``
    (the sweep's ``sweep.json``) goes into the figure's metadata."""
    fmt = figure_format(path)
    return atomic_write(path, render_bytes(figure(summary, grid, metrics, title), fmt, record))

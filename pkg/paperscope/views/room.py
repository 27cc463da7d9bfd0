"""The room's figure: every participant's finished run as one point (a parameter on x, a metric
on y, coloured by a third column), with the mean over the runs at each x drawn as a line, so a
class that ran a grid together sees the paper's curve appear."""

import holoviews as hv
import pandas as pd
from pandas.api.types import is_numeric_dtype

from . import style

PARTICIPANT = "participant"  # the table's column naming who ran each row
CATEGORY_LIMIT = 12  # a numeric colour column with at most this many values is drawn as categories


def figure(table: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "") -> hv.Element:
    """Points of ``table`` (one row per finished run); a placeholder while none has ``x`` and ``y``."""
    needed = [c for c in (x, y) if c not in table.columns]
    rows = table.dropna(subset=[x, y]) if not needed else table.iloc[:0]
    if rows.empty:
        return style.placeholder(title or "the room", "no finished run yet")
    rows = rows.copy()
    color = color if color in rows.columns and color not in (x, y) else None
    vdims = [y] + ([color] if color else []) + ([PARTICIPANT] if PARTICIPANT in rows.columns else [])
    if color and (not is_numeric_dtype(rows[color]) or rows[color].nunique() <= CATEGORY_LIMIT):
        rows[color] = rows[color].astype(str)  # categories: one palette colour each, with a legend
        colors = {"color": color, "cmap": style.PALETTE}
    elif color:
        colors = {"color": color, "cmap": style.SEQUENTIAL, "colorbar": True}
    else:
        colors = {"color": style.PALETTE[0]}
    points = _both(hv.Scatter(rows, x, vdims), **colors)  # the legend, if any: the colour's categories
    layers = [points]
    if is_numeric_dtype(rows[x]) and rows[x].duplicated().any():
        mean = rows.groupby(x, as_index=False)[y].mean().sort_values(x)
        layers.insert(0, _both(hv.Curve(mean, x, y), color="#555555"))
    n = len(rows)
    heading = title or f"{y} against {x}"
    title = f"{heading} ({n} run{'s' * (n != 1)}{'; line: their mean' if len(layers) > 1 else ''})"
    return _both(hv.Overlay(layers), padding=0.08, title=title, show_legend=bool(color))


def _both(element, **options):
    """Options for the browser (bokeh) and the exported figure (matplotlib) alike."""
    return element.opts(**options, backend="bokeh").opts(**options, backend="matplotlib")

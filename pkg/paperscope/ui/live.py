"""Live plots: drawn once by HoloViews, then updated in place by swapping their arrays.

Redrawing a HoloViews plot on every frame costs 15-40 ms of Python per plot (building
elements, options, ranges, Bokeh property machinery) and capped the app at ~5 redraws a second
on 2 cores shared with the computation. Here a view's spec (``views.specs``) is drawn by
HoloViews once; later frames only replace each glyph's columns and the browser fits the axes
(``DataRange1d``). A spec whose signature differs only in its legend's text (a label carrying a
value, such as ``m + 1 = 11``) is relabelled in place; any other new signature (another number
of curves, other axes) is drawn afresh.
"""

import holoviews as hv
import numpy as np
from bokeh.core.property.vectorization import Value
from bokeh.models import DataRange1d, DataTable, FactorRange, GlyphRenderer
from holoviews.core.util import dimension_sanitizer

from ..views import style
from ..views.glyphs import Columns, Raster

INLINE_MAX = 4096  # columns up to this length are sent as JSON lists, longer ones as binary


def _columns(glyph, names) -> dict:
    """New data for a glyph's source, under the column names HoloViews gave it."""
    if isinstance(glyph, Raster):
        left, bottom, right, top = glyph.bounds  # Bokeh images are stored bottom row first, as specs are
        return {"image": [glyph.matrix], "x": [left], "y": [bottom], "dw": [right - left],
                "dh": [top - bottom]}
    if isinstance(glyph, Columns):
        named = {alias: values for key, values in glyph.data.items() for alias in (key, dimension_sanitizer(key))}
        return {c: _inline(named[c]) for c in names if c in named}
    x_names = {glyph.xname, dimension_sanitizer(glyph.xname)}
    y_names = {glyph.yname, dimension_sanitizer(glyph.yname)}
    return {c: _inline(glyph.x if c in x_names else glyph.y) for c in names if c in x_names | y_names}


def _inline(column):
    """A short column as a list, so it travels inside the update's JSON. Bokeh sends every
    array as a binary buffer of its own (two websocket frames each): a frame of a lab touches
    dozens of short columns, and those frames were most of the server's socket writes."""
    return column.tolist() if isinstance(column, np.ndarray) and column.size <= INLINE_MAX else column


def _follow(mapper, values) -> None:
    """Stretch a colour mapper over the finite ``values`` (a colour bar follows the data)."""
    values = np.asarray(values, dtype=float)
    if mapper is None or not np.isfinite(values).any():
        return
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    mapper.update(low=low, high=high if high > low else low + 1e-12)


def _colour_mapper(renderer):
    """The mapper of a glyph coloured through a column (None for a plain colour)."""
    glyph = renderer.glyph
    color = getattr(glyph, "fill_color", None)
    return getattr(glyph, "color_mapper", None) or getattr(color, "transform", None)


class LiveFigure:
    """One Bokeh figure (or table) showing a stream of specs with the same signature."""

    def __init__(self, spec, title: str, options: dict):
        self.signature = spec.signature
        self.labels = tuple(getattr(spec, "labels", ()) or ())
        self.figure = hv.render(style.common(spec.element(), title=title, **options), backend="bokeh")
        table = self.figure.select_one({"type": DataTable})
        if table is not None:  # a table (under its title) has one source and no axes
            self.renderers, self.sources = [], [table.source]
        else:
            # The browser fits the axes to the data: no range bookkeeping per frame. Axes of
            # categories keep their factors (new categories give a new signature).
            for axis in ("x_range", "y_range"):
                if not isinstance(getattr(self.figure, axis), FactorRange):
                    setattr(self.figure, axis, DataRange1d(range_padding=0.05, only_visible=True))
            self.renderers = [r for r in self.figure.renderers if isinstance(r, GlyphRenderer)]
            self.sources = [r.data_source for r in self.renderers]
        self.names = [list(source.data) for source in self.sources]

    def update(self, spec) -> bool:
        """Show ``spec``'s data; False if it does not fit this figure (draw afresh)."""
        glyphs = spec.glyphs()
        if len(glyphs) != len(self.sources):
            return False
        if spec.signature != self.signature and not self._relabel(spec):
            return False
        for source, names, glyph in zip(self.sources, self.names, glyphs):
            source.data = _columns(glyph, names)
        for renderer, glyph in zip(self.renderers, glyphs):  # colour scales follow the data
            if isinstance(glyph, Raster) and glyph.clim is None:
                _follow(renderer.glyph.color_mapper, glyph.matrix)
            elif isinstance(glyph, Columns) and glyph.color is not None:
                _follow(_colour_mapper(renderer), glyph.data[glyph.color])
        return True

    def _relabel(self, spec) -> bool:
        """Give the legend ``spec``'s labels in place when they are all that changed (a redraw
        from scratch costs ~0.1 s of Python and a new figure in the browser); False otherwise."""
        new = tuple(getattr(spec, "labels", ()) or ())
        old_sig, new_sig = self.signature, spec.signature
        if (len(new) != len(self.labels) or len(set(self.labels)) != len(self.labels) or len(old_sig) != len(new_sig)
                or old_sig[1:2] != (self.labels,) or new_sig[1:2] != (new,)
                or old_sig[:1] + old_sig[2:] != new_sig[:1] + new_sig[2:]):
            return False
        items = {item.label.value: item for legend in self.figure.legend for item in legend.items
                 if isinstance(item.label, Value)}
        if not all(label in items for label, label_new in zip(self.labels, new) if label != label_new):
            return False  # a layer without a legend entry changed its name: not ours to patch
        for label, label_new in zip(self.labels, new):
            if label != label_new:
                items[label].label = Value(label_new)
        self.signature, self.labels = new_sig, new
        return True


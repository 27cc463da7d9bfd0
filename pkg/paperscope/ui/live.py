"""Live plots: drawn once by HoloViews, then updated in place by swapping their arrays.

Redrawing a HoloViews plot on every frame costs 15-40 ms of Python per plot (building
elements, options, ranges, Bokeh property machinery) and capped the app at ~5 redraws a second
on 2 cores shared with the computation. Here a view's spec (``views.specs``) is drawn by
HoloViews once; later frames only replace each glyph's columns and the browser fits the axes
(``DataRange1d``). A spec with another signature (other labels, another number of curves) is
drawn afresh.
"""

import holoviews as hv
import numpy as np
from bokeh.models import DataRange1d, GlyphRenderer
from holoviews.core.util import dimension_sanitizer

from ..views import style
from ..views.specs import Raster

INLINE_MAX = 4096  # columns up to this length are sent as JSON lists, longer ones as binary


def _columns(glyph, names) -> dict:
    """New data for a glyph's source, under the column names HoloViews gave it."""
    if isinstance(glyph, Raster):
        left, bottom, right, top = glyph.bounds  # Bokeh images are stored bottom row first, as specs are
        return {"image": [glyph.matrix], "x": [left], "y": [bottom], "dw": [right - left],
                "dh": [top - bottom]}
    x_names = {glyph.xname, dimension_sanitizer(glyph.xname)}
    y_names = {glyph.yname, dimension_sanitizer(glyph.yname)}
    return {c: _inline(glyph.x if c in x_names else glyph.y) for c in names if c in x_names | y_names}


def _inline(column):
    """A short column as a list, so it travels inside the update's JSON. Bokeh sends every
    array as a binary buffer of its own (two websocket frames each): a frame of a lab touches
    dozens of short columns, and those frames were most of the server's socket writes."""
    return column.tolist() if isinstance(column, np.ndarray) and column.size <= INLINE_MAX else column


class LiveFigure:
    """One Bokeh figure showing a stream of specs with the same signature."""

    def __init__(self, spec, title: str, options: dict):
        self.signature = spec.signature
        self.figure = hv.render(style.common(spec.element(), title=title, **options), backend="bokeh")
        # The browser fits the axes to the data: no range bookkeeping per frame.
        for axis in ("x_range", "y_range"):
            setattr(self.figure, axis, DataRange1d(range_padding=0.05, only_visible=True))
        self.renderers = [r for r in self.figure.renderers if isinstance(r, GlyphRenderer)]
        self.names = [list(r.data_source.data) for r in self.renderers]

    def update(self, spec) -> bool:
        """Show ``spec``'s data; False if it does not fit this figure (draw afresh)."""
        glyphs = spec.glyphs()
        if spec.signature != self.signature or len(glyphs) != len(self.renderers):
            return False
        for renderer, names, glyph in zip(self.renderers, self.names, glyphs):
            renderer.data_source.data = _columns(glyph, names)
            if isinstance(glyph, Raster) and np.isfinite(glyph.matrix).any():  # the colour scale follows
                low, high = float(np.nanmin(glyph.matrix)), float(np.nanmax(glyph.matrix))
                renderer.glyph.color_mapper.update(low=low, high=high if high > low else low + 1e-12)
        return True


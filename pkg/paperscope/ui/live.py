"""Live plots: drawn once by HoloViews, then updated in place by swapping their arrays.

Redrawing a HoloViews plot on every frame costs 15-40 ms of Python per plot (building
elements, options, ranges, Bokeh property machinery) and capped the app at ~5 redraws a second
on 2 cores shared with the computation. Here a view's plain-array spec (``views.style.Curves``
or ``Heatmap``) is drawn by HoloViews once; later frames only replace each glyph's columns and
the browser fits the axes (``DataRange1d``). A spec with another signature (other labels,
another number of curves) is drawn afresh.
"""

import holoviews as hv
from bokeh.models import DataRange1d, GlyphRenderer
from holoviews.core.util import dimension_sanitizer

from ..views import style
from ..views.style import Curves, Heatmap


def _placeholder(title: str):
    return hv.render(style.placeholder(title), backend="bokeh")


class LiveFigure:
    """One Bokeh figure showing a stream of specs with the same signature."""

    def __init__(self, spec: Curves | Heatmap, title: str, options: dict):
        self.signature = spec.signature
        self.figure = hv.render(style.common(spec.element(), title=title, **options), backend="bokeh")
        # The browser fits the axes to the data: no range bookkeeping on the server per frame.
        for axis in ("x_range", "y_range"):
            setattr(self.figure, axis, DataRange1d(range_padding=0.05, only_visible=True))
        self.renderers = [r for r in self.figure.renderers if isinstance(r, GlyphRenderer)]
        if isinstance(spec, Curves):
            x_names = {spec.xlabel, dimension_sanitizer(spec.xlabel)}
            self.x_columns = [[c for c in r.data_source.data if c in x_names] for r in self.renderers]
            self.y_columns = [[c for c in r.data_source.data if c not in x_names] for r in self.renderers]

    def update(self, spec: Curves | Heatmap) -> bool:
        """Show ``spec``'s data; False if it does not fit this figure (draw afresh)."""
        if spec.signature != self.signature:
            return False
        if isinstance(spec, Heatmap):
            n, m = spec.matrix.shape  # Bokeh images are stored bottom row first
            self.renderers[0].data_source.data = {"image": [spec.matrix[::-1]], "x": [0], "y": [0],
                                                  "dw": [m], "dh": [n]}
            return True
        glyphs = spec.glyph_data()
        if len(glyphs) != len(self.renderers):
            return False
        for renderer, xs, ys, (x, y) in zip(self.renderers, self.x_columns, self.y_columns, glyphs):
            renderer.data_source.data = {**{c: x for c in xs}, **{c: y for c in ys}}
        return True

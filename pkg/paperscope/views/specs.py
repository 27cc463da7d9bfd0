"""What a view hands the screen: plain arrays (specs), turned into HoloViews elements on demand.

The vocabulary is closed: labs compose these specs and never subclass them.

- :class:`Curves`: lines (optionally with markers), shaded bands and error bars per curve;
- :class:`Bars`: one value per category;
- :class:`Scatter`: points whose marker size and colour carry two more values;
- :class:`Heatmap` with overlays (:class:`Points`, :class:`Line`, :class:`Marker`) and
  :class:`ImageGrid` (in ``views.maps``);
- :class:`Table`: a small table of labelled values.

The live app draws a spec once through HoloViews, then on later frames only swaps each glyph's
arrays (``ui.live``); exports and notebooks call ``element()``. A spec's ``signature`` names
what fixes the drawn glyphs: frames with equal signatures update in place.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import holoviews as hv
import numpy as np
from holoviews import dim

from .glyphs import XY, Columns, Raster, polygon
from .maps import Heatmap, ImageGrid, Line, Marker, Points, tile
from .style import PALETTE, SEQUENTIAL, common

__all__ = ["XY", "Raster", "Columns", "LivePlot", "Curves", "Bars", "Scatter", "Table", "Heatmap",
           "ImageGrid", "Points", "Line", "Marker", "tile"]

BAND_ALPHA = 0.2
ERROR_ALPHA = 0.6


@dataclass(frozen=True)
class LivePlot:
    """One plot of a lab. ``build(frame)`` returns a spec; ``fields`` are the frame fields it
    reads (the app redraws it only when one changed); ``options`` are HoloViews options valid
    in both backends; ``export`` are matplotlib options of the exported panel only (they win
    over ``options`` there). With ``compare=True`` the builder also receives ``previous``:
    finished runs to overlay. A builder that takes ``numeric`` is called with
    ``numeric=True`` for the exported figure (labels may then name values that change between
    runs, which live plots avoid so that they update in place).
    """

    build: Callable
    fields: tuple[str, ...]
    options: dict = field(default_factory=dict)
    compare: bool = False
    export: dict = field(default_factory=dict)

    def spec(self, frame, previous=(), **build_options):
        extra = {"previous": previous} if self.compare else {}
        return self.build(frame, **extra, **build_options)

    def draw(self, frame, title: str, previous=(), **build_options):
        """The finished HoloViews plot for one frame (export, notebooks)."""
        return common(self.spec(frame, previous, **build_options).element(), title=title, **self.options)

    def exported(self, frame, title: str, previous=()):
        """The plot as a panel of the exported figure."""
        numeric = {"numeric": True} if "numeric" in inspect.signature(self.build).parameters else {}
        panel = self.draw(frame, title, previous, **numeric)
        return panel.opts(backend="matplotlib", **self.export) if self.export else panel


def _floats(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _mask(per_layer) -> tuple[bool, ...] | None:
    return None if per_layer is None else tuple(item is not None for item in per_layer)


@dataclass(frozen=True)
class Curves:
    """Curves, column k of ``Y`` is layer k (colour k), optionally with markers and a group per
    layer (groups are styled apart, e.g. ``style.FAINT``). ``x`` is shared, or one array per
    layer (``xs``) when the layers have different lengths (e.g. earlier runs).

    ``bands`` (per layer a ``(low, high)`` pair or None) shade an area in the layer's colour
    (min/max over seeds, ± sd); ``errors`` (per layer an array or None) draw ± error bars, each
    layer's bars moved sideways by ``dodge`` x-steps per layer so that they do not overlap.
    ``xticks`` puts the x ticks at these values (and hides minor tick labels on paper).
    """

    x: np.ndarray | None  # (L,) shared by all layers, or None with xs
    Y: np.ndarray | list  # (L, K), or a list of K arrays with xs
    labels: tuple[str, ...]
    xlabel: str
    ylabel: str
    markers: bool = False
    groups: tuple[str, ...] | None = None
    xs: list | None = None  # per-layer x arrays
    bands: list | None = None  # per layer (low, high) or None
    errors: list | None = None  # per layer ± error or None
    dodge: float = 0.0
    xticks: tuple | None = None

    @property
    def signature(self) -> tuple:
        return ("curves", tuple(self.labels), self.groups, self.markers, self.xlabel, self.ylabel,
                _mask(self.bands), _mask(self.errors), self.xticks)

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.xs is not None:
            return [(_floats(x), _floats(y)) for x, y in zip(self.xs, self.Y)]
        x = _floats(self.x)
        Y = _floats(self.Y).reshape(len(x), len(self.labels))  # also when empty
        return [(x, Y[:, k]) for k in range(Y.shape[1])]

    def _colours(self) -> list[str]:
        """Each layer's colour as the shared cycle gives it: HoloViews counts layers per group."""
        seen: dict[str, int] = {}
        colours = []
        for k in range(len(self.labels)):
            group = self.groups[k] if self.groups else "Curve"
            colours.append(PALETTE[seen.get(group, 0) % len(PALETTE)])
            seen[group] = seen.get(group, 0) + 1
        return colours

    def _bands(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(layer, x, low, high) of every band."""
        if self.bands is None:
            return []
        return [(k, x, _floats(b[0]), _floats(b[1]))
                for k, ((x, _), b) in enumerate(zip(self._layers(), self.bands)) if b is not None]

    def _error_bars(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(layer, x, low end, high end) of every layer's error bars, dodged sideways."""
        if self.errors is None:
            return []
        which = [k for k, e in enumerate(self.errors) if e is not None]
        out = []
        for i, k in enumerate(which):
            x, y = self._layers()[k]
            step = float(x[1] - x[0]) if len(x) > 1 else 1.0
            shift = step * self.dodge * (i - (len(which) - 1) / 2)
            err = _floats(self.errors[k])
            out.append((k, x + shift, y - err, y + err))
        return out

    @staticmethod
    def _end(name: str) -> str:
        """The dimension of the bars' other ends: named after the plot's own axis, as a shared
        name would link the axes of every panel with error bars in an exported layout."""
        return f"{name} (bar end)"

    def glyphs(self) -> list:
        """In the order HoloViews draws them: bands, then each curve (and its markers), then
        the error bars."""
        repeat = 2 if self.markers else 1
        bands = [Columns(dict(zip(("x", "y"), polygon(x, low, high)))) for _, x, low, high in self._bands()]
        curves = [XY(x, y, self.xlabel, self.ylabel) for x, y in self._layers() for _ in range(repeat)]
        bars = [Columns({self.xlabel: x, self.ylabel: low, self._end(self.xlabel): x, self._end(self.ylabel): high})
                for _, x, low, high in self._error_bars()]
        return [*bands, *curves, *bars]

    def element(self) -> hv.Overlay:
        colours = self._colours()
        layers = []
        for k, x, low, high in self._bands():  # under the curves, and no legend entry of their own
            area = hv.Area((x, low, high), self.xlabel, [self.ylabel, "y2"])
            layers.append(common(area, color=colours[k], alpha=BAND_ALPHA))
        for k, (label, (x, y)) in enumerate(zip(self.labels, self._layers())):
            group = self.groups[k] if self.groups else "Curve"
            layers.append(hv.Curve((x, y), self.xlabel, self.ylabel, label=label, group=group))
            if self.markers:
                layers.append(hv.Scatter((x, y), self.xlabel, self.ylabel, label=label))
        for k, x, low, high in self._error_bars():
            # Segments, not hv.ErrorBars: Bokeh draws those as an annotation that the live
            # plot's auto-ranging ignores, so bar ends could fall outside the axes.
            bars = hv.Segments((x, low, x, high), [self.xlabel, self.ylabel, self._end(self.xlabel),
                                                   self._end(self.ylabel)])
            layers.append(common(bars, color=colours[k], alpha=ERROR_ALPHA)
                          .opts(line_width=2, backend="bokeh").opts(linewidth=1.5, backend="matplotlib"))
        overlay = hv.Overlay(layers)
        if self.xticks is not None:
            ticks = [(float(t), f"{t:g}") for t in self.xticks]
            overlay = overlay.opts(xticks=ticks, backend="bokeh").opts(
                xticks=ticks, hooks=[_no_minor_labels], backend="matplotlib")
        return overlay


def _no_minor_labels(plot, element) -> None:
    """Matplotlib labels minor log ticks on short ranges; next to explicit ticks they collide."""
    from matplotlib.ticker import NullFormatter

    plot.handles["axis"].xaxis.set_minor_formatter(NullFormatter())


@dataclass(frozen=True)
class Bars:
    """One bar per category (e.g. a final metric per method), in the first colour."""

    categories: tuple[str, ...]
    values: np.ndarray  # (C,)
    xlabel: str
    ylabel: str

    @property
    def signature(self) -> tuple:
        # the categories fix the axis (a Bokeh FactorRange), so new ones are drawn afresh
        return ("bars", tuple(self.categories), self.xlabel, self.ylabel)

    def glyphs(self) -> list[Columns]:
        return [Columns({self.xlabel: list(self.categories), self.ylabel: _floats(self.values)})]

    def element(self) -> hv.Bars:
        return hv.Bars((list(self.categories), _floats(self.values)), self.xlabel, self.ylabel)


@dataclass(frozen=True)
class Scatter:
    """Points at (x, y) whose marker size and colour show two more values: ``size`` is mapped
    linearly onto marker diameters ``sizes`` (browser pixels, smallest to largest value),
    ``color`` onto the shared sequential colour map with a colour bar."""

    x: np.ndarray
    y: np.ndarray
    xlabel: str
    ylabel: str
    size: np.ndarray | None = None
    size_label: str = "size"
    color: np.ndarray | None = None
    color_label: str = "value"
    sizes: tuple[float, float] = (4.0, 16.0)

    @property
    def signature(self) -> tuple:
        return ("scatter", self.xlabel, self.ylabel, self.size is None or self.size_label,
                self.color is None or self.color_label)

    def _diameters(self) -> np.ndarray:
        s = _floats(self.size)
        low, high = (np.nanmin(s), np.nanmax(s)) if np.isfinite(s).any() else (0.0, 0.0)
        unit = (s - low) / (high - low) if high > low else np.zeros_like(s)
        return self.sizes[0] + (self.sizes[1] - self.sizes[0]) * unit

    def _columns(self) -> dict:
        data = {self.xlabel: _floats(self.x), self.ylabel: _floats(self.y)}
        if self.size is not None:
            data[self.size_label] = _floats(self.size)
            data["diameter"] = self._diameters()  # a column of its own: both backends draw these sizes
        if self.color is not None:
            data[self.color_label] = _floats(self.color)
        return data

    def glyphs(self) -> list[Columns]:
        data = self._columns()
        if self.size is not None:  # the columns HoloViews adds for mapped sizes and colours
            data["size"] = data["diameter"]
        if self.color is not None:
            data["color"] = data[self.color_label]
        return [Columns(data, color="color" if self.color is not None else None)]

    def element(self) -> hv.Scatter:
        data = self._columns()
        points = hv.Scatter(data, self.xlabel, list(data)[1:])
        if self.size is not None:
            points = points.opts(size=dim("diameter"), backend="bokeh").opts(s=dim("diameter") ** 2,
                                                                             backend="matplotlib")
        if self.color is not None:
            points = common(points, color=dim(self.color_label), cmap=SEQUENTIAL, colorbar=True)
        return points


@dataclass(frozen=True)
class Table:
    """A small table (e.g. headline numbers per method): ``columns`` maps a header to its values."""

    columns: dict

    @property
    def signature(self) -> tuple:
        return ("table", tuple(self.columns))

    def glyphs(self) -> list[Columns]:
        return [Columns({name: list(values) for name, values in self.columns.items()})]

    def element(self) -> hv.Table:
        names = list(self.columns)
        return hv.Table({n: list(v) for n, v in self.columns.items()}, names[:1], names[1:])

    def html(self) -> str:
        """The table as HTML for a status area (the app's and the notebook's), numbers to three
        significant digits."""
        import pandas as pd

        return pd.DataFrame(self.columns).to_html(index=False, float_format="{:.3g}".format, border=0,
                                                  classes="paperscope-table", na_rep="–")


def status_table(views, frame) -> Table | None:
    """The lab's headline table for the status area: its views' ``table(frame)``, if any."""
    table = getattr(views, "table", None)
    return table(frame) if table is not None and frame is not None else None


"""What a view hands the screen: plain arrays (specs), turned into HoloViews elements on demand.

The live app draws a spec once through HoloViews, then on later frames only swaps each glyph's
arrays (``ui.live``); exports and notebooks call ``element()``. A spec's ``signature`` names
what fixes the drawn glyphs: frames with equal signatures update in place.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import holoviews as hv
import numpy as np

from .style import common


@dataclass(frozen=True)
class XY:
    """Arrays of one line or marker glyph, with the dimension names HoloViews gave its columns."""

    x: np.ndarray
    y: np.ndarray
    xname: str
    yname: str


@dataclass(frozen=True)
class Raster:
    """The array of one image glyph over ``bounds`` = (left, bottom, right, top)."""

    matrix: np.ndarray  # (rows, columns), row 0 at the bottom
    bounds: tuple


@dataclass(frozen=True)
class LivePlot:
    """One plot of a lab. ``build(frame)`` returns a spec (:class:`Curves`, :class:`Heatmap`,
    :class:`PointsOver`); ``fields`` are the frame fields it reads (the app redraws it only
    when one changed); ``options`` are HoloViews options valid in both backends. With
    ``compare=True`` the builder also receives ``previous``: finished runs to overlay.
    """

    build: Callable
    fields: tuple[str, ...]
    options: dict = field(default_factory=dict)
    compare: bool = False

    def spec(self, frame, previous=(), **build_options):
        extra = {"previous": previous} if self.compare else {}
        return self.build(frame, **extra, **build_options)

    def draw(self, frame, title: str, previous=(), **build_options):
        """The finished HoloViews plot for one frame (export, notebooks)."""
        return common(self.spec(frame, previous, **build_options).element(), title=title, **self.options)


@dataclass(frozen=True)
class Curves:
    """Curves, column k of ``Y`` is layer k (colour k), optionally with markers and a group per
    layer (groups are styled apart, e.g. ``style.FAINT``). ``x`` is shared, or one array per
    layer (``xs``) when the layers have different lengths (e.g. earlier runs)."""

    x: np.ndarray | None  # (L,) shared by all layers, or None with xs
    Y: np.ndarray | list  # (L, K), or a list of K arrays with xs
    labels: tuple[str, ...]
    xlabel: str
    ylabel: str
    markers: bool = False
    groups: tuple[str, ...] | None = None
    xs: list | None = None  # per-layer x arrays

    @property
    def signature(self) -> tuple:
        return ("curves", tuple(self.labels), self.groups, self.markers, self.xlabel, self.ylabel)

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.xs is not None:
            return [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in zip(self.xs, self.Y)]
        x = np.asarray(self.x, dtype=float)
        Y = np.asarray(self.Y, dtype=float).reshape(len(x), len(self.labels))  # also when empty
        return [(x, Y[:, k]) for k in range(Y.shape[1])]

    def glyphs(self) -> list[XY]:
        """One glyph per curve, plus one per marker layer, in the order HoloViews draws them."""
        repeat = 2 if self.markers else 1
        return [XY(x, y, self.xlabel, self.ylabel) for x, y in self._layers() for _ in range(repeat)]

    def element(self) -> hv.Overlay:
        layers = []
        for k, (label, (x, y)) in enumerate(zip(self.labels, self._layers())):
            group = self.groups[k] if self.groups else "Curve"
            layers.append(hv.Curve((x, y), self.xlabel, self.ylabel, label=label, group=group))
            if self.markers:
                layers.append(hv.Scatter((x, y), self.xlabel, self.ylabel, label=label))
        return hv.Overlay(layers)


@dataclass(frozen=True)
class Heatmap:
    """A matrix as an image: ``matrix[i, j]`` at height i, column j (row 0 at the bottom, as
    for a map sampled on a grid); over index space unless ``bounds`` are given."""

    matrix: np.ndarray  # (n, m)
    label: str
    bounds: tuple | None = None  # (left, bottom, right, top)
    kdims: tuple[str, str] = ("column", "row")

    @property
    def signature(self) -> tuple:
        return ("heatmap", self.label, self.kdims)

    def _bounds(self) -> tuple:
        n, m = np.shape(self.matrix)
        return self.bounds if self.bounds is not None else (0, 0, m, n)

    def glyphs(self) -> list[Raster]:
        return [Raster(np.asarray(self.matrix, dtype=float), self._bounds())]

    def element(self) -> hv.Image:
        # HoloViews takes image arrays top row first
        return hv.Image(np.asarray(self.matrix, dtype=float)[::-1], bounds=self._bounds(),
                        kdims=list(self.kdims), vdims=[self.label])


@dataclass(frozen=True)
class PointsOver:
    """A point cloud (e.g. collocation points) over a heat map of the same plane."""

    background: Heatmap
    x: np.ndarray
    y: np.ndarray

    @property
    def signature(self) -> tuple:
        return ("points-over", self.background.signature)

    def glyphs(self) -> list:
        xname, yname = self.background.kdims
        return [*self.background.glyphs(), XY(np.asarray(self.x), np.asarray(self.y), xname, yname)]

    def element(self) -> hv.Overlay:
        points = hv.Points((np.asarray(self.x), np.asarray(self.y)), list(self.background.kdims))
        return self.background.element() * points

"""Specs over a plane: a heat map with overlays (points, lines, a marked cell) and a grid of
small images (e.g. an interpolation filmstrip). The protocol is that of ``views.specs``."""

import warnings
from dataclasses import dataclass

import holoviews as hv
import numpy as np

from .glyphs import XY, Raster


@dataclass(frozen=True)
class Points:
    """A point cloud over a map (e.g. collocation points), in the shared points style."""

    x: np.ndarray
    y: np.ndarray
    label: str = ""

    def layer(self, kdims: list) -> hv.Points:
        return hv.Points((np.asarray(self.x, float), np.asarray(self.y, float)), kdims, label=self.label)


@dataclass(frozen=True)
class Line:
    """A line over a map (a contour, a band edge); NaN breaks it."""

    x: np.ndarray
    y: np.ndarray
    label: str
    color: str
    dashed: bool = False

    def layer(self, kdims: list) -> hv.Curve:
        curve = hv.Curve((np.asarray(self.x, float), np.asarray(self.y, float)), kdims[0], kdims[1],
                         label=self.label)
        return (curve.opts(color=self.color, line_width=2.5, line_dash="dashed" if self.dashed else "solid",
                           backend="bokeh")
                .opts(color=self.color, linewidth=2, linestyle="--" if self.dashed else "-", backend="matplotlib"))


@dataclass(frozen=True)
class Marker:
    """One marked cell of a map: a hollow square at (x, y)."""

    x: float
    y: float
    label: str
    color: str

    def layer(self, kdims: list) -> hv.Scatter:
        point = hv.Scatter(([self.x], [self.y]), kdims[0], kdims[1], label=self.label)
        return (point.opts(marker="square", size=16, fill_alpha=0.0, line_color=self.color, line_width=3,
                           color=self.color, backend="bokeh")
                .opts(marker="s", s=140, facecolors="none", edgecolors=self.color, linewidth=2,
                      backend="matplotlib"))


def _overlay_glyph(overlay, kdims) -> XY:
    return XY(np.atleast_1d(np.asarray(overlay.x, float)), np.atleast_1d(np.asarray(overlay.y, float)), *kdims)


def _quiet_image(matrix, bounds, kdims, label) -> hv.Image:
    # HoloViews takes image arrays top row first; a map still being filled is all NaN at first
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return hv.Image(np.asarray(matrix, dtype=float)[::-1], bounds=bounds, kdims=list(kdims), vdims=[label])


@dataclass(frozen=True)
class Heatmap:
    """A matrix as an image: ``matrix[i, j]`` at height i, column j (row 0 at the bottom, as
    for a map sampled on a grid); over index space unless ``bounds`` are given. ``overlays``
    (:class:`Points`, :class:`Line`, :class:`Marker`) are drawn on top in order; ``cmap`` and
    ``clim`` replace the shared colour map and the data-following colour scale."""

    matrix: np.ndarray  # (n, m)
    label: str
    bounds: tuple | None = None  # (left, bottom, right, top)
    kdims: tuple[str, str] = ("column", "row")
    overlays: tuple = ()
    cmap: str | None = None
    clim: tuple | None = None

    @property
    def signature(self) -> tuple:
        return ("heatmap", self.label, self.kdims, tuple((type(o).__name__, o.label) for o in self.overlays),
                self.cmap, self.clim)

    def _bounds(self) -> tuple:
        n, m = np.shape(self.matrix)
        return self.bounds if self.bounds is not None else (0, 0, m, n)

    def glyphs(self) -> list:
        return [Raster(np.asarray(self.matrix, dtype=float), self._bounds(), self.clim),
                *[_overlay_glyph(o, self.kdims) for o in self.overlays]]

    def element(self):
        image = _quiet_image(self.matrix, self._bounds(), self.kdims, self.label)
        colour = {k: v for k, v in (("cmap", self.cmap), ("clim", self.clim)) if v is not None}
        if colour:
            image = image.opts(backend="bokeh", **colour).opts(backend="matplotlib", **colour)
        if not self.overlays:
            return image
        return hv.Overlay([image, *[o.layer(list(self.kdims)) for o in self.overlays]])


def tile(images: np.ndarray) -> np.ndarray:
    """``(R, C, h, w)`` images -> one matrix, image row 0 on top, columns left to right,
    1-pixel gaps (NaN); returned bottom row first, as :class:`Heatmap` expects."""
    R, C, h, w = np.shape(images)
    out = np.full((R * (h + 1) - 1, C * (w + 1) - 1), np.nan)
    for i in range(R):
        for j in range(C):
            out[i * (h + 1): i * (h + 1) + h, j * (w + 1): j * (w + 1) + w] = images[i][j]
    return out[::-1]


@dataclass(frozen=True)
class ImageGrid:
    """Small images in rows and columns (e.g. a filmstrip: rows are examples, columns steps),
    drawn with square pixels and no axes; ``clim`` fixes the colour scale of every image."""

    images: np.ndarray  # (R, C, h, w)
    label: str
    kdims: tuple[str, str] = ("column", "row")
    cmap: str = "gray"
    clim: tuple | None = None
    pixel: int = 7  # browser pixels per image pixel (the live plot's width is capped)

    @property
    def signature(self) -> tuple:
        return ("image-grid", self.label, self.kdims, np.shape(self.images), self.cmap, self.clim)

    def glyphs(self) -> list[Raster]:
        matrix = tile(self.images)
        rows, cols = matrix.shape
        return [Raster(matrix, (0, 0, cols, rows), self.clim)]

    def element(self) -> hv.Image:
        matrix = tile(self.images)
        rows, cols = matrix.shape
        image = _quiet_image(matrix, (0, 0, cols, rows), self.kdims, self.label)
        colour = {"cmap": self.cmap, **({"clim": self.clim} if self.clim is not None else {})}
        # The frame (the plotting area, without colour bar and toolbar) is sized, so pixels stay
        # square whatever the colour bar takes; wide grids get smaller pixels.
        pixel = max(2, min(self.pixel, 700 // cols))
        image = image.opts(backend="bokeh", frame_width=pixel * cols, frame_height=pixel * rows,
                           xaxis=None, yaxis=None, **colour)
        return image.opts(backend="matplotlib", aspect=cols / rows, xaxis=None, yaxis=None, **colour)

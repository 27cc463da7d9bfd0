"""The arrays of one drawn glyph, as ``ui.live`` swaps them in place.

A spec's ``glyphs()`` lists these in the order HoloViews draws the spec's layers, so the live app
can replace each Bokeh renderer's columns without asking HoloViews again.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class XY:
    """Arrays of one line or marker glyph, with the dimension names HoloViews gave its columns."""

    x: np.ndarray
    y: np.ndarray
    xname: str
    yname: str


@dataclass(frozen=True)
class Raster:
    """The array of one image glyph over ``bounds`` = (left, bottom, right, top); ``clim`` fixes
    the colour scale (None: it follows the data)."""

    matrix: np.ndarray  # (rows, columns), row 0 at the bottom
    bounds: tuple
    clim: tuple | None = None


@dataclass(frozen=True)
class Columns:
    """Named columns of one glyph (names as the spec gave them to HoloViews). ``color`` names the
    column a colour bar maps, whose scale then follows the data."""

    data: dict
    color: str | None = None


def polygon(x, low, high) -> tuple[np.ndarray, np.ndarray]:
    """The outline HoloViews draws for an area between ``low`` and ``high``: along the top edge,
    then back along the bottom one."""
    x = np.asarray(x, dtype=float)
    return (np.concatenate([x, x[::-1]]),
            np.concatenate([np.asarray(high, dtype=float), np.asarray(low, dtype=float)[::-1]]))

"""The view vocabulary, one round trip per spec kind: a frame -> its spec -> an in-place update
of the drawn Bokeh plot (equal to a fresh render of the newer frame) -> the exported figure,
whose matplotlib artists carry the newer frame's data, written as PNG bytes."""

import importlib
import inspect
from dataclasses import dataclass

import holoviews as hv
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.table import Table as MatplotlibTable

from paperscope.core.frames import Frame
from paperscope.core.registry import get_lab, registered
from paperscope.ui.live import LiveFigure
from paperscope.views import specs
from paperscope.views.figure import default_figure, render_bytes
from paperscope.views.specs import Bars, Curves, Heatmap, ImageGrid, Line, LivePlot, Marker, Points, Scatter, Table

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, kw_only=True)
class Snapshot(Frame):
    """A frame of a made-up lab: enough arrays for every kind of plot."""

    x: np.ndarray
    Y: np.ndarray  # (L, 2)
    sd: np.ndarray  # (L, 2)
    grid: np.ndarray  # (4, 5)
    images: np.ndarray  # (2, 3, 4, 4)


def snapshot(seed: int, step: int = 1) -> Snapshot:
    rng = np.random.default_rng(seed)
    return Snapshot(step=step, total_steps=2, x=np.arange(6.0), Y=rng.random((6, 2)) + 1,
                    sd=0.1 + 0.1 * rng.random((6, 2)), grid=rng.random((4, 5)),
                    images=16 * rng.random((2, 3, 4, 4)))


def curves_with_bands_and_bars(f):
    return Curves(f.x, f.Y, ("mean", "other"), "features used k", "holdout − fresh", markers=True,
                  bands=[(f.Y[:, 0] - f.sd[:, 0], f.Y[:, 0] + f.sd[:, 0]), None], errors=[None, f.sd[:, 1]])


def bars(f):
    return Bars(("SGD", "Adam", "Halpern"), f.Y[:3, 0], "method", "final ‖F‖")


def scatter(f):
    return Scatter(f.Y[:, 0], f.Y[:, 1], "effective rank", "‖ΔW‖", size=f.sd[:, 0], size_label="width N", color=f.x,
                   color_label="step")


def heatmap_with_overlays(f):
    return Heatmap(f.grid, "error", bounds=(0, 0, 5, 4), kdims=("k", "λ"), overlays=(
        Points(f.Y[:, 0], f.Y[:, 1]), Line(f.x[:4], f.grid[:, 0] * 4, "edge", "white", dashed=True),
        Marker(1.5, 2.5, "this cell", "#FF3B3B")))


def image_grid(f):
    return ImageGrid(f.images, "pixel", kdims=("frame", "pair"), clim=(0, 16))


def table(f):
    return Table({"method": ["SGD", "Adam"], "loss": list(np.round(f.Y[:2, 0], 3))})


def _artists(fig, kind) -> list:
    return [a for ax in fig.axes for a in ax.get_children() if isinstance(a, kind)]


def _curves_on_paper(fig, f):
    polygons = _artists(fig, PolyCollection)
    assert len(polygons) == 1  # the band of the first curve only
    top = polygons[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(top.max(), (f.Y[:, 0] + f.sd[:, 0]).max())
    segments = [s for c in _artists(fig, LineCollection) for s in c.get_segments()]
    assert len(segments) == len(f.x)  # one error bar per point of the second curve
    assert np.allclose(sorted(s[1, 1] - s[0, 1] for s in segments), sorted(2 * f.sd[:, 1]))


def _bars_on_paper(fig, f):
    heights = [p.get_height() for p in _artists(fig, Rectangle) if p.get_height() not in (0, 1)]
    assert np.allclose(sorted(heights), sorted(f.Y[:3, 0]))


def _scatter_on_paper(fig, f):
    (points,) = _artists(fig, PathCollection)
    assert np.allclose(points.get_array(), f.x)  # colour carries the step
    sizes = points.get_sizes()
    assert sizes.argmin() == f.sd[:, 0].argmin() and sizes.argmax() == f.sd[:, 0].argmax()


def _heatmap_on_paper(fig, f):
    (image,) = _artists(fig, AxesImage)
    assert np.allclose(np.asarray(image.get_array())[::-1], f.grid)  # row 0 at the bottom
    assert len(_artists(fig, PathCollection)) == 2  # the points and the marked cell


def _grid_on_paper(fig, f):
    (image,) = _artists(fig, AxesImage)
    shown = np.asarray(image.get_array())
    assert shown.shape == (2 * 5 - 1, 3 * 5 - 1)  # 2 x 3 images of 4 x 4 with 1-pixel gaps
    assert np.allclose(shown[:4, :4], f.images[0, 0])  # pair 0, frame 0 at the top left
    assert image.get_clim() == (0, 16)


def _table_on_paper(fig, f):
    (table,) = fig.findobj(MatplotlibTable)
    cells = {key: cell.get_text().get_text() for key, cell in table.get_celld().items()}
    assert cells[(0, 0)] == "method" and cells[(2, 0)] == "Adam"
    assert float(cells[(1, 1)]) == pytest.approx(np.round(f.Y[0, 0], 3))


KINDS = {
    "curves, bands and error bars": (curves_with_bands_and_bars, _curves_on_paper),
    "bars": (bars, _bars_on_paper),
    "scatter with size and colour": (scatter, _scatter_on_paper),
    "heat map with overlays": (heatmap_with_overlays, _heatmap_on_paper),
    "image grid": (image_grid, _grid_on_paper),
    "table": (table, _table_on_paper),
}


def _sources(live) -> list[dict]:
    return [{k: np.asarray(v[0] if k == "image" else v) for k, v in s.data.items()} for s in live.sources]


@pytest.mark.parametrize("kind", KINDS)
def test_frame_to_live_update_to_exported_figure(kind):
    build, on_paper = KINDS[kind]
    plot = LivePlot(build, ("Y",))
    first, newer = snapshot(0), snapshot(1, step=2)

    live = LiveFigure(plot.spec(first), kind, plot.options)
    assert live.update(plot.spec(newer))  # same structure: updated in place
    fresh = LiveFigure(plot.spec(newer), kind, plot.options)
    got, want = _sources(live), _sources(fresh)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for column in a:
            assert a[column].shape == b[column].shape, column
            assert (a[column] == b[column]).all() or np.allclose(a[column], b[column], equal_nan=True), column

    layout = default_figure({kind: plot}, newer, cols=1, fig_inches=(4, 3))
    fig = hv.render(layout, backend="matplotlib")
    try:
        on_paper(fig, newer)
    finally:
        plt.close(fig)
    assert render_bytes(layout, "png").startswith(PNG)


def test_a_colour_scale_follows_the_data_unless_fixed():
    first, newer = snapshot(0), snapshot(1)
    points = LiveFigure(scatter(first), "s", {})
    points.update(scatter(newer))
    mapper = points.renderers[0].glyph.fill_color.transform
    assert (mapper.low, mapper.high) == (newer.x.min(), newer.x.max())
    grid = LiveFigure(image_grid(first), "g", {})
    grid.update(image_grid(newer))
    assert (grid.renderers[0].glyph.color_mapper.low, grid.renderers[0].glyph.color_mapper.high) == (0, 16)


def test_new_categories_or_layers_are_drawn_afresh():
    f = snapshot(0)
    live = LiveFigure(bars(f), "b", {})
    assert not live.update(Bars(("SGD", "Adam"), f.Y[:2, 0], "method", "final ‖F‖"))
    live = LiveFigure(curves_with_bands_and_bars(f), "c", {})
    assert not live.update(Curves(f.x, f.Y, ("mean", "other"), "features used k", "holdout − fresh", markers=True))


def test_a_legend_whose_text_changed_is_relabelled_in_place():
    f, newer = snapshot(0), snapshot(1)
    live = LiveFigure(Curves(f.x, f.Y, ("run", "m + 1 = 11"), "k", "y"), "c", {})
    figure = live.figure
    assert live.update(Curves(newer.x, newer.Y, ("run", "m + 1 = 12"), "k", "y"))
    assert live.figure is figure and [item.label.value for item in figure.legend[0].items] == ["run", "m + 1 = 12"]
    assert np.allclose(live.sources[1].data["y"], newer.Y[:, 1])  # the data moved too
    assert live.update(Curves(f.x, f.Y, ("run", "m + 1 = 11"), "k", "y"))  # and back
    assert not live.update(Curves(f.x, f.Y, ("run", "m + 1 = 11"), "k", "other y label"))  # axes: drawn afresh


def test_error_bars_are_dodged_apart():
    f = snapshot(0)
    spec = Curves(f.x, f.Y, ("a", "b"), "k", "acc", errors=[f.sd[:, 0], f.sd[:, 1]], dodge=0.1)
    left, right = [g.data["k"] for g in spec.glyphs()[2:]]
    assert np.allclose(left, f.x - 0.05) and np.allclose(right, f.x + 0.05)


VOCABULARY = tuple(cls for _, cls in inspect.getmembers(specs, inspect.isclass)
                   if cls.__module__.startswith("paperscope.views") and hasattr(cls, "element"))


@pytest.mark.parametrize("slug", registered())
def test_labs_compose_the_vocabulary_and_never_subclass_it(slug):
    views = get_lab(slug).views()
    for _, cls in inspect.getmembers(views, inspect.isclass):
        if cls.__module__ == views.__name__:
            assert not issubclass(cls, VOCABULARY), f"{views.__name__}.{cls.__name__} subclasses a spec"
    source = inspect.getsource(importlib.import_module(views.__name__))
    assert "hv.Overlay(" not in source and ".element()" not in source  # no HoloViews by hand

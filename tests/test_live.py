"""Live figures: an in-place update shows exactly what a fresh HoloViews render would."""

import numpy as np

from paperscope.ui.live import LiveFigure
from paperscope.views.specs import Curves, Heatmap, Points


def sources(live):
    return [{k: np.asarray(v[0] if k == "image" else v) for k, v in r.data_source.data.items()}
            for r in live.renderers]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def test_update_matches_a_fresh_render():
    rng = np.random.default_rng(0)
    make = [
        lambda: Curves(np.arange(5), rng.random((5, 2)), ("a", "b"), "step", "‖W‖_F", markers=True),
        lambda: Heatmap(rng.random((4, 3)), "K", bounds=(-1, -1, 1, 1), kdims=("x1", "x2")),
        lambda: Heatmap(rng.random((4, 4)), "u", overlays=(Points(rng.random(7), rng.random(7)),)),
        lambda: Curves(None, [rng.random(3), rng.random(5)], ("run", "earlier"), "stage", "error", xs=[
            np.arange(3), np.arange(5)]),
    ]
    for build in make:
        live = LiveFigure(build(), "t", {})
        newer = build()
        assert live.update(newer)
        assert_same(sources(live), sources(LiveFigure(newer, "t", {})))


def test_heatmap_row_zero_is_at_the_bottom():
    m = np.zeros((4, 4))
    m[3, 0] = 1  # top-left corner
    assert Heatmap(m, "v").element()[0.5, 3.5] == 1


def test_another_structure_is_drawn_afresh():
    live = LiveFigure(Curves(np.arange(3), np.ones((3, 2)), ("a", "b"), "x", "y"), "t", {})
    assert not live.update(Curves(np.arange(3), np.ones((3, 3)), ("a", "b", "c"), "x", "y"))


def test_colour_scale_follows_the_data():
    live = LiveFigure(Heatmap(np.ones((3, 3)), "p"), "t", {})
    live.update(Heatmap(np.arange(9.0).reshape(3, 3), "p"))
    mapper = live.renderers[0].glyph.color_mapper
    assert (mapper.low, mapper.high) == (0.0, 8.0)

"""The bandlimited-random-net app without a browser: a run fills every plot and the status
line, a slider move restarts the run and redraws quickly. (Compute and claim tests:
test_bandlimited_compute.py.)"""


import numpy as np
import pytest
from app_checks import finished

from paperscope.core.runner import DONE
from paperscope.labs.bandlimited import Params
from paperscope.ui.app import LabApp
from paperscope.views.bandlimited import Y_NAME


@pytest.fixture
def app():
    app = LabApp("bandlimited", params=Params.preset("quick"))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert "relative test error" in app.status.object
    assert np.isfinite(app.frame.rel_error_grid).all()  # the whole heat map arrived


def test_a_slider_move_restarts_the_run(app):
    assert app.runner.wait(timeout=60)
    before = app.frame.rel_error
    app.params.weight_bound = 1.0  # k = 8 at λ = 1 is far beyond the band edge (~4.7)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.weight_bound == 1.0 and app.frame.rel_error > 0.5 > before
    heatmap = app._live["Test error over (k, λ), log10"]
    assert heatmap.signature[3] == (("Line", "band edge (lab's)"), ("Line", "best λ per k"),
                                    ("Marker", "this (k, λ)"))  # the map's overlays
    marker = heatmap.renderers[-1].data_source.data
    assert list(marker[Y_NAME]) == [np.log2(app.frame.weight_bound)]  # the marked cell moved to λ = 1


def test_relu_shows_its_notice(app):
    assert app.runner.wait(timeout=60)
    app.params.activation = "relu"
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.run_notice.visible and "homogeneous" in app.run_notice.object

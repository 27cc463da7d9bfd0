"""The piecewise-equivariance app without a browser: a run fills every plot, the status line
and the table; a widget change restarts with new data. (Compute tests: test_apen_compute.py.)"""

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.apen import PREDICTORS, RADII, Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("apen", params=Params.preset("quick", trials=4, points=30))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "radius graph at r = 0.6" in app.status.object and "equivariance error" in app.status.object
    assert len(app._live) == len(app.views.PLOTS)
    sweep = app._live["Equivariance error vs radius"]
    assert sweep.signature[1][:len(PREDICTORS)] == ("radius graph", "voxel grid", "k-means (seeded)",
                                                     "oracle (true parts)")
    assert len(sweep.renderers[0].data_source.data["radius r"]) == len(RADII)


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    before = app.frame.X0.copy()
    release(app, "gap", 0.3)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.X0.shape == before.shape and not (app.frame.X0 == before).all()
    assert app.frame.metrics["trials"] == 4


def test_changing_the_predictor_redraws_the_clouds_and_the_headline(app):
    assert app.runner.wait(timeout=60)
    app.params.predictor = "voxel_grid"
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert "voxel grid at r = 0.6" in app.status.object and "not invariant" in app.status.object
    assert "(voxel grid)" in str(app._live["Equivariance error vs radius"].signature)

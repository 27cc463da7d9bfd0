"""The impossibility app without a browser: a run fills every plot and the status line, a widget
change restarts with new data, finished runs are compared in the tightness plot. (Compute and
claim tests: test_generalization_bounds_compute.py.)"""

import math

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.generalization_bounds import Params
from paperscope.ui.app import LabApp
from paperscope.views import generalization_bounds as views


@pytest.fixture
def app():
    app = LabApp("generalization-bounds", params=Params.preset("quick", steps=100, width=32))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "impossibility gap" in app.status.object and "not h" in app.status.object
    assert "up to constants" in app.status.object
    assert math.isfinite(app.frame.pac_bayes)
    bars = app._live["True losses vs (S, h)-bounds"]
    assert bars.signature[1] == views.BAR_NAMES
    assert app.progress.value == 1000


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    before = app.frame.metrics["loss_d1"]
    release(app, "steps", 150)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.history_steps[-1] == 150
    assert app.frame.metrics["loss_d1"] != before
    renderer = app._live["Training: true losses and the gap"].renderers[0]
    assert renderer.data_source.data["Adam steps"][-1] == 150


def test_finished_runs_are_compared_in_the_tightness_plot(app):
    assert app.runner.wait(timeout=60)
    app.params.label_noise = 0.5
    assert app.runner.wait(timeout=60) and app.state == DONE
    labels = app._live["Tightness: bound vs true loss, earlier runs"].signature[1]
    assert labels == ("tight: bound = loss", "N/m=20 ρ=0.5 h=32 steps=100 (this run)",
                      "N/m=20 ρ=0 h=32 steps=100")

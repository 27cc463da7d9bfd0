"""The neural-collapse app without a browser: a run fills every plot and the status line, a
widget change restarts with new data, digits mode shows its layers and its not-converged note.
(Compute and oracle tests: test_neural_collapse_compute.py.)"""

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.neural_collapse import Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("neural-collapse", params=Params.preset("quick", iterations=300, max_iter=200))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app, timeout=120)
    assert app.status.alert_type == "success"
    assert "NC1(H)/NC1(X) = " in app.status.object and "accuracy 1 from iteration" in app.status.object
    assert len(app._live) == len(app.views.PLOTS)
    trajectory = app._live["NC1 ratio and training accuracy"]
    assert trajectory.signature[1] == ("NC1(H_t)/NC1(X)", "training accuracy", "first 100% accuracy")
    assert len(trajectory.renderers[0].data_source.data["iteration"]) == 301


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=120)
    release(app, "iterations", 120)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.metrics["iterations"] == 120
    assert len(app._live["NC1 per layer"].renderers[0].data_source.data["iteration"]) == 121


def test_digits_mode_shows_layers_and_says_quick_is_not_converged(app):
    assert app.runner.wait(timeout=120)
    app.params.param.update(mode="digits", epochs=40)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app._live["NC1 per layer"].signature[1] == ("hidden layer 1", "hidden layer 2")
    assert "NC1 per hidden layer" in app.status.object and "not converged" in app.status.object

"""The SELU app without a browser: a run fills every plot and the status line, a parameter
change restarts with new data, a map without a fixed point shows a notice. (Compute and claim
tests: test_selu_compute.py.)"""

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.selu import Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("selu", params=Params.preset("quick", epochs=2))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app, timeout=120)
    assert app.status.alert_type == "success"
    assert "SELU: last layer mean" in app.status.object and "‖J‖₂ = 0.7877" in app.status.object
    loss = app._live["Training loss on the digits (a toy: not the paper's Fig. 1)"].renderers[0].data_source.data
    assert len(loss["epoch"]) == 2
    layers = app._live["Variance per layer (random nets)"].renderers[0].data_source.data
    assert len(layers["layer"]) == app.params.depth + 1
    grads = app._live["Gradient norm per layer (vanishing / exploding)"]
    assert len(grads.signature[1]) == 5  # four activations at the first step, the selected one now
    assert all(len(r.data_source.data["weight layer l"]) == app.params.depth + 1 for r in grads.renderers[:5])


def test_a_parameter_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=120)
    release(app, "depth", 6)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.layer_var.shape == (7, 4)
    app.params.activation = "tanh"
    assert app.runner.wait(timeout=120) and app.status.object.split(". ", 1)[1].startswith("tanh:")


def test_a_map_without_a_positive_fixed_point_is_announced(app):
    assert app.runner.wait(timeout=120)
    app.params.param.update(tau=0.3, epochs=0)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.run_notice.visible and "collapses" in app.run_notice.object
    assert "‖J‖₂ = —" in app.status.object

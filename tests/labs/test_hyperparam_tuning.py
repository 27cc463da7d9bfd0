"""The dual-function app without a browser: a run fills every plot and the status line, a
widget change restarts with new data. (Compute and oracle tests: test_hyperparam_tuning_compute.py.)"""

import numpy as np
import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.hyperparam_tuning import SHOWN, Params
from paperscope.ui.app import LabApp
from paperscope.views import hyperparam_tuning as views


@pytest.fixture
def app():
    app = LabApp("hyperparam-tuning", params=Params.preset("quick", tasks=8, fresh_tasks=20))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "Exact jumps of u" in app.status.object and "bound 2·H·n_val = 6400" in app.status.object
    assert len(app._live) == len(views.PLOTS)
    shown = app._live["Validation utility u(α) of three tasks"]
    assert shown.signature[1] == (*views.TASK_LABELS, "mean over training tasks", "jumps (exact)")
    curve = app._live["Generalisation gap of the tuned α vs N"]
    assert curve.signature[1] == views._CURVE_LABELS
    assert app.progress.value == 1000
    assert app.frame.u_shown.shape[0] == SHOWN


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    before = app.frame.metrics["jump_bound"]
    release(app, "width", 16)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.metrics["jump_bound"] == 2 * 16 * 100 != before
    assert "bound 2·H·n_val = 3200" in app.status.object


def test_a_pair_change_restarts_the_run(app):
    assert app.runner.wait(timeout=60)
    first = app.runner.generation
    app.params.activation_pair = "relu-tanh"
    assert app.runner.generation == first + 1
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.pair == "relu-tanh"


def test_the_step_curves_follow_the_exact_jumps():
    """The drawn u(α) of a task equals its value on the α grid at every grid point."""
    from paperscope.labs import hyperparam_tuning as ht

    frame = ht.final_frame({**Params.QUICK, "tasks": 2, "fresh_tasks": 10})
    spec = views.utilities(frame)
    for t in range(SHOWN):
        x, y = spec.xs[t], spec.Y[t]
        # y at a grid α: the level of the last step at or before it
        drawn = np.array([y[np.searchsorted(x, a, side="right") - 1] for a in frame.alpha[1:-1]])
        np.testing.assert_allclose(drawn, frame.u_shown[t, 1:-1], atol=1e-12)

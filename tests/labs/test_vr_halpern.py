"""The VR-Halpern app without a browser: a run fills every plot, the status line and its table, a new n
restarts the run and joins the comparisons over n (residual, calls to ε), the selected method is highlighted.
(Compute and claim tests: test_vr_halpern_compute.py.)"""

import numpy as np
import pytest
from app_checks import finished

from paperscope.core.runner import DONE
from paperscope.labs.vr_halpern import Params
from paperscope.ui.app import LabApp
from paperscope.views import vr_halpern as views

RESIDUAL = "Operator residual vs oracle calls"
VERSUS_N = "Residual at the budget vs n (this and earlier runs)"
PATHS = "Paths to the solution (0, 0) in a plane, seed 0"
CALLS = "Calls to reach ε vs n, log–log (all runs)"


@pytest.fixture
def app():
    # ε high enough for every method to reach it within these short runs.
    app = LabApp("vr-halpern", params=Params.preset("quick", passes=30.0, n=20, epsilon=2.5))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert "below EG" in app.status.object
    assert len(app._live) == len(views.PLOTS)
    # Under the status line, a table: one row per method, the selected one's residual as reported.
    assert app.table.visible and app.table.object.count("<tr") == 1 + len(app.frame.methods)
    assert f"{app.frame.metrics['residual']:.3g}" in app.table.object and "VR-Halpern" in app.table.object
    labels = app._live[RESIDUAL].signature[1]
    assert labels == ("EG", "Halpern (EAG)", "VR-EG", "VR-Halpern (selected)")  # all methods shown
    assert CALLS in app._live  # the paper's √n against n, on log-log axes
    # The plots hold the last frame's data, e.g. each method's whole path.
    paths = app._live[PATHS].renderers
    assert [len(r.data_source.data[list(r.data_source.data)[0]]) for r in paths] == \
        [len(t) for t in app.frame.paths()]


def test_a_new_n_restarts_and_is_compared_over_n(app):
    assert app.runner.wait(timeout=60)
    first = app.frame
    app.params.n = 40
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame is not first and app.frame.n == 40 and app.frame.total_steps == 30 * 40
    assert [label for label, _ in app.previous] == ["n=20, c=4, 30 passes, seed 0",
                                                    "n=40, c=4, 30 passes, seed 0"]
    spec = views.versus_n(app.frame, app._other_runs())
    assert list(spec.x) == [20, 40]  # one point per run, per method
    # Calls to reach ε over n: a seed's mean game is the same at every n, so the deterministic
    # methods take the same steps to ε at 2n calls each: their calls double with n.
    calls = views.calls_versus_n(app.frame, app._other_runs())
    assert list(calls.x) == [20, 40] and calls.labels[-2:] == ("budget, ∝ n", "∝ √n")
    assert np.allclose(calls.Y[1, :2], 2 * calls.Y[0, :2]) and np.isfinite(calls.Y[:, :2]).all()


def test_the_selected_method_is_highlighted(app):
    assert app.runner.wait(timeout=60)
    app.params.method = "vr_eg"
    assert app.runner.wait(timeout=60) and app.state == DONE
    live = app._live[RESIDUAL]
    assert "VR-EG (selected)" in live.signature[1]
    assert live.signature[2] == ("Initial", "Initial", "Curve", "Initial")  # the others faint
    assert app.frame.metrics["residual"] == app.frame.metrics["by_method"]["vr_eg"]["residual"]

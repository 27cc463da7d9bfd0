"""The reusable-holdout app without a browser: a run fills every plot and the status line, a
widget change restarts with new data, finished runs are compared, a locked holdout is reported.
(Compute and claim tests: test_thresholdout_compute.py.)"""

import numpy as np
import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs import thresholdout as th
from paperscope.labs.thresholdout import Params
from paperscope.ui.app import LabApp
from paperscope.views import thresholdout as views


@pytest.fixture
def app():
    app = LabApp("thresholdout", params=Params.preset("quick", n=800, d=800, reps=3))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "Thresholdout (selected): holdout" in app.status.object and "standard holdout" in app.status.object
    gap = app._live["Reported holdout − fresh, both mechanisms"]
    assert gap.signature[1] == ("standard holdout", "Thresholdout (selected)")
    bars = [r for r in gap.renderers if type(r.glyph).__name__ == "Segment"]  # ±1 sd, one per point
    assert len(bars) == 2 and len(bars[0].data_source.data["features_used_k"]) == len(app.frame.ks)
    assert app.progress.value == 1000
    headline = app._live["Answer error vs adaptive queries"]
    assert headline.signature[1] == ("standard holdout", "Thresholdout")  # B only on paper


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    release(app, "rounds", 4)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.ks.tolist() == [10, 20, 30, 40]
    renderer = app._live["Thresholdout"].renderers[0]
    assert len(renderer.data_source.data["features used k"]) == 4


def test_finished_runs_are_compared(app):
    assert app.runner.wait(timeout=60)
    app.params.mechanism = "standard"
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.metrics["holdout_acc"] == app.frame.metrics["standard_holdout_acc"]
    labels = app._live["Selected mechanism: this run vs earlier runs"].signature[1]
    assert labels == ("standard n=800 d=800 (this run)", "thresholdout T√n=4 σ√n=1 n=800 d=800")
    assert app.status.object.index("standard holdout (selected)") < app.status.object.index("Thresholdout")


def test_the_headline_view_is_the_running_worst_error_at_the_budget():
    """Worst answer so far against the number of adaptive queries; the exported panel names B."""
    *_, frame = th.run(Params(n=500, d=500, reps=3, rounds=6, budget=60, device="cpu"))
    spec = views.answer_error(frame, numeric=True)
    assert spec.labels == ("standard holdout", "Thresholdout (B = 60)")
    assert list(spec.x) == [1, 2, 3, 4, 5, 6]
    worst = spec.Y[:, 0]
    assert (np.diff(worst) >= 0).all()  # a running maximum never falls
    np.testing.assert_allclose(worst, th.mean_sd(th.max_error_so_far(frame.holdout[:, 0], frame.fresh[:, 0]))[0])


def test_a_spent_budget_is_reported(app):
    assert app.runner.wait(timeout=60)
    app.params.budget = 2
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert "locked" in app.status.object and app.frame.metrics["holdout_acc"] is None
    assert "budget B (then ⊥)" in app._live["Thresholdout's budget"].signature[1]

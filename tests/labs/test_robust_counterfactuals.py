"""The robust-counterfactuals app without a browser: a run fills every plot and the status line,
a slider change restarts with new data (and reuses the trained models), the views read the
frame as the lab computed it. (Compute tests: test_robust_counterfactuals_compute.py.)"""

import numpy as np
import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs import robust_counterfactuals as rc
from paperscope.labs.robust_counterfactuals import Params
from paperscope.ui.app import LabApp
from paperscope.views import robust_counterfactuals as views

SMALL = {"n_data": 300, "retrained": 4, "queries": 20, "width": 16, "epochs": 80, "samples": 50}


@pytest.fixture
def app():
    app = LabApp("robust-counterfactuals", params=Params.preset("quick", **SMALL))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "T-Rex" in app.status.object and "closest" in app.status.object
    assert app.progress.value == 1000
    sweep = app._live["Validity under changed models vs τ"]
    assert sweep.signature[1] == ("closest", "T-Rex", "STCE (T-Rex search)", "T-Rex at the selected τ")
    trex = [r for r in sweep.renderers if type(r.glyph).__name__ == "Line"][1]
    assert np.isfinite(np.asarray(trex.data_source.data["validity under changed models"], float)).all()
    assert app.table.visible and "T-Rex" in app.table.object


def test_slider_change_restarts_with_new_data(app):
    finished(app)
    before = app.frame.metrics["cost_trex"]
    models = dict(rc.MODELS.items())
    release(app, "threshold", 0.9)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.threshold == 0.9 and app.frame.metrics["cost_trex"] > before
    assert dict(rc.MODELS.items()) == models  # τ is evaluation-only: no retraining


def test_the_map_draws_both_arrows_and_every_changed_boundary():
    *_, frame = rc.run(Params(**SMALL, device="cpu"))
    spec = views.decision_map(frame)
    changed, boundary, queries, to_closest, to_trex = spec.overlays
    shown = min(len(frame.queries), views.MAX_ARROWS)
    assert len(queries.x) == shown and 3 * shown == len(to_closest.x) == len(to_trex.x)
    assert np.isnan(changed.x).sum() >= len(frame.prob_changed)  # at least one contour piece per model
    ends = np.stack([to_trex.x[1::3], to_trex.y[1::3]], 1)
    np.testing.assert_allclose(ends, frame.trex[:shown])
    pareto = views.pareto(frame)
    cost, validity = pareto.xs[0][0], pareto.Y[0][0]
    assert cost == pytest.approx(frame.metrics["cost_closest"])
    assert validity == pytest.approx(frame.metrics["validity_retrained_closest"])

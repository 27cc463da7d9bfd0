"""The causal-bounds app without a browser: a run fills every plot and the status line, a widget
change restarts with new data. (Compute and claim tests: test_causal_bounds_compute.py.)"""

import numpy as np
import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs import causal_bounds as cb
from paperscope.labs.causal_bounds import Params
from paperscope.ui.app import LabApp
from paperscope.views import causal_bounds as views

RIBBON = "Bounds per covariate bin vs truth and naive"
WIDTH = "Width vs propensity, every divergence"
SWEEP = "Mean width vs n (unbounded vs bounded Y)"


@pytest.fixture
def app():
    app = LabApp("causal-bounds", params=Params.preset("quick"))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "of bins covered" in app.status.object and "naive estimate misses" in app.status.object
    assert app._live[RIBBON].signature[1] == ("naive E[Y | A=1, x], band: χ² bounds", "truth θ(1, x)")
    assert len(app._live[WIDTH].signature[1]) == len(cb.DIVERGENCES)
    assert app._live[SWEEP].signature[1] == ("Gaussian ε (unbounded Y) (this run)", "bounded Y")
    sweep = app._live[SWEEP].renderers[0].data_source.data
    assert np.isfinite(list(sweep.values())[1]).all()
    assert app.progress.value == 1000


def test_widget_change_restarts_with_new_data(app):
    finished(app)
    release(app, "bins", 6)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.e_hat.shape == (6,)
    assert len(app._live[RIBBON].renderers[-1].data_source.data["x (bin centre)"]) == 6
    app.params.noise = "bounded"
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app._live[SWEEP].signature[1] == ("bounded Y (this run)", "Gaussian ε (unbounded Y)")
    app.params.divergence = "agg"
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.metrics["mean_width"] == app.frame.metrics["by_method"]["agg"]["mean_width"]
    assert "k-agg" in app.status.object


def test_the_table_lists_every_divergence():
    *_, frame = cb.run(Params(n=800, device="cpu"))
    table = views.table(frame)
    assert table.columns["divergence"] == ["KL", "Hellinger", "χ²", "TV", "JS", "k-agg"]
    assert all(0 <= c <= 1 for c in table.columns["coverage"])

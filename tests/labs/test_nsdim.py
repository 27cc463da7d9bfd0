"""The NSdim app without a browser: a run fills every plot and the status line, a parameter
change restarts with new data, notices and URL values are checked, exports work. (Compute and
claim tests: test_nsdim_compute.py.)"""

import json

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.nsdim import Params
from paperscope.ui.app import LabApp, values_from_query


@pytest.fixture
def app():
    app = LabApp("nsdim", params=Params.preset("quick"))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "NSdim" in app.status.object and "λ=4" in app.status.object
    plateau = app._live["NSdim against the width: the plateau"].renderers[0].data_source.data
    assert len(plateau["width N"]) == len(app.frame.widths)  # every width of the sweep drawn
    assert app.progress.value == 1000 and not app.run_notice.visible


def test_a_parameter_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    before = app.frame.metrics["nsdim"]
    release(app, "weight_bound", 1.0)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.bounds.tolist() == [0.25, 1.0, 4.0] and app.frame.metrics["nsdim"] < before
    # Same labels (λ/4, λ, 4λ): the plots were updated in place, not drawn afresh.
    assert [pane.object for pane in app.plots] == [live.figure for live in app._live.values()]


def test_a_meaningless_epsilon_is_announced(app):
    assert app.runner.wait(timeout=60)
    app.params.param.update(precision="float32", epsilon=1e-12)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.run_notice.visible and "round-off" in app.run_notice.object
    app.params.param.update(epsilon=1e-6)
    assert app.runner.wait(timeout=60) and not app.run_notice.visible


def test_exports_and_url_values(app):
    assert app.runner.wait(timeout=60)
    assert app._figure_file().getvalue().startswith(b"%PDF")
    sidecar = json.loads(app._sidecar_file().getvalue())
    assert sidecar["lab"] == "nsdim" and sidecar["params"]["epsilon"] == 1e-12
    values, problems = values_from_query(Params, {"epsilon": "1e-08", "activation": "relu",
                                                  "width": 99999, "weight_bound": "16"})
    assert values == {"epsilon": 1e-8, "activation": "relu", "weight_bound": 16.0}
    assert len(problems) == 1 and "width=99999 is out of range" in problems[0]

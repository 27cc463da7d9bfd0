"""The invariant-PAC app without a browser: a run fills every plot and the status line, a
widget change restarts with new data. (Compute and claim tests: test_invariant_pac_compute.py.)"""

import pytest
from app_checks import finished, release

from paperscope.core.runner import DONE
from paperscope.labs.invariant_pac import Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("invariant-pac", params=Params.preset("quick", reps=1, extra_nodes=4))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app)
    assert app.status.alert_type == "success"
    assert "adversarial fails on" in app.status.object and "IRMv1" in app.status.object
    fail = app._live["Unseen interventions failing vs m"]
    assert fail.signature[1] == ("adversarial (selected)", "IRMv1", "PAC bound (h = s + 1, δ = 0.1)", "m = s + 1")
    extra = app._live["The same with extra irrelevant nodes"]
    assert extra.signature[1] == ("d = 8", "d = 8 + extra nodes")
    assert app.progress.value == 1000


def test_widget_change_restarts_with_new_data(app):
    assert app.runner.wait(timeout=60)
    release(app, "sites", 2)
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.sites == 2 and app.frame.ms.max() == 30 and 8 in app.frame.ms.tolist()
    columns = [r.data_source.data for r in app._live["Unseen interventions failing vs m"].renderers]
    curves = [c["training interventions m"] for c in columns if "training interventions m" in c]
    assert len(curves[0]) == len(app.frame.ms)  # the adversary's median, over the new sweep


def test_selecting_the_irm_learner_changes_the_headline(app):
    assert app.runner.wait(timeout=60)
    app.params.learner = "irm"
    assert app.runner.wait(timeout=60) and app.state == DONE
    m = app.frame.metrics
    assert m["test_fail_fraction"] == m["by_method"]["irm"]["test_fail_fraction"]
    assert "At m = 4: IRMv1 fails on" in app.status.object

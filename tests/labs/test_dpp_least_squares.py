"""The DPP least-squares app without a browser: a run fills every plot and the status line, a
parameter change restarts the run, a notice shows when the lab has something to say.
(Compute, oracle and claim tests: test_dpp_least_squares_compute.py.)"""

import pytest
from app_checks import finished

from paperscope.core.runner import DONE
from paperscope.labs.dpp_least_squares import Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("dpp-least-squares", params=Params.preset("quick", reps=20, m=6))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    finished(app, timeout=120)
    assert "mean err²/best²" in app.status.object and "dpp_repeated, n = 18" in app.status.object
    assert len(app._live) == len(app.views.PLOTS)


def test_a_parameter_change_restarts_the_run(app):
    assert app.runner.wait(timeout=120)
    first = app.runner.generation
    app.params.sampler = "dpp"
    assert app.runner.generation == first + 1
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.sampler == "dpp" and app.frame.n == 6
    assert "theory for one DPP: m + 1 = 7" in app.status.object
    assert app.run_notice.visible and "oversampling applies" in app.run_notice.object


def test_changing_m_redraws_the_plots_with_the_new_size(app):
    assert app.runner.wait(timeout=120)
    app.params.param.update(m=4, oversampling=2)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.m == 4 and app.frame.n == 8 and "m + 1 = 5" in str(
        app._live["One DPP, n = m: running mean of err²/best²"].signature)
    assert not app.run_notice.visible

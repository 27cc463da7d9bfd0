"""The PINN-sampling app without a browser: a run fills every plot, finished runs are kept for
comparison, a capped size shows a notice. (Compute and claim tests: test_pinn_sampling_compute.py.)"""

import pytest

from paperscope.core.runner import DONE
from paperscope.labs.pinn_sampling import Params
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    app = LabApp("pinn-sampling", params=Params.preset("quick", stages=2, steps_per_stage=40, sampler="uniform"))
    yield app
    app.close()


def test_a_run_fills_every_plot_and_the_status_line(app):
    assert app.runner.wait(timeout=120)
    assert app.state == DONE and app.frame.done and "relative L2" in app.status.object
    assert [pane.object for pane in app.plots] == [live.figure for live in app._live.values()]


def test_finished_runs_are_compared(app):
    assert app.runner.wait(timeout=120)
    app.params.sampler = "rad"
    assert app.runner.wait(timeout=120) and app.state == DONE
    # rad with the default set_update="add" is Wu et al.'s RAR-D, and is named so
    assert [label for label, _ in app.previous] == ["uniform (fixed)", "RAR-D k=1 c=1"]
    error_plot = app._live["Relative L2 error per stage"]
    labels = error_plot.signature[1]
    # the current run, its equal-size uniform control, the earlier run
    assert labels == ("RAR-D (this run)", "uniform (grown): control, same points", "uniform (fixed)")


def test_a_capped_size_is_announced(app):
    assert app.runner.wait(timeout=120)
    # a growing set: 4000 + 2 x 2000 points passes the CPU cap of the training set
    app.params.param.update(sampler="rad", set_update="add", n_points=4000, stages=3, steps_per_stage=1)
    assert app.runner.wait(timeout=300)
    assert app.run_notice.visible and "capped" in app.run_notice.object

"""The Smooth Diffusion app without a browser: a run fills every plot and the status line, an
evaluation-only knob redraws from the cache, a new λ retrains only its model (and closing the session
frees the models), a collapse is announced. (Compute and claim tests: test_smooth_diffusion_compute.py.)"""


import pytest

from paperscope.core.runner import DONE
from paperscope.labs import smooth_diffusion as sd
from paperscope.ui.app import LabApp


@pytest.fixture
def app():
    sd.clear_cache()
    # A narrower net than the lab's: these tests check the app's plumbing, not sample quality.
    app = LabApp("smooth-diffusion", params=sd.Params.preset("quick", train_steps=60, finetune_steps=30, hidden=128))
    yield app
    app.close()
    sd.clear_cache()


def test_a_run_fills_every_plot_and_the_status_line(app):
    assert app.runner.wait(timeout=120)
    assert app.state == DONE and app.frame.done
    assert "ISTD" in app.status.object and "LoRA fine-tune" in app.status.object
    assert [pane.object for pane in app.plots] == [live.figure for live in app._live.values()]
    assert len(app._live) == len(app.views.PLOTS)


def test_an_evaluation_knob_redraws_from_the_cache(app):
    assert app.runner.wait(timeout=120)
    app.params.ddim_steps = 20
    assert app.runner.wait(timeout=60) and app.state == DONE
    assert app.frame.total_steps == 3 and "cache" in app.run_notice.object  # evaluation only, no training


def test_a_new_lambda_restarts_and_trains_only_its_model(app):
    assert app.runner.wait(timeout=120)
    app.params.reg_weight = 1.0
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.total_steps == 30 + 3 + 1 and app.frame.reg_weight == 1.0
    assert list(app.frame.trade_lambda) == [0.0, 0.3, 1.0]
    assert "λ = 1" in app.status.object
    # The session holds what it trained (pre-training, fine-tunes at λ = 0, 0.3, 1) until it closes.
    assert len(sd.MODELS) == 4
    assert all(sd.MODELS.holders(key) == {app.runner.session_id} for key, _ in sd.MODELS.items())
    app.close()  # what Panel's on_session_destroyed calls
    assert len(sd.MODELS) == 0


def test_a_collapse_is_announced_in_the_status_line(app):
    assert app.runner.wait(timeout=120)
    app.params.param.update(mode="scratch", train_steps=150, reg_weight=3.0)
    assert app.runner.wait(timeout=120) and app.state == DONE
    assert app.frame.collapsed and app.frame.metrics["collapsed"]
    assert app.status.object.startswith("Done") and "WARNING, collapsed" in app.status.object


def test_lambda_moves_on_a_log_scale_including_zero():
    import param

    from paperscope.ui.controls import panel_controls as controls

    params = sd.Params.preset("quick")
    widgets, _ = controls(params)
    slider = widgets["reg_weight"]
    assert slider.options[:3] == [0.0, 0.01, 0.02] and 1.0 in slider.options
    with param.edit_constant(slider):  # what a slider release does
        slider.value_throttled = 0.0
    assert params.reg_weight == 0.0
    params.reg_weight = 0.07  # a value from a link gains its own stop
    assert slider.value == 0.07 and 0.07 in slider.options

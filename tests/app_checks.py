"""What every lab's app test does: wait for a run to finish drawing, release a slider."""

import param

from paperscope.core.runner import DONE


def finished(app, timeout: float = 60) -> None:
    """Wait for the app's run: it ended done, with every plot pane showing its live figure."""
    assert app.runner.wait(timeout=timeout) and app.state == DONE and app.frame.done
    assert [pane.object for pane in app.plots] == [live.figure for live in app._live.values()]


def release(app, name: str, value) -> None:
    """Move the slider ``name`` to ``value`` and let go, as the browser does: one new run."""
    slider, first = app.widgets[name], app.runner.generation
    with param.edit_constant(slider):
        slider.param.update(value=value, value_throttled=value)
    assert app.runner.generation == first + 1

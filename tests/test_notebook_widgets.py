"""The ipywidgets-only live view (``nb.app(..., ui="widgets")``), for front ends without Panel's
extension: it shows the lab's figure and reruns on a control change."""

import torch

from paperscope.core.registry import get_lab
from paperscope.core.runner import DONE
from paperscope.ui import notebook as nb
from paperscope.ui.notebook import WidgetsApp

PNG = b"\x89PNG\r\n\x1a\n"


def test_widgets_view_draws_the_figure_and_reruns_on_a_change():
    app = WidgetsApp("vr-halpern", get_lab("vr-halpern").Params.preset("quick", device="cpu"))
    try:
        app.start()
        assert app.runner.wait(timeout=120)
        first = app.frame
        assert bytes(app.image.value).startswith(PNG) and app.status.value.startswith("Done")
        assert app.table.value.count("<tr") == 5 and "VR-Halpern" in app.table.value  # header + 4 methods
        states = []
        app.runner._on_state = lambda state, message: states.append(state)
        app.params.seed = app.params.seed + 1  # a control change starts a new run
        assert app.runner.wait(timeout=120) and DONE in states
        assert app.frame is not first and bytes(app.image.value).startswith(PNG)
    finally:
        app.close()


def test_setup_gives_the_kernel_the_apps_thread_count(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PAPERSCOPE_THREADS", "1")
        torch.set_num_threads(2)
        nb.setup()
        assert torch.get_num_threads() == 1  # a sweep called in the kernel does not fight the browser
    finally:
        torch.set_num_threads(before)


def test_the_notebook_app_shows_the_kernels_last_run_instead_of_computing_it_again():
    params = get_lab("rich-lazy").Params.preset("quick", steps=20, device="cpu")
    frame = nb.run("rich-lazy", params)
    find = nb._last_run("rich-lazy")
    assert find(params) is frame and find(type(params)(**{**params.values(), "seed": 1})) is None
    assert nb._last_run("selu")(params) is None  # another lab's run is never served

"""Every registered lab keeps the lab contract (DESIGN.md): five places, one name, a declared
parameter set, frames with a summary, an exportable figure, and no UI imports in compute."""

import json
import subprocess
import sys

import param
import pytest

from paperscope.core.frames import Frame
from paperscope.core.params import LabParams
from paperscope.core.registry import all_labs
from paperscope.core.runner import run_to_end

LABS = all_labs()
UI_MODULES = ("panel", "holoviews", "bokeh", "ipywidgets", "matplotlib")


@pytest.fixture(params=LABS, ids=[lab.slug for lab in LABS])
def lab(request):
    return request.param


def test_five_places(lab, root):
    name = lab.name
    for path in (f"pkg/paperscope/labs/{name}.py", f"apps/{name}.py", f"notebooks/{name}.ipynb",
                 f"tests/labs/test_{name}.py"):
        assert (root / path).is_file(), f"{lab.slug}: missing {path}"
    assert hasattr(lab.views(), "PLOTS") and hasattr(lab.views(), "figure")
    assert lab.slug == name.replace("_", "-")


def test_docstring_opens_with_the_paper(lab):
    doc = lab.module.__doc__ or ""
    assert lab.paper.arxiv in doc and "Claim" in doc, "the docstring opens with the paper and its claim"


def test_params_are_declared_once_with_bounds_and_docs(lab):
    cls = lab.Params
    assert issubclass(cls, LabParams) and cls.QUICK, "a quick preset"
    for name in cls.names():
        p = cls.param[name]
        assert p.doc, f"{lab.slug}.{name} needs doc="
        if isinstance(p, param.Number):
            assert p.bounds is not None, f"{lab.slug}.{name} needs bounds"
    assert set(cls.QUICK) <= set(cls.names())


def test_runs_at_quick_size_and_exports_a_figure(lab, tmp_path):
    frame = run_to_end(lab.run, lab.Params.preset("quick"))
    assert isinstance(frame, Frame) and frame.done and frame.step == frame.total_steps
    json.dumps(frame.metrics)  # plain numbers only
    from paperscope.views.figure import export

    figure, sidecar = export(lab, lab.Params.preset("quick"), frame, tmp_path / "fig.png")
    assert figure.read_bytes().startswith(b"\x89PNG") and json.loads(sidecar.read_text())["lab"] == lab.slug


def test_a_run_can_be_closed_mid_way(lab):
    """What the runner does when a slider moves: close the generator between frames."""
    frames = lab.run(lab.Params.preset("quick", device="cpu"))
    seen = [next(frames) for _ in range(3)]
    frames.close()
    assert seen[-1].step > 0
    with pytest.raises(StopIteration):
        next(frames)
    lab.run(lab.Params.preset("quick")).close()  # before the first frame, too


def test_compute_imports_no_ui(lab):
    code = (f"import sys, paperscope.labs.{lab.name}; "
            f"print([m for m in {UI_MODULES!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{lab.slug} pulls in UI modules: {out}"

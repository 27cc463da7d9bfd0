"""A lab published as its own package is found everywhere a built-in lab is: ``list``, ``run``
and the gallery. The package is written to a temporary folder with a ``dist-info`` holding its
``paperscope.labs`` entry point, exactly what ``pip install`` leaves behind, and put on the path."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

LAB = '''
    """On Tiny Labs (Doe, Roe; arXiv 2026). Claim: halving a number three times divides it by eight."""

    from dataclasses import dataclass

    import numpy as np
    import param

    from paperscope.core.frames import Frame
    from paperscope.core.paper import Paper
    from paperscope.core.params import LabParams

    PAPER = Paper(
        slug="tiny-lab",
        title="A tiny out-of-tree lab",
        paper_title="On Tiny Labs",
        authors="Doe, Roe",
        venue="arXiv 2026",
        arxiv="",
        claim="Halving a number three times divides it by eight.",
        equations=(r"x_{k+1} = x_k / 2",),
        topics=("testing",),
        checked="Nothing: there is no such paper.",
        views="tinylab.views",
    )


    class Params(LabParams):
        start = param.Number(8.0, bounds=(0, None), softbounds=(1, 100), doc="The starting value")
        steps = param.Integer(3, bounds=(1, 10), doc="How many times to halve it")
        QUICK = {"steps": 3}


    @dataclass(frozen=True, kw_only=True)
    class TinyFrame(Frame):
        xs: np.ndarray


    def run(params):
        xs = [params.start]
        for k in range(1, params.steps + 1):
            xs.append(xs[-1] / 2)
            metrics = {"final": xs[-1], "ratio": params.start / xs[-1]} if k == params.steps else None
            yield TinyFrame(step=k, total_steps=params.steps, metrics=metrics, xs=np.array(xs))


    def halvings(seed, steps):
        *_, last = run(Params(steps=steps, seed=seed))
        return last.metrics["ratio"]


    from paperscope.core.claims import Claim, Measurement

    CLAIMS = [Claim("T1", "three halvings divide by eight", Measurement(halvings), lambda r: r, 8.0, ">=",
                    quick={"steps": 3}, seeds=2)]
'''

VIEWS = '''
    """Views of the tiny lab: the halved values."""

    import holoviews as hv
    import numpy as np

    from paperscope.views.specs import Curves, LivePlot


    def values(frame):
        return Curves(np.arange(len(frame.xs)), frame.xs, ("halved",), "k", "value", markers=True)


    PLOTS = {"Halving": LivePlot(values, ("xs",), {"logy": True})}


    def figure(frame, previous=()):
        return hv.Layout([plot.draw(frame, title) for title, plot in PLOTS.items()]).cols(1)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder holding the ``tinylab`` package and its installed-distribution metadata."""
    root = tmp_path_factory.mktemp("site")
    package = root / "tinylab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "lab.py").write_text(textwrap.dedent(LAB))
    (package / "views.py").write_text(textwrap.dedent(VIEWS))
    meta = root / "tinylab-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: tinylab\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[paperscope.labs]\ntiny-lab = tinylab.lab\n")
    return root


def python(site, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "PAPERSCOPE_CACHE": str(site / "cache"), "PAPERSCOPE_DEVICE": "cpu"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=site, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_list_finds_it_after_the_built_in_labs(site):
    lines = python(site, "-m", "paperscope.cli", "list").splitlines()
    assert lines[-1] == "tiny-lab\tA tiny out-of-tree lab\tHalving a number three times divides it by eight."
    assert lines[0].startswith("rich-lazy\t")


def test_run_writes_its_metrics(site):
    python(site, "-m", "paperscope.cli", "run", "tiny-lab", "--quick", "--no-progress", "--json", "out.json",
           "--export", "fig.png")
    record = json.loads((site / "out.json").read_text())
    assert record["lab"] == "tiny-lab" and record["metrics"] == {"final": 1.0, "ratio": 8.0}
    sidecar = json.loads((site / "fig.png.json").read_text())
    assert sidecar["paper_declaration"]["paper_title"] == "On Tiny Labs"


def test_the_gallery_has_its_card(site):
    code = ("from paperscope.ui.gallery import gallery, gallery_html; from paperscope.core.registry import all_labs; "
            "gallery(); print(gallery_html(all_labs()))")
    out = python(site, "-c", code)
    assert 'href="tiny-lab"' in out and "On Tiny Labs (Doe, Roe; arXiv 2026)" in out


def test_its_thumbnail_is_rendered_and_shown(site):
    python(site, "-m", "paperscope.cli", "thumbnails", "tiny-lab")
    (png,) = (site / "cache" / "thumbnails").glob("tiny-lab-*.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    code = ("from paperscope.ui.gallery import lab_card; from paperscope.core.registry import get_lab; "
            "print(lab_card(get_lab('tiny-lab')))")
    assert '<img src="data:image/png;base64,' in python(site, "-c", code)


def test_verify_checks_its_declared_claims(site):
    out = python(site, "-m", "paperscope.cli", "verify", "tiny-lab", "--quick", "--workers", "1", "--json", "v.json")
    (row,) = json.loads((site / "v.json").read_text())["claims"]
    assert row["lab"] == "tiny-lab" and row["claim"] == "T1" and row["status"] == "PASS", out

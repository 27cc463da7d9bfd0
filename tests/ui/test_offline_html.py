"""``paperscope export-html``: one offline file with sliders over a grid computed ahead."""

import base64
import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
from bokeh.models import CustomJS

from paperscope import cli
from paperscope.core.errors import DivergenceError, ParamError
from paperscope.ui import offline_html as oh
from paperscope.views.specs import Curves, LivePlot

LAB = "bandlimited"  # a fast lab (well under a second per run at quick size) with a heat map and curves
GRID = ["frequency=1,2", "width=50,100"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSCOPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def export(tmp_path, grid=GRID, seeds=1, log=None):
    lines = []
    page = oh.export_html(LAB, grid, [], seeds=seeds, preset="quick", out=tmp_path / "lab.html",
                          log=log or lines.append)
    return page, lines


def payload_of(text: str) -> dict:
    """The grid data inside a written page (the swap callback's ``payload`` argument)."""
    docs = [json.loads(m) for m in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', text, re.S)]
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") == "CustomJS":
                for entry in node.get("attributes", {}).get("args", {}).get("entries", []):
                    if entry[0] == "payload":
                        found.append(json.loads(entry[1]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(docs)
    assert len(found) == 1
    return found[0]


class Fetches(HTMLParser):
    """Every URL the page would load: script/img/iframe/source src, link href, CSS url()."""

    def __init__(self):
        super().__init__()
        self.loads, self.anchors = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.anchors.append(attrs.get("href"))
        elif tag == "link" or attrs.get("src"):
            self.loads.append(attrs.get("href") or attrs.get("src"))


def test_a_2x2_grid_gives_one_self_contained_file(tmp_path, cache):
    page, lines = export(tmp_path)
    text = page.path.read_text(encoding="utf-8")
    assert page.file_bytes == page.path.stat().st_size
    assert page.points == 4 and page.computed == 4 and page.cached == 0
    assert [line.split("]")[0] for line in lines[:4]] == ["[1/4", "[2/4", "[3/4", "[4/4"]  # progress

    parser = Fetches()
    parser.feed(text)
    assert parser.loads == []  # no script, stylesheet, image or frame is fetched
    assert "@import" not in text and not re.search(r"url\(\s*['\"]?https?:", text)
    assert all(href.startswith("https://arxiv.org/abs/") for href in parser.anchors)  # the paper's link only
    assert "/* BEGIN bokeh.min.js */" in text  # BokehJS itself is inside

    data = payload_of(text)
    assert [a["name"] for a in data["axes"]] == ["frequency", "width", "seed"]
    assert [a["labels"] for a in data["axes"]] == [["1", "2"], ["50", "100"], ["0"]]
    assert len(data["points"]) == 4
    # Each point holds its own columns; points share what did not change between them.
    firsts = [json.dumps(p["p"]) for p in data["points"]]
    assert len(set(firsts)) == 4
    assert page.arrays < page.columns
    assert all(entry[0] == "float32" for entry in data["arrays"])


def test_a_second_export_reads_the_run_cache(tmp_path, cache):
    export(tmp_path)
    page, lines = export(tmp_path)
    assert (page.computed, page.cached) == (0, 4)
    assert all(line.endswith("cached") for line in lines[:4])


def test_seeds_add_a_seed_slider(tmp_path, cache):
    page, _ = export(tmp_path, grid=["frequency=1,2"], seeds=2)
    data = payload_of(page.path.read_text(encoding="utf-8"))
    assert data["axes"][-1] == {"name": "seed", "labels": ["0", "1"]}
    assert page.points == 4


def test_a_failed_point_shows_its_error_and_the_others_still_work(tmp_path, cache, monkeypatch):
    real = oh.run_to_end

    def diverge_at_frequency_2(run, params):
        if params.frequency == 2:
            raise DivergenceError("the loss became NaN/inf at step 3: lower lr")
        return real(run, params)

    monkeypatch.setattr(oh, "run_to_end", diverge_at_frequency_2)
    page, lines = export(tmp_path, grid=["frequency=1,2"])
    data = payload_of(page.path.read_text(encoding="utf-8"))
    assert data["points"][0]["p"] is not None and data["points"][1]["p"] is None
    assert "This setting failed" in data["texts"][data["points"][1]["s"]]
    assert any("failed" in line for line in lines)


@pytest.mark.parametrize("grid, message", [
    (["frequency"], "--grid expects name=values"),
    (["no_such_knob=1,2"], "no_such_knob"),
    (["width=abc"], "width"),
    (["seed=1,2"], "--seeds N"),
])
def test_a_bad_grid_is_one_clear_line(grid, message, capsys, cache, tmp_path):
    argv = ["export-html", LAB, "--quick", "--out", str(tmp_path / "x.html")]
    for g in grid:
        argv += ["--grid", g]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_the_out_file_must_be_html(tmp_path, cache):
    with pytest.raises(ParamError, match=r"\.html"):
        oh.export_html(LAB, [], [], preset="quick", out=tmp_path / "lab.pdf")


def test_the_command_writes_the_file(tmp_path, cache, capsys):
    out = tmp_path / "page.html"
    assert cli.main(["export-html", LAB, "--quick", "--grid", "frequency=1,2", "--out", str(out)]) == 0
    assert out.is_file() and f"wrote {out}" in capsys.readouterr().err


# -- the pieces ---------------------------------------------------------------------------------


def decode(entry) -> np.ndarray:
    dtype, shape, text = entry
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def test_arrays_are_stored_once_as_float32():
    store = oh.ArrayStore()
    x = np.linspace(0, 1, 7)
    a, b = store.add(x), store.add(x.copy())
    c = store.add(x + 1)
    assert a == b != c and len(store.entries) == 2 and store.added == 3
    np.testing.assert_array_equal(decode(store.entries[a]), x.astype(np.float32))
    big = store.add(np.array([2**30, 1], dtype=np.int64))  # not exact in float32: kept in float64
    assert store.entries[big][0] == "float64" and decode(store.entries[big])[0] == 2**30
    image = store.add(np.arange(6.0).reshape(2, 3))
    assert decode(store.entries[image]).shape == (2, 3)


def test_columns_of_text_images_and_gaps():
    store = oh.ArrayStore()
    assert oh.encode_column(["a", "b"], store) == {"l": ["a", "b"]}
    assert oh.encode_column([np.ones((2, 2))], store) == {"i": [0]}
    assert oh.encode_column(np.array([1.0, np.nan]), store) == 1  # NaN travels in the array
    assert oh.encode_column(np.array(["x", None], dtype=object), store) == {"l": ["x", None]}
    assert oh.encode_column([1.5, float("nan"), "n/a"], store) == {"l": [1.5, None, "n/a"]}


def _curves(frame):
    x = np.arange(5.0)
    Y = np.column_stack([x * (k + 1) for k in range(frame.layers)])
    labels = tuple(f"m = {frame.m + k}" for k in range(frame.layers))
    return Curves(x, Y, labels, "step", "loss")


def test_a_plot_whose_structure_changes_gets_one_figure_per_structure():
    plot = oh.PlotVariants("loss", LivePlot(_curves, ("layers",)))
    store = oh.ArrayStore()
    shown = [plot.show(SimpleNamespace(layers=n, m=m)) for n, m in ((1, 1), (2, 1), (1, 1), (2, 5))]
    assert shown == [0, 1, 0, 1] and len(plot.figures) == 2
    # Only the legend's text changed (m = 1 -> m = 5): the same figure, relabelled per point.
    plot.show(SimpleNamespace(layers=2, m=1))
    before = plot.snapshot(1, store)
    plot.show(SimpleNamespace(layers=2, m=5))
    after = plot.snapshot(1, store)
    assert "m = 1" in before[3] and "m = 5" in after[3] and before[1] == after[1]


def test_the_page_holds_only_bokeh_models(tmp_path, cache):
    plan, axes = oh.plan_grid(LAB, ["frequency=1,2"], [], 1, "quick")
    outcomes, _ = oh.compute(plan, log=lambda line: None)
    doc, _, _ = oh.build_document(oh.get_lab(LAB), plan, axes, outcomes)
    oh.check_offline(doc)
    assert sum(isinstance(m, CustomJS) for m in doc.models) == 1

    from panel.models import HTML  # a model whose scripts the page would not carry

    doc.add_root(HTML(text="x"))
    with pytest.raises(oh.PaperscopeError, match="not a Bokeh model"):
        oh.check_offline(doc)


# -- in a real browser, from disk, with the network off -----------------------------------------


SOURCES_JS = """() => Array.from(Bokeh.documents[0].all_models)
  .filter(m => m.constructor.__name__ === "ColumnDataSource")
  .map(s => Object.entries(s.data)
    .map(([k, v]) => k + ":" + Array.from(v).slice(0, 40).map(String).join(",")).join(";"))
  .join("|")"""


@pytest.mark.browser
def test_the_file_works_offline_and_a_slider_swaps_the_data(browser, tmp_path_factory):
    folder = tmp_path_factory.mktemp("offline")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAPERSCOPE_CACHE", str(folder / "cache"))
        page_file = oh.export_html(LAB, GRID, [], preset="quick", out=folder / "lab.html", log=lambda line: None)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    requested = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requested.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(page_file.path.resolve().as_uri())
        page.wait_for_function("window.__paperscope_shown === 0", timeout=60000)  # the first point drawn
        page.wait_for_selector("text=Claim:", timeout=10000)
        before = page.evaluate(SOURCES_JS)
        handle = page.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")  # frequency 1 -> 2: point 2 of (frequency, width, seed)
        page.wait_for_function("window.__paperscope_shown === 2", timeout=10000)
        after = page.evaluate(SOURCES_JS)
        assert after != before  # the sources' data changed in place
        page.wait_for_selector("text=k = 2", timeout=10000)  # the point's summary line follows
        assert errors == [] and requested == []
    finally:
        context.close()

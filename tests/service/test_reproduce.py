"""Figures that reopen their run: the record inside PDF, SVG and PNG, the recorded command and app
link rebuilding the exact parameters, and ``paperscope reproduce`` round trips (from the figure
alone and from its sidecar) that come back bit-for-bit on the same machine, or say what differs."""

import copy
import json
import math
import shutil
from urllib.parse import parse_qsl, urlsplit

import pytest

from paperscope.cli import main
from paperscope.core.errors import PaperscopeError
from paperscope.core.export import app_link, provenance, run_command
from paperscope.core.registry import all_labs, get_lab
from paperscope.core.runner import run_to_end
from paperscope.service import reproduce as rp
from paperscope.views.figure import embedded_record, export

# Three fast labs, each exported in another format, each with a value off its preset.
ROUND_TRIPS = [("nsdim", "svg", "target_freq=5"), ("thresholdout", "png", "threshold=3.5"),
               ("bandlimited", "pdf", "ridge=1e-08")]


@pytest.fixture(scope="module")
def nsdim_run():
    lab = get_lab("nsdim")
    params = lab.Params.preset("quick", seed=4, device="cpu")
    return lab, params, run_to_end(lab.run, params)


@pytest.mark.parametrize("fmt", ["pdf", "svg", "png"])
def test_the_figure_carries_its_record(nsdim_run, tmp_path, fmt):
    lab, params, frame = nsdim_run
    figure, sidecar = export(lab, params, frame, tmp_path / f"fig.{fmt}")
    written = json.loads(sidecar.read_text())
    for field in ("lab", "params", "metrics", "versions", "title", "paper", "arxiv", "paper_declaration", "seed",
                  "device", "git_commit", "complete", "step", "total_steps", "created", "command", "app_link"):
        assert field in written, field  # every field the sidecar had, and how to get back
    assert written["app_link"].startswith("/nsdim?") and "seed=4" in written["app_link"]
    sidecar.unlink()  # what the figure alone says
    record, source = rp.read_record(figure)
    assert source == f"{fmt.upper()} metadata"
    assert record == embedded_record(written)
    for field in ("command", "app_link", "lab", "params", "seed", "versions", "git_commit", "metrics", "device"):
        assert field in record, field
    assert record["command"].startswith("paperscope run nsdim --preset quick --seed 4")
    assert record["command"].endswith(f"--export fig.{fmt}")
    if fmt == "pdf":  # the command also where PDF viewers show it (document properties)
        assert b"/Subject (reproduce: paperscope run nsdim" in figure.read_bytes()


def test_every_labs_command_and_app_link_rebuild_its_parameters():
    from paperscope.ui.app import values_from_query

    for lab in all_labs():
        for preset in lab.Params.presets():
            params = lab.Params.preset(preset, seed=7)
            rebuilt_lab, rebuilt, _ = rp.params_from_command(run_command(lab, params, "cpu"))
            assert rebuilt_lab.slug == lab.slug
            assert {**rebuilt.values(), "device": "auto"} == params.values(), (lab.slug, preset)
            # The app opens at the quick size; the link's URL state must bring back the rest.
            query = dict(parse_qsl(urlsplit(app_link(lab, params)).query))
            values, problems = values_from_query(lab.Params, query)
            assert not problems, (lab.slug, problems)
            assert lab.Params.preset("quick", **values).values() == params.values(), (lab.slug, preset)


def test_a_command_records_only_what_differs_from_the_closest_preset():
    lab = get_lab("thresholdout")
    params = lab.Params.preset("quick", threshold=3.5, seed=2)
    assert run_command(lab, params, "cpu", "f.pdf") == (
        "paperscope run thresholdout --preset quick --seed 2 --set threshold=3.5 --set device=cpu --export f.pdf")


@pytest.mark.parametrize("slug,fmt,change", ROUND_TRIPS)
def test_reproduce_round_trip(slug, fmt, change, tmp_path, capsys):
    figure = tmp_path / f"{slug}.{fmt}"
    assert main(["run", slug, "--quick", "--seed", "3", "--set", change, "--set", "device=cpu",
                 "--export", str(figure), "--no-progress"]) == 0
    sidecar = figure.with_name(figure.name + ".json")
    recorded = json.loads(sidecar.read_text())

    kept = tmp_path / "kept" / sidecar.name  # the figure alone, as if dropped into a paper's folder
    kept.parent.mkdir()
    shutil.move(sidecar, kept)
    capsys.readouterr()
    assert main(["reproduce", str(figure), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert f"record from the {fmt.upper()} metadata" in err and "MATCH" in err
    again = tmp_path / f"{slug}.reproduced.{fmt}"
    command = rp.read_record(again)[0]["command"]  # the same, but for the file it writes
    assert command.rsplit(" --export", 1)[0] == recorded["command"].rsplit(" --export", 1)[0]
    # Same machine, same code, same threads: the numbers come back bit-for-bit, whatever the rule.
    assert json.loads(again.with_name(again.name + ".json").read_text())["metrics"] == recorded["metrics"]

    if (slug, fmt, change) != ROUND_TRIPS[0]:
        return  # from the sidecar alone: once is enough (each round trip is two runs and two exports)
    out_path = tmp_path / "from-json" / f"{slug}.{fmt}"
    assert main(["reproduce", str(kept), "--out", str(out_path), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "record from the sidecar" in err and out_path.is_file()
    assert out.splitlines()[0].split() == ["metric", "recorded", "now", "match"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A quick nsdim figure exported by ``paperscope run``: its sidecar's record."""
    figure = tmp_path_factory.mktemp("exported") / "nsdim.pdf"
    assert main(["run", "nsdim", "--quick", "--seed", "1", "--set", "device=cpu", "--export", str(figure),
                 "--no-progress"]) == 0
    return json.loads(figure.with_name(figure.name + ".json").read_text())


def test_a_tampered_metric_is_reported_and_exits_1(exported, tmp_path, capsys):
    sidecar, record = tmp_path / "nsdim.pdf.json", copy.deepcopy(exported)
    name = next(k for k, v in record["metrics"].items() if isinstance(v, float) and v)
    record["metrics"][name] *= 1 + 1e-3
    sidecar.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["reproduce", str(sidecar), "--no-progress"]) == 1
    out, err = capsys.readouterr()
    (line,) = [row for row in out.splitlines() if row.split()[0] == name]
    assert "NO" in line and "rel. diff 0.001" in line
    assert "DIFFERENT: 1 of" in err


def test_a_changed_version_is_named_and_the_tolerance_applies(exported, tmp_path, capsys):
    sidecar, record = tmp_path / "nsdim.pdf.json", copy.deepcopy(exported)
    record["versions"]["torch"] = "1.0.0"
    record["git_commit"] = "0123456789abcdef"
    sidecar.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["reproduce", str(sidecar), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "version of torch:" in err and "1.0.0 recorded" in err
    assert "commit:" in err and "0123456789abcdef recorded" in err
    assert f"within relative {rp.SAME_DEVICE[0]:g} (same device" in err


def test_the_tolerance_rule():
    env = {"versions": {"torch": "2.0"}, "git_commit": "abc", "device": "cpu", "device_name": "cpu x86_64",
           "threads": 1}
    assert rp.tolerance(env, dict(env))[0] == rp.BIT_FOR_BIT
    assert rp.tolerance({**env, "git_commit": "abc+dirty"}, {**env, "git_commit": "abc+dirty"})[0] == rp.SAME_DEVICE
    assert rp.tolerance(env, {**env, "threads": 2})[0] == rp.SAME_DEVICE
    assert rp.tolerance(env, {**env, "versions": {"torch": "2.1"}})[0] == rp.SAME_DEVICE
    assert rp.tolerance(env, {**env, "device": "cuda", "device_name": "NVIDIA H100"})[0] == rp.ACROSS_DEVICES

    rows = {r.metric: r for r in rp.compare(
        {"a": 1.0, "b": {"c": 2.0}, "n": 3, "s": "x", "v": [1.0, 2.0], "nan": math.nan, "gone": 1.0},
        {"a": 1.0 + 1e-9, "b": {"c": 2.0}, "n": 3, "s": "x", "v": [1.0, 2.0 + 1e-3], "nan": math.nan},
        *rp.SAME_DEVICE)}
    assert rows["a"].match and rows["b.c"].match and rows["n"].match and rows["s"].match and rows["nan"].match
    assert not rows["v"].match and rows["v"].difference == pytest.approx(5e-4, rel=1e-3)
    assert not rows["gone"].match
    assert not rp.compare({"a": 1.0}, {"a": 1.0 + 1e-15}, *rp.BIT_FOR_BIT)[0].match  # bit-for-bit means equal
    assert not rp.compare({"k": 3}, {"k": 4}, *rp.ACROSS_DEVICES)[0].match  # counts compare exactly


def test_a_pdf_string_with_escapes_is_read_back(tmp_path):
    # As another PDF writer might spell it: nested parentheses, octal and line-continuation escapes.
    pdf = tmp_path / "other.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Paperscope ({\"lab\":\"a (b)\",\"x\":\"\\(\\\\\\\\\\101\\\nB\"}) >>\n"
                    b"endobj\n")
    assert rp.read_record(pdf)[0] == {"lab": "a (b)", "x": "(\\AB"}
    hex_pdf = tmp_path / "hex.pdf"
    text = json.dumps({"lab": "é"}, ensure_ascii=False)
    hex_pdf.write_bytes(b"<< /Paperscope <FEFF" + text.encode("utf-16-be").hex().upper().encode() + b"> >>")
    assert rp.read_record(hex_pdf)[0] == {"lab": "é"}


def test_a_figure_without_record_or_sidecar_says_so(tmp_path):

    bare = tmp_path / "bare.pdf"
    bare.write_bytes(b"%PDF-1.4\n%%EOF\n")
    with pytest.raises(PaperscopeError, match="carries no paperscope record"):
        rp.read_record(bare)


def test_the_app_downloads_carry_the_command_and_link(nsdim_run):
    from paperscope.ui.app import LabApp

    lab, params, frame = nsdim_run
    app = LabApp("nsdim", params=params, autostart=False, sync_url=False)
    try:
        app.frame, app._running_params = frame, params
        app.format.value = "svg"
        sidecar = json.loads(app._sidecar_file().getvalue())
        figure = app._figure_file().getvalue()
    finally:
        app.close()
    assert sidecar["app_link"] == app_link(lab, params) and sidecar["command"].endswith("--export nsdim.svg")
    assert b"urn:paperscope:provenance" in figure and sidecar["command"].encode() in figure
    assert sidecar["metrics"] == json.loads(json.dumps(provenance(lab, params, frame)))["metrics"]


def test_a_sweep_figure_carries_its_sweep_and_reproduce_points_to_it(tmp_path):
    import pandas as pd

    from paperscope.views.sweep import write_figure

    summary = pd.DataFrame({"lr": [0.1, 0.2], "metric": ["loss", "loss"], "mean": [1.0, 0.5], "sem": [0.1, 0.1],
                            "n": [2, 2]})
    meta = {"command": "paperscope sweep selu --grid=lr=0.1,0.2 --seeds=2", "lab": "selu", "grid": {"lr": [0.1, 0.2]},
            "seeds": [0, 1]}
    figure = write_figure(summary, {"lr": [0.1, 0.2]}, ["loss"], tmp_path / "figure.svg", record=meta)
    assert rp.read_record(figure)[0] == meta
    with pytest.raises(PaperscopeError, match="a sweep's figure: run its recorded command again: paperscope sweep"):
        rp.reproduce(figure)


def test_a_run_on_the_users_data_names_its_file_and_checks_it(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    np.savez(tmp_path / "mine.npz", X=X, y=(X[:, 0] > 0).astype(int))
    figure = tmp_path / "selu.svg"
    assert main(["run", "selu", "--quick", "--data", str(tmp_path / "mine.npz"), "--set", "device=cpu",
                 "--export", str(figure), "--no-progress"]) == 0
    record = json.loads(figure.with_name(figure.name + ".json").read_text())
    assert record["command"].endswith("--data mine.npz --export selu.svg")
    np.savez(tmp_path / "other.npz", X=X[:100], y=(X[:100, 0] > 0).astype(int))
    with pytest.raises(PaperscopeError, match="does not give the recorded parameters: data"):
        rp.reproduce(figure, data=tmp_path / "other.npz")
    capsys.readouterr()
    assert main(["reproduce", str(figure), "--no-progress"]) == 0  # mine.npz, found beside the figure
    assert "MATCH" in capsys.readouterr().err


def test_the_recorded_thread_count_is_used(tmp_path, monkeypatch, capsys):
    """nsdim's least-squares error is sensitive to where a thread split cuts a sum: the run is
    repeated on the recorded two threads, whatever this process's policy says."""
    lab = get_lab("nsdim")
    one, two = (run_to_end(lab.run, lab.Params.preset("quick", device="cpu"), threads=n).metrics for n in (1, 2))
    if one == two:
        pytest.skip("this torch gives nsdim the same numbers on 1 and 2 threads: nothing to tell apart")
    figure = tmp_path / "nsdim.svg"
    monkeypatch.setenv("PAPERSCOPE_THREADS", "2")
    assert main(["run", "nsdim", "--quick", "--set", "device=cpu", "--export", str(figure), "--no-progress"]) == 0
    monkeypatch.delenv("PAPERSCOPE_THREADS")
    recorded = json.loads(figure.with_name(figure.name + ".json").read_text())
    assert recorded["threads"] == 2
    outcome = rp.reproduce(figure)
    assert json.loads(outcome.sidecar.read_text())["metrics"] == recorded["metrics"]

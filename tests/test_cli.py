"""The command line: listing, headless runs with export, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from paperscope.cli import main


def paperscope(*args):
    return subprocess.run([sys.executable, "-m", "paperscope.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_list(capsys):
    assert main(["list", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert "rich-lazy" in names
    assert main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(names[0] + "\t")


@pytest.mark.parametrize("args,needle", [
    (["run", "no-such-lab"], "unknown lab 'no-such-lab'"),
    (["run", "rich-lazy", "--set", "depth=3"], "unknown parameter 'depth'"),
    (["run", "rich-lazy", "--set", "hidden_size=9999"], "from 8 to 512"),
    (["run", "rich-lazy", "--set", "hidden_size=big"], "expected an integer"),
    (["run", "rich-lazy", "--set", "network=cnn"], "one of rnn, linear"),
    (["run", "rich-lazy", "--set", "hidden_size"], "name=value"),
    (["run", "rich-lazy", "--export", "fig.jpg"], "must be one of .pdf, .svg, .png"),
    (["serve", "--address", "0.0.0.0"], "--allow-websocket-origin"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


def test_bad_input_from_a_shell_has_no_traceback():
    proc = paperscope("run", "rich-lazy", "--set", "hidden_size=9999")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_run_exports_figure_sidecar_and_json(tmp_path):
    fig, out = tmp_path / "fig.pdf", tmp_path / "out.json"
    proc = paperscope("run", "rich-lazy", "--quick", "--seed", "3", "--set", "steps=40", "--no-progress",
                      "--export", str(fig), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert fig.read_bytes().startswith(b"%PDF") and fig.stat().st_size > 5000
    record = json.loads(out.read_text())
    assert set(record) == {"lab", "params", "metrics", "versions"}
    assert record["params"]["seed"] == 3 and record["params"]["steps"] == 40
    ranks = record["metrics"]["by_rank"]
    assert len(ranks) == record["params"]["n_ranks"]
    for metrics in ranks.values():
        assert {"effective_rank", "weight_change", "kernel_alignment", "representation_alignment",
                "final_loss", "accuracy"} <= set(metrics)
    sidecar = json.loads((tmp_path / "fig.pdf.json").read_text())
    assert sidecar["seed"] == 3 and sidecar["device"] == "cpu" and sidecar["complete"] is True
    assert sidecar["metrics"] == record["metrics"] and {"torch", "numpy", "paperscope"} <= set(sidecar["versions"])


def test_divergence_is_reported_with_step_and_cause():
    proc = paperscope("run", "rich-lazy", "--quick", "--no-progress", "--set", "lr=1", "--set", "init_scale=5")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "step" in proc.stderr and "learning rate" in proc.stderr

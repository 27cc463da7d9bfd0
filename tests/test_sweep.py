"""``paperscope sweep``: grid checks, a real sweep on a local Dask cluster at quick size, the tidy
table (CSV == Parquet), the figure, skipping on re-runs and failed configurations as rows."""

import contextlib
import io
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from paperscope.cli import main
from paperscope.core.registry import get_lab
from paperscope.service import sweep

# 2 widths x 2 learning rates x 2 seeds at quick size, 40 steps (~0.2 s a run on one thread):
# lr=1 diverges within ~20 steps, so its 4 runs fail while the other 4 succeed.
GRID = ["--grid", "hidden_size=16,24", "--grid", "lr=0.003,1"]
FIXED = ["--set", "steps=40"]


def cli(*args):
    """Run ``paperscope`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


# -- input checks (no cluster starts) ---------------------------------------------------------


def test_grid_values_are_coerced_in_order_without_duplicates():
    cls = get_lab("rich-lazy").Params
    grid = sweep.parse_grid(cls, ["lr=1e-2,0.001,0.01", "network=linear,rnn", "aligned=true,false"])
    assert grid == {"lr": [0.01, 0.001], "network": ["linear", "rnn"], "aligned": [True, False]}
    assert isinstance(grid["lr"][0], float)
    assert sweep.parse_fixed(cls, ["steps=20"], grid) == {"steps": 20}


def test_plan_lists_every_configuration_and_seed_with_stable_keys():
    plan = sweep.plan("rich-lazy", ["hidden_size=16,24", "lr=0.003,1"], ["steps=40"], 3, "quick")
    assert len(plan.tasks) == 2 * 2 * 3 and plan.names == ["hidden_size", "lr", "steps"]
    assert plan.tasks[0].values == {"hidden_size": 16, "lr": 0.003, "steps": 40} and plan.tasks[0].seed == 0
    assert len({t.key for t in plan.tasks}) == len(plan.tasks)
    again = sweep.plan("rich-lazy", ["hidden_size=16,24", "lr=0.003,1"], ["steps=40"], 3, "quick")
    assert [t.key for t in again.tasks] == [t.key for t in plan.tasks]
    other = sweep.plan("rich-lazy", ["hidden_size=16,24", "lr=0.003,1"], ["steps=41"], 3, "quick")
    assert not {t.key for t in other.tasks} & {t.key for t in plan.tasks}  # a fixed value is in the key


@pytest.mark.parametrize("args,needle", [
    (["no-such-lab"], "unknown lab 'no-such-lab'"),
    (["rich-lazy", "--grid", "depth=1,2"], "unknown parameter 'depth'"),
    (["rich-lazy", "--grid", "hidden_size=16,9999"], "from 8 to 512"),
    (["rich-lazy", "--grid", "hidden_size=16,big"], "expected an integer"),
    (["rich-lazy", "--grid", "network=rnn,cnn"], "one of rnn, linear"),
    (["rich-lazy", "--grid", "hidden_size"], "name=values"),
    (["rich-lazy", "--grid", "hidden_size=,"], "has no values"),
    (["rich-lazy", "--grid", "hidden_size=16", "--grid", "hidden_size=24"], "given twice"),
    (["rich-lazy", "--grid", "seed=1,2"], "--seeds"),
    (["rich-lazy", "--grid", "lr=0.1", "--set", "lr=0.2"], "both swept"),
    (["rich-lazy", "--set", "lr=0"], "from 0 to 1"),
    (["rich-lazy", "--seeds", "0"], "at least 1"),
    (["rich-lazy", "--workers", "0"], "at least 1"),
    (["rich-lazy", "--format", "jpg"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    code, _, err = cli("sweep", *args, "--out", str(tmp_path / "out"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_on_a_machine_without_one_fails_before_any_work(tmp_path):
    code, _, err = cli("sweep", "rich-lazy", "--set", "device=cuda", "--out", str(tmp_path))
    assert code == 2 and "no CUDA GPU" in err


def test_gpu_tasks_ask_for_gpu_workers():
    remote = sweep.plan("rich-lazy", ["device=cpu,cuda"], [], 1, "quick", local=False)
    assert sweep.wants_gpu(remote, local=False)
    cpu = sweep.plan("rich-lazy", [], ["device=cpu"], 1, "quick")
    assert not sweep.wants_gpu(cpu, local=True)


def test_metrics_are_flattened_scalars():
    metrics = {"loss": np.float32(0.5), "n": 3, "history": [{"stage": 0}], "network": "rnn",
               "by_rank": {"1": {"accuracy": 0.9}}, "seed": 7}
    assert sweep.flatten_metrics(metrics, reserved=sweep.RESERVED) == {
        "loss": 0.5, "n": 3, "network": "rnn", "by_rank.1.accuracy": 0.9, "metric.seed": 7}


def test_summary_is_mean_and_standard_error_over_successful_seeds():
    table = pd.DataFrame({"w": [1, 1, 1, 2, 2], "seed": [0, 1, 2, 0, 1], "m": [1.0, 2.0, 6.0, 4.0, np.nan],
                          "status": ["ok", "ok", "ok", "ok", "error"]})
    s = sweep.summarize(table, ["w"], ["m"]).set_index("w")
    assert s.loc[1, "mean"] == pytest.approx(3.0) and s.loc[1, "n"] == 3
    assert s.loc[1, "sem"] == pytest.approx(np.std([1, 2, 6], ddof=1) / math.sqrt(3))
    assert s.loc[2, "mean"] == 4.0 and s.loc[2, "sem"] == 0.0 and s.loc[2, "n"] == 1


def test_import_and_other_commands_do_not_load_dask():
    code = ("import sys, paperscope, paperscope.cli, paperscope.service.sweep; "
            "print([m for m in ('dask', 'distributed') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- a real sweep on a local cluster ----------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "rich-lazy"
    code, stdout, stderr = cli("sweep", "rich-lazy", "--quick", *GRID, *FIXED, "--seeds", "2", "--workers", "2",
                               "--no-dashboard", "--format", "png", "--out", str(out))
    assert code == 0, stderr
    return out, stdout, stderr


def test_sweep_writes_one_row_per_configuration_and_seed(swept):
    out, stdout, _ = swept
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 8 and list(table.columns[:7]) == ["lab", "hidden_size", "lr", "steps", "seed", "preset",
                                                           "status"]
    assert {"device", "seconds", "error", "key", "code", "by_rank.1.kernel_alignment"} <= set(table.columns)
    assert sorted(zip(table.hidden_size, table.lr, table.seed)) == sorted(
        (h, lr, s) for h in (16, 24) for lr in (0.003, 1.0) for s in (0, 1))
    assert (table.lab == "rich-lazy").all() and (table.preset == "quick").all() and (table.steps == 40).all()
    assert "history" not in " ".join(table.columns)
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 8 and lines[-1].startswith("[8/8] ")


def test_a_failing_configuration_is_a_row_and_the_others_succeed(swept):
    table = pd.read_parquet(swept[0] / "results.parquet")
    failed, ok = table[table.lr == 1.0], table[table.lr == 0.003]
    assert (failed.status == "error").all() and failed.error.str.contains("NaN/inf").all()
    assert (ok.status == "ok").all() and ok.error.isna().all()
    assert np.isfinite(ok["by_rank.1.weight_change"].astype(float)).all()
    assert (ok.device == "cpu").all() and (ok.seconds > 0).all()
    assert "lr=1 seed=0 error" in swept[1] and "NaN/inf" in swept[1] and "4 of 8 runs failed" in swept[2]


def test_csv_and_parquet_hold_the_same_table(swept):
    out = swept[0]
    parquet = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(parquet.columns)
    pd.testing.assert_frame_equal(csv.astype(object).where(csv.notna(), None),
                                  parquet.astype(object).where(parquet.notna(), None),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


def test_figure_summary_and_sidecar(swept):
    out = swept[0]
    assert (out / "figure.png").read_bytes().startswith(b"\x89PNG") and (out / "figure.png").stat().st_size > 20_000
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.lr) == {0.003} and (summary.n == 2).all()  # the failed lr has no mean
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["grid"] == {"hidden_size": [16, 24], "lr": [0.003, 1.0]} and meta["fixed"] == {"steps": 40}
    assert meta["seeds"] == [0, 1] and meta["ran"] == 8 and meta["failed"] == 4 and meta["workers"] == 2
    assert meta["command"].startswith("paperscope sweep rich-lazy --grid=hidden_size=16,24")
    assert {"paperscope", "torch"} <= set(meta["versions"]) and meta["metrics"]


def test_a_rerun_skips_everything_already_in_the_table(swept):
    out = swept[0]
    before = pd.read_parquet(out / "results.parquet")
    code, stdout, stderr = cli("sweep", "rich-lazy", "--quick", *GRID, *FIXED, "--seeds", "2",
                               "--metric", "by_rank.1.weight_change", "--out", str(out))
    assert code == 0, stderr
    assert "8 already in" in stdout and "0 to run" in stdout and "[1/" not in stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), before)
    assert (out / "figure.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((out / "sweep.json").read_text())["metrics"] == ["by_rank.1.weight_change"]
    code, _, stderr = cli("sweep", "rich-lazy", "--quick", *GRID, *FIXED, "--seeds", "2",
                          "--metric", "no_such_metric", "--out", str(out))
    assert code == 2 and "unknown metric 'no_such_metric'" in stderr and "by_rank.1.weight_change" in stderr


def test_retry_errors_on_a_running_scheduler(swept):
    """``--scheduler`` connects to a cluster that is already up; ``--retry-errors`` re-runs failures."""
    from distributed import LocalCluster

    out = swept[0]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code, stdout, stderr = cli("sweep", "rich-lazy", "--quick", *GRID, *FIXED, "--seeds", "2", "--retry-errors",
                                   "--scheduler", cluster.scheduler_address, "--out", str(out))
        assert code == 0, stderr
        assert "4 already in" in stdout and "4 to run" in stdout and cluster.scheduler_address in stdout
        assert stdout.count(" error ") == 4 and len(pd.read_parquet(out / "results.parquet")) == 8
        # The workers of this cluster offer no GPU: tasks that need one are refused up front.
        code, _, stderr = cli("sweep", "rich-lazy", "--quick", "--set", "device=cuda", "--set", "steps=1",
                              "--seeds", "1", "--scheduler", cluster.scheduler_address, "--out", str(out / "gpu"))
        assert code == 2 and "--resources GPU=1" in stderr


"""The GPU check (benchmarks/gpu_check.py) keeps working: CI has no GPU, so it runs on the CPU at
quick size, and its comparison helpers are checked on small hand-made records."""

import importlib.util
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_on_cpu(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--labs", "vr-halpern", "thresholdout",
                           "--sizes", "quick", "--skip-verify", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PAPERSCOPE_DEVICE": "cpu"})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[1:-1]]
            for line in (out / "gpu_check.md").read_text().splitlines() if line.startswith("| ")}
    head = rows["lab"]
    for lab in ("vr-halpern", "thresholdout"):
        assert rows[lab][head.index("size")] == "quick"
        assert rows[lab][head.index("finite")] == "yes"
    assert (out / "gpu_check.json").is_file()


@dataclass(frozen=True)
class _Inner:
    values: np.ndarray


@dataclass(frozen=True)
class _Frame:
    curve: np.ndarray
    label: str
    budget: float
    parts: tuple
    metrics: dict


def test_nonfinite_leaves_are_found_through_nesting_and_judged_against_the_reference():
    gc = _module()
    frame = _Frame(curve=np.array([1.0, np.nan, 3.0]), label="x", budget=math.inf,
                   parts=(_Inner(np.array([0.0, np.inf])), 2.0), metrics={"a": {"b": float("nan")}, "ok": True})
    masks = gc.nonfinite_masks(frame)
    assert sorted(masks) == ["budget", "curve", "metrics.a.b", "parts[0].values"]
    reference = {"curve": np.array([False, True, False]), "budget": np.array(True)}  # NaN / inf by design
    assert sorted(gc.new_nonfinite(masks, reference)) == ["metrics.a.b", "parts[0].values"]
    masks["curve"] = np.array([True, True, False])  # one more NaN than the CPU run has
    assert "curve" in gc.new_nonfinite(masks, reference)


def test_metric_differences_are_relative_over_flattened_scalars():
    gc = _module()
    ours = {"loss": 1.0, "by": {"x": 2.0, "y": 0.0}, "flag": True, "curve": [1, 2]}
    theirs = {"loss": 1.1, "by": {"x": 2.0, "y": 0.0}, "flag": False}
    assert gc.flat_metrics(ours) == {"loss": 1.0, "by.x": 2.0, "by.y": 0.0}
    diff, name = gc.largest_difference(ours, theirs)
    assert name == "loss" and math.isclose(diff, 0.1 / 1.1)
    assert gc.relative_difference(float("nan"), 1.0) == math.inf
    assert gc.relative_difference(float("nan"), float("nan")) == 0.0

"""Benchmark harness: performance as ratios of rates measured side by side in one run.

Benchmark files live in the checkout's ``benchmarks/`` folder, one per lab or topic
(``benchmarks/<name>.py``), each defining ``cases() -> list[Comparison]``. ``paperscope bench``
runs them and prints a table; absolute timings depend on the machine, ratios travel.
"""

import importlib.util
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import PaperscopeError


@dataclass(frozen=True)
class Comparison:
    """A candidate against a baseline doing the same work, as rates (higher is better)."""

    topic: str
    baseline: str
    candidate: str
    unit: str  # e.g. "steps/s"
    baseline_rate: float
    candidate_rate: float
    device: str = "cpu"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.candidate_rate / self.baseline_rate

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def interleaved_rates(baseline: Callable[[], int], candidate: Callable[[], int], *,
                      repeats: int = 3) -> tuple[float, float]:
    """Rates of two workloads measured alternately, so machine load hits both alike."""
    baseline(), candidate()  # warm-up
    best_b = best_c = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        units = baseline()
        best_b = max(best_b, units / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        units = candidate()
        best_c = max(best_c, units / (time.perf_counter() - t0))
    return best_b, best_c


def benchmarks_dir() -> Path:
    """The checkout's ``benchmarks/`` folder (present in a source checkout / editable install)."""
    return Path(__file__).resolve().parents[3] / "benchmarks"


def available() -> list[str]:
    """Benchmark files that define ``cases`` (others in the folder are standalone scripts)."""
    folder = benchmarks_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py")
                  if not p.stem.startswith("_") and "\ndef cases(" in p.read_text())


def load_cases(name: str) -> Callable[[], list[Comparison]]:
    """The ``cases`` function of ``benchmarks/<name>.py`` (slug dashes become underscores)."""
    path = benchmarks_dir() / f"{name.replace('-', '_')}.py"
    if not path.is_file():
        have = ", ".join(available()) or "none (benchmarks/ lives in the source checkout)"
        raise PaperscopeError(f"no benchmark named {name!r}; available: {have}")
    spec = importlib.util.spec_from_file_location(f"paperscope_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cases


def format_table(rows: list[Comparison]) -> str:
    """A plain-text table, one comparison per line."""
    header = ("topic", "baseline", "candidate", "baseline", "candidate", "ratio", "device")
    body = [(r.topic, r.baseline, r.candidate, f"{r.baseline_rate:.3g} {r.unit}",
             f"{r.candidate_rate:.3g} {r.unit}", f"{r.ratio:.2f}x", r.device) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"* {r.topic}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + notes)


def format_measures(rows: list[tuple[str, str]]) -> str:
    """A plain-text two-column table of (measure, value) rows (the whole-stack scripts)."""
    width = max(len(name) for name, _ in rows)
    lines = [f"{'measure':{width}s}  value", f"{'-' * width}  -----"]
    return "\n".join(lines + [f"{name:{width}s}  {value}" for name, value in rows])

import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    # The same thread policy the app's workers use: on 2 shared cores, 1 intra-op thread was
    # 2-30x faster for these small models than torch's default (benchmarks/rich_lazy.py).
    from paperscope.core.device import apply_thread_policy

    apply_thread_policy()


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_collection_modifyitems(config, items):
    """Browser tests run only in their own process (``-m browser``): sync Playwright and
    asyncio-based tests clash in one interpreter."""
    markexpr = config.getoption("-m") or ""
    if "browser" in markexpr and "not browser" not in markexpr:
        return
    skip = pytest.mark.skip(reason="browser tests run in their own pytest process: pytest -m browser")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


sys.path.insert(0, str(ROOT / "tests"))


# -- per-lab time report -------------------------------------------------------------------
LAB_BUDGET_S = 25.0  # unit + claim + app + notebook seconds a lab may take (a report, not a test)
KINDS = ("unit", "claim", "app", "contract", "notebook")
_lab_seconds: dict = defaultdict(lambda: dict.fromkeys(KINDS, 0.0))


def _lab_and_kind(report) -> tuple[str, str] | None:
    """Which lab a test belongs to, and what kind of test it is."""
    path, _, name = report.nodeid.partition("::")
    stem = Path(path).stem
    if path.startswith("tests/labs/test_"):
        lab = stem.removeprefix("test_").removesuffix("_compute")
        kind = "claim" if "claim" in report.keywords else "unit" if stem.endswith("_compute") else "app"
        return lab, kind
    if path == "tests/test_claims.py":  # one class per lab: Test_<lab>::test_claim[<claim id>]
        owner = name.partition("::")[0]
        return (owner.removeprefix("Test_"), "claim") if owner.startswith("Test_") else None
    param = re.search(r"\[([\w-]+)\]$", name)
    if param is None:
        return None
    lab = param.group(1).replace("-", "_")
    if stem in ("test_notebooks", "test_notebooks_in_jupyterlab"):
        return lab, "notebook"
    if stem == "test_contract":
        return lab, "contract"
    return None


def pytest_runtest_logreport(report):
    found = _lab_and_kind(report)
    if found:
        lab, kind = found
        _lab_seconds[lab][kind] += report.duration


def pytest_terminal_summary(terminalreporter):
    """Seconds per lab and kind of test (setup included), summed over the workers, and which
    labs are over the per-lab budget: the suite must stay fast at thirty labs."""
    if not _lab_seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"seconds per lab (budget {LAB_BUDGET_S:.0f} s each)")
    write(f"{'lab':<20}" + "".join(f"{k:>10}" for k in KINDS) + f"{'total':>10}")
    for lab, seconds in sorted(_lab_seconds.items(), key=lambda item: -sum(item[1].values())):
        total = sum(seconds.values())
        flag = "  over budget" if total > LAB_BUDGET_S else ""
        write(f"{lab:<20}" + "".join(f"{seconds[k]:>10.1f}" for k in KINDS) + f"{total:>10.1f}{flag}")

import os
import sys
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

"""The run cache: exact-parameter hits, misses on any change or a damaged entry, a bounded size."""

import pytest

from paperscope.core.errors import ParamError
from paperscope.core.runner import run_to_end
from paperscope.labs import rich_lazy
from paperscope.service import run_cache as cache


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSCOPE_CACHE", str(tmp_path / "cache"))


def _run_counting(calls):
    def run(params):
        calls.append(params.seed)
        yield from rich_lazy.run(params)
    return run


def test_a_stored_run_is_served_without_computing():
    params = rich_lazy.Params.preset("quick", steps=20, device="cpu")
    assert cache.lookup("rich-lazy", params) is None
    frame = run_to_end(rich_lazy.run, params)
    name = cache.store("rich-lazy", params, frame)
    assert name in cache._cache() and cache.runs_dir().is_dir()
    calls = []
    run = cache.reading_cache("rich-lazy", _run_counting(calls))
    frames = list(run(rich_lazy.Params.preset("quick", steps=20, device="cpu")))
    assert calls == [] and len(frames) == 1 and frames[0].metrics == frame.metrics
    # Any other value (here the seed) is a miss and computes.
    frames = list(run(rich_lazy.Params.preset("quick", steps=20, device="cpu", seed=1)))
    assert calls == [1] and frames[-1].done


def test_new_code_or_a_broken_file_means_computing_again(monkeypatch):
    params = rich_lazy.Params.preset("quick", steps=20, device="cpu")
    name = cache.store("rich-lazy", params, run_to_end(rich_lazy.run, params))
    with monkeypatch.context() as m:
        m.setattr(cache, "code_version", lambda: "0.0 another-commit")
        assert cache.lookup("rich-lazy", params) is None
    assert cache.lookup("rich-lazy", params) is not None
    cache._cache().set(name, b"not a pickle")  # an entry that is not a frame
    assert cache.lookup("rich-lazy", params) is None
    cache._cache().set(name, Unloadable())  # an entry whose class no longer loads
    assert cache.lookup("rich-lazy", params) is None


class Unloadable:
    def __reduce__(self):
        return (_fail, ())


def _fail():
    raise AttributeError("a frame class that moved")


def test_only_finished_runs_are_stored():
    params = rich_lazy.Params.preset("quick", steps=20, device="cpu")
    first = next(rich_lazy.run(params))
    with pytest.raises(ValueError):
        cache.store("rich-lazy", params, first)


def test_precompute_fills_the_cache_the_app_reads(capsys):
    from paperscope.cli import main
    from paperscope.core.runner import DONE
    from paperscope.ui.app import LabApp

    argv = ["precompute", "rich-lazy", "--quick", "--grid", "hidden_size=16,24", "--set", "steps=20"]
    assert main(argv) == 0
    assert "2 stored, 0 already cached" in capsys.readouterr().err
    assert main(argv) == 0  # a second time: nothing to compute
    assert "0 stored, 2 already cached" in capsys.readouterr().err
    calls = []
    app = LabApp("rich-lazy", params=rich_lazy.Params.preset("quick", hidden_size=24, steps=20), autostart=False)
    app.runner._compute = cache.reading_cache("rich-lazy", _run_counting(calls))
    try:
        app.start()
        assert app.runner.wait(timeout=60) and app.state == DONE and app.frame.done
        assert calls == []  # served from the cache: the lab never ran
    finally:
        app.close()


def test_the_cache_is_bounded_and_its_size_is_configurable(monkeypatch):
    assert cache.size_limit() == 2 * 2**30
    for text, size in (("500M", 500 * 2**20), ("1.5G", 3 * 2**29), ("4096", 4096), ("2 GiB", 2 * 2**30)):
        monkeypatch.setenv("PAPERSCOPE_CACHE_SIZE", text)
        assert cache.size_limit() == size
    monkeypatch.setenv("PAPERSCOPE_CACHE_SIZE", "lots")
    with pytest.raises(ParamError, match="PAPERSCOPE_CACHE_SIZE"):
        cache.size_limit()
    monkeypatch.setenv("PAPERSCOPE_CACHE_SIZE", "1M")
    assert cache._cache().size_limit == 2**20 and cache._cache().eviction_policy == "least-recently-used"


WRITER = """
import time
import numpy as np
from paperscope.core.frames import Frame
from paperscope.labs import rich_lazy
from paperscope.service import run_cache
params = rich_lazy.Params.preset("quick", device="cpu")
for i in range(1, 41):  # 800 kB entries: stored as files beside the index, replaced under one key
    run_cache.store("rich-lazy", params, Frame(step=i, total_steps=40, metrics={"i": i, "a": np.full(100_000, i)}))
    time.sleep(0.01)  # a window for the reader between writes, however fast the disk
print("written", flush=True)
"""


def test_a_writer_in_another_process_never_shows_half_an_entry():
    """What a precompute next to a live server does: every read is a whole entry or a miss."""
    import subprocess
    import sys

    params = rich_lazy.Params.preset("quick", device="cpu")
    cache.runs_dir().mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE, text=True)
    seen = set()
    while writer.poll() is None:
        frame = cache.lookup("rich-lazy", params)
        if frame is not None:
            assert (frame.metrics["a"] == frame.metrics["i"]).all() and frame.step == frame.metrics["i"]
            seen.add(frame.step)
    assert writer.wait() == 0 and writer.stdout.read().strip() == "written"
    assert cache.lookup("rich-lazy", params).step == 40 and seen

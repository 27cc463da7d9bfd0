"""The precomputed-results cache: exact-parameter hits, misses on any change, atomic files."""

import pytest

from paperscope.core import cache
from paperscope.core.runner import run_to_end
from paperscope.labs import rich_lazy


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
    path = cache.store("rich-lazy", params, frame)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    calls = []
    run = cache.reading_cache("rich-lazy", _run_counting(calls))
    frames = list(run(rich_lazy.Params.preset("quick", steps=20, device="cpu")))
    assert calls == [] and len(frames) == 1 and frames[0].metrics == frame.metrics
    # Any other value (here the seed) is a miss and computes.
    frames = list(run(rich_lazy.Params.preset("quick", steps=20, device="cpu", seed=1)))
    assert calls == [1] and frames[-1].done


def test_new_code_or_a_broken_file_means_computing_again(monkeypatch):
    params = rich_lazy.Params.preset("quick", steps=20, device="cpu")
    path = cache.store("rich-lazy", params, run_to_end(rich_lazy.run, params))
    monkeypatch.setattr(cache, "code_version", lambda: "0.0 another-commit")
    assert cache.lookup("rich-lazy", params) is None
    monkeypatch.undo()
    monkeypatch.setenv("PAPERSCOPE_CACHE", str(path.parents[1]))
    path.write_bytes(b"not a pickle")
    assert cache.lookup("rich-lazy", params) is None


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

"""The framework's memo: a bounded LRU whose entries live as long as the sessions that use them."""

import contextvars
import random
import threading
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from paperscope.core import memo as memo_module
from paperscope.core.memo import Memo, current_session, measure, release_session, session


def array(nbytes: int) -> np.ndarray:
    return np.zeros(nbytes, dtype=np.uint8)


def test_count_bound_evicts_the_least_recently_used():
    m = Memo("test lru", size=3)
    for key in "abc":
        m.put(key, key.upper())
    assert m.get("a") == "A"  # a is now the most recently used
    m.put("d", "D")
    assert "b" not in m and [k for k, _ in m.items()] == ["c", "a", "d"]
    assert m.get("b") is None and m.get("b", "none") == "none"


def test_byte_bound_counts_arrays_and_keeps_the_newest_even_alone_over_it():
    m = Memo("test bytes", size=10, max_bytes=250)
    m.put("a", array(100))
    m.put("b", array(100))
    assert len(m) == 2 and m.nbytes == 200
    m.put("c", array(100))  # 300 > 250: a goes
    assert [k for k, _ in m.items()] == ["b", "c"] and m.nbytes == 200
    m.put("big", array(1000))
    assert [k for k, _ in m.items()] == ["big"] and m.nbytes == 1000
    m.put("big", array(10))  # replacing a key counts the new value only
    assert m.nbytes == 10


def test_outside_sessions_it_is_a_plain_lru():
    m = Memo("test no session", size=2)
    assert current_session() is None
    m.put("k", 1)
    assert m.holders("k") == frozenset()
    assert release_session("some-session") == 0 and m.get("k") == 1


def test_closing_a_session_frees_what_it_alone_held():
    m = Memo("test release", size=10)
    m.put("kept", 0)  # outside any session: only the bound removes it
    with session("a"):
        assert current_session() == "a"
        m.put("mine", 1)
        assert m.holders("mine") == {"a"}
        m.items()  # reading the snapshot holds nothing
    assert current_session() is None
    assert "mine" not in m and m.get("kept") == 0 and m.holders("kept") == frozenset()
    with session("b"):
        m.put("b's", 2)
        assert release_session("b") == 1 and "b's" not in m  # what session() does as it ends


def test_an_entry_shared_by_two_sessions_lives_until_both_close():
    m = Memo("test shared", size=10)
    with session("a"):
        m.put("model", "trained by a")
        with session("b"):
            assert m.get("model") == "trained by a"
            assert m.holders("model") == {"a", "b"}
        assert m.get("model") == "trained by a" and m.holders("model") == {"a"}  # b closed: a still uses it
    assert "model" not in m


def test_eviction_takes_unheld_entries_before_held_ones():
    m = Memo("test eviction order", size=2)
    with session("b"):
        m.put("held", 1)
        contextvars.Context().run(m.put, "free", 2)  # as CLI code would: outside any session
        assert m.holders("free") == frozenset()
        m.put("new", 3)  # over the bound: "free" goes although "held" is older
        assert [k for k, _ in m.items()] == ["held", "new"]
        m.put("newer", 4)  # everything is held now: the least recently used goes anyway
        assert [k for k, _ in m.items()] == ["new", "newer"]


@dataclass(eq=False)
class Model:
    weights: list
    history: np.ndarray
    notes: dict


def test_measure_walks_dataclasses_and_containers_and_counts_a_tensor_once():
    W = torch.zeros(10, 10)  # 400 bytes
    value = Model([W, W, torch.zeros(5, dtype=torch.float64)], np.zeros(3), {"summary": {"istd": 1.0}})
    assert measure(value) == (400 + 40 + 24, False)
    assert measure({"a": [array(7)], "b": (array(3),)}) == (10, False)


class FakeCudaTensor:
    """What measure reads from a torch tensor (no GPU needed to test the hand-back)."""

    shape, nbytes, is_cuda = (4,), 16, True


def test_freeing_cuda_values_hands_cached_blocks_back(monkeypatch):
    calls = []
    monkeypatch.setattr(memo_module, "release_gpu_memory", lambda: calls.append(1))
    m = Memo("test cuda", size=1)
    m.put("cpu", array(8))
    m.put("cuda", [FakeCudaTensor()])  # evicts the CPU value: nothing to hand back
    assert calls == []
    with session("a"):
        m.put("cuda", [FakeCudaTensor()])  # replaces the CUDA value
    assert len(calls) == 2  # one for the replaced value, one for the session's release
    m.put("again", [FakeCudaTensor()])
    m.clear()
    assert len(calls) == 3 and len(m) == 0 and m.nbytes == 0


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="size"):
        Memo("test size", size=0)


def test_threads_in_their_own_sessions_keep_the_books_straight():
    m = Memo("test threads", size=5, max_bytes=5000)
    errors = []

    def worker(seed: int):
        rng = random.Random(seed)
        try:
            with session(f"s{seed}"):
                for _ in range(2000):
                    key = rng.randrange(20)
                    if m.get(key) is None:
                        m.put(key, array(rng.randrange(1, 2000)))
                    assert len(m) <= 5
        except Exception as exc:  # reported below: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(m) == 0 and m.nbytes == 0  # every entry was put in a session, and all have closed

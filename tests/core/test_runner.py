import threading
import time
from dataclasses import dataclass

import pytest

from paperscope.core.errors import DivergenceError, PaperscopeError
from paperscope.core.frames import Frame, check_finite
from paperscope.core.memo import Memo
from paperscope.core.runner import DONE, ERROR, RUNNING, Runner, run_to_end


@dataclass(frozen=True, kw_only=True)
class Tick(Frame):
    tag: int


class Recorder:
    def __init__(self):
        self.frames, self.states, self.closed = [], [], []
        self.lock = threading.Lock()

    def on_frame(self, frame):
        with self.lock:
            self.frames.append(frame)

    def on_state(self, state, message):
        with self.lock:
            self.states.append((state, message))


def counting(n, delay=0.0, tag=0, closed=None):
    def compute(params):
        try:
            for i in range(n + 1):
                if delay:
                    time.sleep(delay)
                yield Tick(step=i, total_steps=n, tag=params, metrics={"n": n} if i == n else None)
        finally:
            if closed is not None:
                closed.append(params)
    return compute


def test_frames_are_coalesced_and_the_last_always_arrives():
    rec = Recorder()
    runner = Runner(counting(20000), rec.on_frame, rec.on_state, max_fps=20)
    t0 = time.monotonic()
    runner.submit(1)
    assert runner.wait(timeout=30)
    elapsed = time.monotonic() - t0
    runner.close()
    assert rec.frames[-1].done and rec.frames[-1].step == 20000
    assert len(rec.frames) <= 20 * elapsed + 2  # at most ~20 redraws a second
    assert [s for s, _ in rec.states] == [RUNNING, DONE]


def test_a_new_run_s_first_frame_does_not_wait_out_the_pause_of_the_old_one():
    rec = Recorder()
    pause_s = 20.0
    runner = Runner(counting(1000, delay=0.01), rec.on_frame, rec.on_state, max_fps=lambda: 1 / pause_s)
    runner.submit(1)
    while not rec.frames:
        time.sleep(0.01)
    t0 = time.monotonic()
    runner.submit(2)  # the delivery thread is now in its pause after run 1's first frame
    while not any(f.tag == 2 for f in rec.frames):
        assert time.monotonic() - t0 < pause_s / 2, "run 2's first frame waited for run 1's pause"
        time.sleep(0.01)
    runner.close()
    assert sum(f.tag == 1 for f in rec.frames) == 1  # one frame a pause: the budget holds within a run


def test_new_submit_cancels_the_run_in_flight():
    rec, closed = Recorder(), []
    runner = Runner(counting(1000, delay=0.01, closed=closed), rec.on_frame, rec.on_state, max_fps=50)
    runner.submit("old")
    time.sleep(0.2)
    runner.submit("new")
    deadline = time.monotonic() + 5
    while "old" not in closed and time.monotonic() < deadline:
        time.sleep(0.005)
    assert "old" in closed  # its finally ran
    # cancelled between steps, long before its 1000 steps (10 s) were done
    assert max(f.step for f in rec.frames if f.tag == "old") < 500
    time.sleep(0.2)
    tags = [f.tag for f in rec.frames]
    assert "new" in tags and "old" not in tags[tags.index("new"):]  # new data replaces the old
    runner.close()


def test_errors_reach_the_user_and_the_runner_stays_usable():
    def broken(params):
        yield Tick(step=0, total_steps=2, tag=0)
        raise DivergenceError("training loss became NaN/inf at step 1: lower lr")

    rec = Recorder()
    runner = Runner(broken, rec.on_frame, rec.on_state)
    runner.submit(0)
    assert runner.wait(timeout=5)
    assert rec.states[-1] == (ERROR, "training loss became NaN/inf at step 1: lower lr")
    runner._compute = counting(3)
    runner.submit(7)
    assert runner.wait(timeout=5) and rec.states[-1][0] == DONE and rec.frames[-1].tag == 7
    runner.close()


def test_run_to_end_and_check_finite():
    assert run_to_end(counting(5), 3).metrics == {"n": 5}
    with pytest.raises(DivergenceError, match="step 4.*lower lr"):
        check_finite(float("nan"), step=4, what="loss", hint="lower lr")
    with pytest.raises(PaperscopeError):
        run_to_end(lambda p: iter(()), None)


def test_each_runner_is_a_session_and_its_close_frees_what_it_alone_held():
    models = Memo("test runner sessions", size=10)

    def train_or_reuse(key):
        if models.get(key) is None:
            models.put(key, f"model {key}")
        yield Tick(step=1, total_steps=1, tag=key, metrics={})

    rec = Recorder()
    a, b = (Runner(train_or_reuse, rec.on_frame, rec.on_state) for _ in range(2))
    for runner, key in ((a, "shared"), (a, "only a"), (b, "shared")):
        runner.submit(key)
        assert runner.wait(timeout=5)
    run_to_end(train_or_reuse, "cli")  # no session: kept by the bound alone
    assert a.session_id != b.session_id
    assert models.holders("shared") == {a.session_id, b.session_id}
    a.close()
    assert "only a" not in models and models.holders("shared") == {b.session_id}
    b.close()
    assert "shared" not in models and [k for k, _ in models.items()] == ["cli"]

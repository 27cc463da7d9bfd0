"""The workshop's shared compute queue: a slot limit, first come first served, and sessions
sharing the cores frame by frame."""

import threading
import time

from test_runner import Recorder, counting

from paperscope.core.queue import FairQueue
from paperscope.core.runner import Runner


def test_at_most_slots_turns_run_at_once_and_all_finish():
    queue = FairQueue(2)
    running, peak, lock = [0], [0], threading.Lock()

    def work():
        for _ in range(5):
            with queue.turn() as granted:
                assert granted
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.002)
                with lock:
                    running[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stats = queue.stats()
    assert peak[0] == 2 and stats.turns == 30 and stats.busy == 0 and stats.waiting == 0


def served_order(firsts: list[bool]) -> list[int]:
    """The order in which turns lining up one after another (``firsts[k]``: turn k is a run's
    first frame) are served, while the only slot is held until all are in line."""
    queue, order, threads = FairQueue(1), [], []

    def take(k):
        with queue.turn(first=firsts[k]):
            order.append(k)
    with queue.turn():
        for k in range(len(firsts)):
            threads.append(threading.Thread(target=take, args=(k,)))
            threads[-1].start()
            while queue.stats().waiting < k + 1:
                time.sleep(0.001)
    for t in threads:
        t.join(timeout=10)
    return order


def test_waiting_turns_are_served_in_arrival_order():
    assert served_order([False, False, False]) == [0, 1, 2]


def test_first_frames_go_ahead_of_runs_under_way_in_arrival_order():
    assert served_order([False, False, True, True]) == [2, 3, 0, 1]


def test_a_superseded_turn_leaves_the_line():
    queue = FairQueue(1)
    wanted = threading.Event()
    wanted.set()
    result = []
    with queue.turn():
        t = threading.Thread(target=lambda: result.append(_try(queue, wanted)))
        t.start()
        while queue.stats().waiting < 1:
            time.sleep(0.001)
        wanted.clear()  # the session moved a slider: this turn is not wanted any more
        t.join(timeout=5)
    assert result == [False] and queue.stats().waiting == 0


def _try(queue, wanted):
    with queue.turn(wanted.is_set) as granted:
        return granted


def test_sessions_share_one_slot_round_robin():
    """Two long runs in one slot both stream: neither waits for the other to finish."""
    queue = FairQueue(1)
    recs = [Recorder(), Recorder()]
    runners = [Runner(counting(200, delay=0.002), r.on_frame, r.on_state, max_fps=1000,
                      queue_for=lambda params: queue) for r in recs]
    try:
        for k, runner in enumerate(runners):
            runner.submit(k)
        # Once either run is halfway, the other must be well on its way too (a run waiting for
        # the other to finish would be at 0); polled, so a loaded machine only makes it slower.
        deadline, seen = time.monotonic() + 30, [0, 0]
        while max(seen) < 100 and time.monotonic() < deadline:
            time.sleep(0.005)
            seen = [max((f.step for f in list(r.frames)), default=0) for r in recs]
        assert max(seen) >= 100 and min(seen) >= 50, seen
        assert all(runner.wait(timeout=30) for runner in runners)
        assert [r.frames[-1].step for r in recs] == [200, 200]
    finally:
        for runner in runners:
            runner.close()

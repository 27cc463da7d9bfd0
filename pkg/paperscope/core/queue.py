"""The shared compute queue of a workshop server: sessions take turns on the cores and the GPU.

Every session's runner computes one frame at a time (~50 ms of work by the lab contract). In
workshop mode each frame is computed inside a *turn* of a :class:`FairQueue`: at most ``slots``
turns run at once, and waiting turns are served first come, first served. A session that just
had a turn joins the back of the line for its next frame, so N busy sessions share the machine
round-robin, frame by frame, and none can starve the others however long its run is. The
first frame of a new run goes ahead of the line (behind other first frames): what a person
waits for after moving a slider is that first frame, while a run in mid-stream loses one
frame's time, so a room of 30 answers every move quickly and still shares fairly.

One queue per device kind: the CPU queue has as many slots as the machine has cores (each
worker uses one torch thread), a GPU gets one slot per device (kernels from several sessions
would only contend). ``queues_for_workshop`` builds them; ``Runner(queue=...)`` uses one.
"""

import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class QueueStats:
    """A snapshot of a queue, for the liveness/status endpoint and tests."""

    slots: int
    busy: int
    waiting: int
    turns: int  # turns granted so far
    mean_wait_s: float  # mean time a turn waited in line


class FairQueue:
    """A first-come-first-served semaphore with ``slots`` places (one frame per turn)."""

    def __init__(self, slots: int, name: str = "cpu"):
        if slots < 1:
            raise ValueError(f"a compute queue needs at least one slot, got {slots}")
        self.slots, self.name = slots, name
        self._cv = threading.Condition()
        self._line: deque = deque()
        self._busy = 0
        self._turns = 0
        self._waited = 0.0

    @contextmanager
    def turn(self, still_wanted=lambda: True, first: bool = False):
        """Hold one slot for the body. ``still_wanted()`` is polled while waiting: a turn whose
        run was superseded leaves the line (yields ``False``) instead of computing for nothing.
        ``first``: a run's first frame, served before the frames of runs under way."""
        ticket = _FirstTicket() if first else object()
        start = time.monotonic()
        with self._cv:
            if first:  # behind the first frames already waiting, ahead of everything else
                ahead = next((i for i, t in enumerate(self._line) if not isinstance(t, _FirstTicket)),
                             len(self._line))
                self._line.insert(ahead, ticket)
            else:
                self._line.append(ticket)
            while self._line[0] is not ticket or self._busy >= self.slots:
                if not still_wanted():
                    self._line.remove(ticket)
                    self._cv.notify_all()
                    break
                self._cv.wait(0.1)
            else:
                self._line.popleft()
                self._busy += 1
                self._turns += 1
                self._waited += time.monotonic() - start
                self._cv.notify_all()
                ticket = None
        if ticket is not None:  # left the line
            yield False
            return
        try:
            yield True
        finally:
            with self._cv:
                self._busy -= 1
                self._cv.notify_all()

    def stats(self) -> QueueStats:
        with self._cv:
            mean = self._waited / self._turns if self._turns else 0.0
            return QueueStats(self.slots, self._busy, len(self._line), self._turns, mean)


class _FirstTicket:
    """A place in line for a run's first frame."""


def cpu_slots() -> int:
    """Cores this process may use (the CPU queue's size)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def queues_for_workshop(cpu: int | None = None, gpu: int | None = None) -> dict[str, FairQueue]:
    """Device kind -> queue: ``cpu`` with one slot per core, ``cuda``/``mps`` with ``gpu`` slots
    (default one: kernels from several sessions would only contend; a large GPU serving many
    small runs can take a few, e.g. ``--gpu-slots 4`` for a room of 50)."""
    return {"cpu": FairQueue(cpu or cpu_slots(), "cpu"), "cuda": FairQueue(gpu or 1, "cuda"),
            "mps": FairQueue(gpu or 1, "mps")}


# The queues of this server process (None: every session computes freely, as a single user).
_shared: dict[str, FairQueue] | None = None


def share_compute(queues: dict[str, FairQueue] | None) -> None:
    """Make every session of this process wait in ``queues`` (``None`` turns sharing off)."""
    global _shared
    _shared = queues


def shared_queue_for(params) -> FairQueue | None:
    """The shared queue a run with ``params`` waits in, or ``None`` outside workshop mode."""
    if _shared is None:
        return None
    from .device import resolve_device

    return _shared.get(resolve_device(getattr(params, "device", "cpu")).type)


def shared_stats() -> dict[str, QueueStats]:
    return {} if _shared is None else {kind: q.stats() for kind, q in _shared.items()}

"""Background compute with cooperative cancellation and frame coalescing.

One :class:`Runner` per session owns two threads:

- the *compute* thread runs a lab's ``run(params)`` generator. ``submit`` bumps a generation
  token; the generator is checked between frames and closed as soon as a newer request exists
  (``close()`` runs its ``finally`` now rather than at garbage collection);
- the *delivery* thread hands frames to the UI at most ``max_fps`` times a second (a number,
  or a function asked before each pause: a workshop room shares one budget among its
  sessions). Frames are complete snapshots, so only the newest waiting frame is delivered and
  older ones are dropped; the last frame of a run is always delivered, and state changes
  ("running", "done", "error") are never dropped. Frames and states of a superseded
  generation are discarded. A new run's first frame never waits out the pause that follows
  the old run's last delivery: it is what a person who just moved a slider is waiting for.

Each runner is one session (``session_id``): its compute thread runs inside
:func:`~paperscope.core.memo.session`, so what the lab keeps in a :class:`~paperscope.core.memo.Memo`
is held while the runner lives and freed when it closes.

In workshop mode (``queue_for``) every frame is computed in a turn of a shared
:class:`~paperscope.core.queue.FairQueue`, so many sessions share the cores round-robin.

``on_frame`` may block (the UI waits for the browser's event loop to apply an update): that
back-pressure is what keeps a slow client from piling up work.
"""

import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator

from .device import apply_thread_policy
from .errors import PaperscopeError
from .frames import Frame
from .memo import release_gpu_memory, session
from .queue import FairQueue

RUNNING, DONE, ERROR = "running", "done", "error"
FIRST_FRAME_WAIT_S = 2.0  # a new run pauses after its first frame until it is drawn (or this long)
_SESSION_IDS = itertools.count(1)  # never reused, unlike id(): a late release cannot hit a newer session


def describe_error(exc: BaseException) -> str:
    """One line for the status bar: our own errors as written, others with their type."""
    if isinstance(exc, PaperscopeError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "ran out of memory: lower the sizes (hidden size, batch, probe size) or use the quick preset"
    return f"{type(exc).__name__}: {exc}"


class Runner:
    """Runs ``compute(params)`` in the background; the newest ``submit`` always wins."""

    def __init__(self, compute: Callable[[object], Iterator[Frame]],
                 on_frame: Callable[[Frame], None],
                 on_state: Callable[[str, str], None] = lambda state, message: None,
                 max_fps: float | Callable[[], float] = 20.0, threads: int | None = None,
                 queue_for: Callable[[object], FairQueue | None] | None = None):
        self._compute = compute
        self._queue_for = queue_for  # params -> the shared queue its frames wait in (workshop)
        self._on_frame = on_frame
        self._on_state = on_state
        self._max_fps = max_fps if callable(max_fps) else (lambda: max_fps)
        self._threads = threads
        self._cv = threading.Condition()
        self._generation = 0
        self._job = None  # (generation, params) waiting to start
        self._frame = None  # (generation, frame) newest undelivered frame
        self._states = deque()  # (generation, state, message)
        self._settled = 0  # newest generation whose final state has been delivered
        self._shown = threading.Event()  # set when the running job's first frame is on screen
        self._closed = False
        self.session_id = f"runner-{next(_SESSION_IDS)}"
        self._workers = [threading.Thread(target=self._compute_loop, name="paperscope-compute", daemon=True),
                         threading.Thread(target=self._deliver_loop, name="paperscope-deliver", daemon=True)]
        for worker in self._workers:
            worker.start()

    # -- public API ---------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self._generation

    def submit(self, params) -> int:
        """Start a run with ``params``, cancelling the one in flight; returns its generation."""
        with self._cv:
            if self._closed:
                raise RuntimeError("this runner is closed")
            self._generation += 1
            self._job = (self._generation, params)
            self._cv.notify_all()
        self._shown.set()  # a paused older run must not hold up the new one
        return self._generation

    def cancel(self) -> None:
        """Stop the run in flight (its pending frames are dropped)."""
        self._shown.set()
        with self._cv:
            self._generation += 1
            self._job = None
            self._settled = self._generation  # nothing left to wait for
            self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the newest run has finished and its output was delivered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._settled != self._generation and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self) -> None:
        """Cancel and let both threads end (frees the lab's tensors via generator close, and
        the memo entries only this session held: the compute thread releases them as it ends)."""
        self._shown.set()
        with self._cv:
            self._closed = True
            self._generation += 1
            self._cv.notify_all()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout=5)
        release_gpu_memory()

    # -- compute thread -----------------------------------------------------------------------
    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._closed

    def _compute_loop(self) -> None:
        apply_thread_policy(self._threads)
        # Released by this thread as it ends, after its last run: no use can follow the release.
        with session(self.session_id):
            self._serve_jobs()

    def _serve_jobs(self) -> None:
        while True:
            with self._cv:
                while self._job is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                generation, params = self._job
                self._job = None
            self._run_job(generation, params)

    def _run_job(self, generation: int, params) -> None:
        self._post_state(generation, RUNNING, "running")
        frames = None
        self._shown.clear()
        try:
            frames = self._compute(params)
            queue = self._queue_for(params) if self._queue_for is not None else None
            for index in itertools.count():
                if queue is None:
                    frame = next(frames, None)
                else:  # one frame's work per turn in the shared queue
                    with queue.turn(lambda: self._current(generation), first=index == 0) as granted:
                        if not granted:
                            return
                        frame = next(frames, None)
                if frame is None:
                    break
                if not self._current(generation):
                    return
                with self._cv:
                    self._frame = (generation, frame)
                    self._cv.notify_all()
                if index == 0:  # first paint first: compute competes with drawing for the CPU
                    self._shown.wait(FIRST_FRAME_WAIT_S)
            self._post_state(generation, DONE, "done")
        except Exception as exc:  # surfaced to the user, never lost in a thread
            traceback.print_exc()
            self._post_state(generation, ERROR, describe_error(exc))
        finally:
            if frames is not None and hasattr(frames, "close"):
                frames.close()

    def _post_state(self, generation: int, state: str, message: str) -> None:
        with self._cv:
            self._states.append((generation, state, message))
            self._cv.notify_all()

    # -- delivery thread ----------------------------------------------------------------------
    def _deliver_loop(self) -> None:
        while True:
            with self._cv:
                while self._frame is None and not self._states and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                frame, self._frame = self._frame, None
                states = list(self._states)
                self._states.clear()
            delivered, started = None, time.monotonic()
            if frame is not None and self._current(frame[0]):
                self._safely(self._on_frame, frame[1])
                self._shown.set()
                delivered = frame[0]
            for generation, state, message in states:
                if self._current(generation):
                    self._safely(self._on_state, state, message)
                    if state in (DONE, ERROR):
                        with self._cv:
                            self._settled = generation
                            self._cv.notify_all()
            if delivered is not None:  # at most max_fps redraws; newer frames coalesce meanwhile
                self._pause(delivered, started + 1.0 / self._max_fps())

    def _pause(self, generation: int, until: float) -> None:
        """Wait until ``until`` (monotonic), or less if a newer run's frame or the close comes."""
        def newer():
            return self._closed or (self._frame is not None and self._frame[0] != generation)
        with self._cv:
            self._cv.wait_for(newer, timeout=max(0.0, until - time.monotonic()))

    @staticmethod
    def _safely(callback, *args) -> None:
        try:
            callback(*args)
        except Exception:  # a broken redraw must not kill the delivery thread
            traceback.print_exc()


def run_to_end(compute: Callable[[object], Iterator[Frame]], params,
               on_frame: Callable[[Frame], None] | None = None, threads: int | None = None) -> Frame:
    """Run synchronously in this thread (CLI, notebooks, tests, sweeps); returns the last frame.

    Torch uses ``threads`` intra-op threads meanwhile (default: ``PAPERSCOPE_THREADS`` or 1, as
    the app's workers) and gets its previous count back afterwards. The labs' small models are
    op-bound: on a 2-core machine a second thread gained at most 1.8x on an idle machine and
    lost 5-40x whenever anything else ran (``paperscope bench``); set ``PAPERSCOPE_THREADS`` for
    a big run on an idle machine.
    """
    import torch

    before = torch.get_num_threads()
    apply_thread_policy(threads)
    last = None
    frames = compute(params)
    try:
        for last in frames:
            if on_frame is not None:
                on_frame(last)
    finally:
        if hasattr(frames, "close"):
            frames.close()
        torch.set_num_threads(before)
    if last is None:
        raise PaperscopeError("the lab produced no frames")
    return last

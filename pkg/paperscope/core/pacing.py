"""Frame pacing, owned by the framework: a lab asks "how many steps now?" and "is a frame
due?" instead of keeping its own ``perf_counter`` timers.

A lab's run is long stretches of small, equal steps (training steps, rows of a grid, layers)
with frames between them. :meth:`Pacer.chunks` splits a stretch into chunks that each take
about ``interval`` seconds (the first chunk is one step; later ones are sized from the measured
rate), and :meth:`Pacer.due` says when an interim frame is due. Chunking never changes the
numbers, only how often the lab looks up: the steps run in the same order either way.

    pace = Pacer()
    yield first_frame()                      # at once: the framework draws it before going on
    for n in pace.chunks(steps):
        trainer.train_steps(n)
        if pace.due():
            yield interim_frame()
    yield final_frame()

A chunk's time is measured from its hand-out to the ``due()`` (or ``chunk_done()``) call after
it, or to the next hand-out when the lab calls neither, so the time the UI takes to draw a
yielded frame does not shrink the next chunk. A lab that yields after every chunk calls
``chunk_done()`` first; one whose steps are not chunked (a layer, a batch) only asks ``due()``;
after a frame yielded outside ``due()`` (a stage's end) it calls ``shown()``. ``max_chunk`` caps
a chunk (memory, or a run only a few intervals long that should still stream); ``max_growth``
caps its growth where step costs vary. Slower interim work (a map, an evaluation) uses an
:class:`Interval` of its own.
"""

import time
from collections.abc import Callable, Iterator

INTERVAL_S = 0.05  # an interim frame at least this often (20 frames/s, the app's redraw cap)


class Interval:
    """A repeating timer: ``due()`` is true once ``seconds`` have passed since the last time it
    was true (or since ``reset``); the first time after ``first`` seconds if given."""

    def __init__(self, seconds: float, first: float | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.seconds, self._clock = seconds, clock
        self._next = clock() + (seconds if first is None else first)

    def due(self) -> bool:
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.seconds
        return True

    def reset(self) -> None:
        """Start the wait again now (a frame was just shown by other means)."""
        self._next = self._clock() + self.seconds


class Pacer:
    """Chunk sizes and interim-frame timing for one run (see the module docstring)."""

    def __init__(self, interval: float = INTERVAL_S, max_chunk: int | None = None,
                 max_growth: float | None = None, clock: Callable[[], float] = time.perf_counter):
        # max_growth: a chunk at most this many times the last one, for steps whose cost varies
        # (one cheap chunk must not make the next one run for seconds).
        self.interval, self.max_chunk, self.max_growth = interval, max_chunk, max_growth
        self._clock = clock
        # A frame is due a little before a full interval: chunks are sized to one interval, and
        # a chunk that ends a hair early must not push its frame to the end of the next chunk
        # (which halved the frame rate of smooth-diffusion's training).
        self._frames = Interval(0.9 * interval, clock=clock)
        self._chunk = 1
        self._work_end = None  # set by due(): when the chunk's own work ended

    def chunks(self, total: int) -> Iterator[int]:
        """Chunk sizes summing to ``total``, each sized to take about ``interval`` seconds."""
        done = 0
        while done < total:
            n = min(self._chunk, total - done)
            self._work_end, start = None, self._clock()
            yield n
            elapsed = (self._work_end if self._work_end is not None else self._clock()) - start
            self._chunk = max(1, round(n * self.interval / max(elapsed, 1e-6)))
            if self.max_growth is not None:
                self._chunk = min(self._chunk, max(1, int(n * self.max_growth)))
            if self.max_chunk is not None:
                self._chunk = min(self._chunk, self.max_chunk)
            done += n

    def chunk_done(self) -> None:
        """The chunk's own work ends here: what follows before the next chunk (building a frame
        that is yielded after every chunk, the UI drawing it) does not count toward its time."""
        if self._work_end is None:
            self._work_end = self._clock()

    def due(self) -> bool:
        """True when an interim frame is due (the wait then starts again); ends the chunk's work
        as :meth:`chunk_done` does."""
        self.chunk_done()
        return self._frames.due()

    def shown(self) -> None:
        """A frame was just yielded outside ``due`` (e.g. at a logged step): restart the wait."""
        self._frames.reset()

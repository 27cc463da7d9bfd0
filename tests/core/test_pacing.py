"""The framework's pacing: chunk sizes follow the measured rate, frames come at the interval."""

from paperscope.core.pacing import Interval, Pacer


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def chunk_sizes(total: int, after_chunk=lambda pace, clock: None, step_s: float = 0.001,
                **pacer) -> list[int]:
    """The chunks a Pacer hands out over ``total`` steps of ``step_s`` each (at 1 ms, 50 make
    an interval); ``after_chunk`` runs after each chunk's work (e.g. a frame being drawn)."""
    clock = FakeClock()
    pace = Pacer(interval=0.05, clock=clock, **pacer)
    sizes = []
    for n in pace.chunks(total):
        sizes.append(n)
        clock.now += step_s * n
        after_chunk(pace, clock)
    return sizes


def test_chunks_cover_the_stretch_and_grow_to_the_interval():
    sizes = chunk_sizes(1000)
    assert sum(sizes) == 1000
    assert sizes[0] == 1
    assert set(sizes[1:-1]) == {50}


def test_drawing_time_after_due_does_not_shrink_the_next_chunk():
    def draw_when_due(pace, clock):
        if pace.due():
            clock.now += 2.0  # the UI draws the frame meanwhile
    sizes = chunk_sizes(300, draw_when_due)
    assert sizes[1] == 50 and sizes[2] == 50


def test_max_chunk_caps_the_size():
    sizes = chunk_sizes(100, step_s=1e-5, max_chunk=16)
    assert max(sizes) == 16 and sum(sizes) == 100


def test_frames_are_due_once_per_interval():
    clock = FakeClock()
    pace = Pacer(interval=0.05, clock=clock)
    due = []
    for _ in range(100):
        clock.now += 0.01
        due.append(pace.due())
    assert 18 <= sum(due) <= 20  # 1 s at one frame per 0.05 s (> 0.05 s strictly)
    pace.shown()
    clock.now += 0.04
    assert not pace.due()


def test_interval_first_wait_and_reset():
    clock = FakeClock()
    timer = Interval(1.5, first=0.6, clock=clock)
    clock.now = 0.5
    assert not timer.due()
    clock.now = 0.7
    assert timer.due() and not timer.due()
    clock.now = 2.1
    assert not timer.due()
    clock.now = 2.3
    assert timer.due()


def test_max_growth_bounds_each_step_up():
    sizes = chunk_sizes(1000, step_s=1e-5, max_growth=4.0)  # uncapped, the 2nd chunk would be 5000
    assert sizes[:4] == [1, 4, 16, 64] and sum(sizes) == 1000


def test_chunk_sizes_carry_over_between_stretches():
    clock = FakeClock()
    pace = Pacer(interval=0.05, clock=clock)
    for n in pace.chunks(200):
        clock.now += 0.001 * n
    second = []
    for n in pace.chunks(200):  # a new stage of the same run: no restart at one step
        second.append(n)
        clock.now += 0.001 * n
    assert second[0] == 50


def test_chunk_done_keeps_a_frame_after_every_chunk_out_of_the_chunk_time():
    def draw_every_chunk(pace, clock):
        pace.chunk_done()
        clock.now += 0.5  # a frame is built and drawn after each chunk
    sizes = chunk_sizes(300, draw_every_chunk)
    assert sizes[1] == 50 and sizes[2] == 50

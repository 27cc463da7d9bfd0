"""The room of a workshop server: who is in it, what each participant runs, what the
instructor did, and every finished run, for the instructor console and the projector page.

One :class:`Room` per server process, shared by every session (Bokeh sessions of one process
share one event loop; the participants' runners report from their own threads, hence the
lock). The room never touches a page: a push asks each participant's app to apply the values
on its own session (:meth:`paperscope.ui.app.LabApp.receive`), and the console redraws from
:meth:`Room.table` / :meth:`Room.participants_of` when :attr:`Room.version` moved.
"""

import datetime
import itertools
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import pandas as pd

from ..core.params import CAP_MULTIPLE
from ..core.registry import get_lab
from ..service.sweep import describe, flatten_metrics

LOG = logging.getLogger("paperscope.instructor")
RUN_COLUMNS = ("participant", "name", "finished")  # what a run's row holds besides parameters and metrics
KEEP_LOG = 200  # instructor actions kept for the console (all go to the server log)
# Live updates a second, summed over the room: about what one 2-core server delivered to pages
# that do not draw (8 sessions x 3.4 a second, benchmarks/room_load.py). Past that, every
# session's updates queue behind the others' on the one event loop and a move's first update
# waits; shared, each of 30 sessions still gets one a second besides its first and last.
ROOM_UPDATES_PER_S = 30.0
SESSION_UPDATES_PER_S = 20.0  # the most one session gets, as outside a workshop


@dataclass
class Participant:
    """One lab session in the room (``app``: its :class:`~paperscope.ui.app.LabApp`)."""

    id: str
    slug: str
    app: object
    instructor: bool = False
    name: str = ""
    follow: bool = True  # apply what the instructor pushes
    joined: float = field(default_factory=time.time)
    metrics: dict = field(default_factory=dict)  # of its latest finished run

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def state(self) -> str:
        return self.app.state

    def values(self) -> dict:
        return self.app.params.values()


@dataclass
class Room:
    """The participants of this process's labs and their finished runs; past ``limit`` live
    sessions new visitors get the full-room page. The gallery is not counted: it computes
    nothing, and a visitor passing through it to a lab would otherwise hold two places for the
    ~15 s Bokeh keeps a closed session."""

    limit: int | None = None
    capped: bool = True  # participants' sizes are capped (the instructor's are not)
    cap_multiple: float = CAP_MULTIPLE
    cap_overrides: dict = field(default_factory=dict)  # slug -> {name: cap}
    live: int = 0
    turned_away: int = 0
    version: int = 0  # moves on every change the console shows
    _participants: dict = field(default_factory=dict, repr=False)  # id -> Participant
    _runs: dict = field(default_factory=dict, repr=False)  # slug -> [row dict]
    _log: deque = field(default_factory=lambda: deque(maxlen=KEEP_LOG), repr=False)
    _projected: dict = field(default_factory=dict, repr=False)  # slug -> (x, y, colour)
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- places -------------------------------------------------------------------------------
    def admit(self) -> bool:
        with self._lock:
            if self.limit is not None and self.live >= self.limit:
                self.turned_away += 1
                return False
            self.live += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.live = max(0, self.live - 1)

    # -- participants -------------------------------------------------------------------------
    def join(self, app, instructor: bool = False) -> Participant:
        with self._lock:
            number = next(self._numbers)
            pid = f"p{number:02d}-{secrets.token_hex(2)}"  # anonymous, short, not guessable in order
            participant = self._participants[pid] = Participant(pid, app.lab.slug, app, instructor)
            self._bump()
        return participant

    def depart(self, participant: Participant) -> None:
        with self._lock:
            if self._participants.pop(participant.id, None) is not None:
                self._bump()

    def participants_of(self, slug: str | None = None, *, instructors: bool = True) -> list[Participant]:
        with self._lock:
            return [p for p in self._participants.values()
                    if (slug is None or p.slug == slug) and (instructors or not p.instructor)]

    def slugs(self) -> list[str]:
        """Labs with someone in them, in order of arrival."""
        with self._lock:
            return list(dict.fromkeys(p.slug for p in self._participants.values()))

    def changed(self) -> None:
        """A participant's name, choice to follow, parameters or run state changed."""
        with self._lock:
            self._bump()

    def _bump(self) -> None:
        self.version += 1

    def updates_per_s(self) -> float:
        """Each session's share of the room's live updates (a runner asks before each pause)."""
        with self._lock:
            sessions = max(1, len(self._participants))
        return min(SESSION_UPDATES_PER_S, ROOM_UPDATES_PER_S / sessions)

    # -- runs ---------------------------------------------------------------------------------
    def finished(self, participant: Participant, values: dict, metrics: dict | None) -> None:
        """Record a participant's finished run (a point of the room's figure)."""
        flat = flatten_metrics(metrics or {}, reserved=set(values) | set(RUN_COLUMNS))
        numeric = {k: v for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        row = {"participant": participant.id, "name": participant.name,
               "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               **values, **numeric}
        with self._lock:
            participant.metrics = numeric
            runs = self._runs.setdefault(participant.slug, [])
            # the same participant running the same settings again is one point, not two
            runs[:] = [r for r in runs if not (r["participant"] == participant.id
                                               and all(r.get(k) == v for k, v in values.items()))]
            runs.append(row)
            self._bump()

    def table(self, slug: str) -> pd.DataFrame:
        """Every finished run of ``slug``: who, when, every parameter (seed included), every
        scalar metric; one row per run."""
        with self._lock:
            rows = list(self._runs.get(slug, ()))
        return pd.DataFrame(rows)

    def clear_runs(self, slug: str, by: str) -> None:
        with self._lock:
            self._runs.pop(slug, None)
            self._bump()
        self.record(by, f"{slug}: cleared the room's runs")

    # -- what the projector shows ---------------------------------------------------------------
    def project(self, slug: str, x: str, y: str, color: str | None) -> None:
        with self._lock:
            self._projected[slug] = (x, y, color)
            self._bump()

    def projected(self, slug: str) -> tuple | None:
        with self._lock:
            return self._projected.get(slug)

    # -- caps ---------------------------------------------------------------------------------
    def caps(self, slug: str) -> dict:
        """The largest value of each size parameter a participant of ``slug`` may run."""
        if not self.capped:
            return {}
        return get_lab(slug).Params.caps(self.cap_multiple, self.cap_overrides.get(slug))

    # -- the instructor's actions -------------------------------------------------------------
    def push(self, slug: str, values: dict, by: str, what: str = "") -> list[Participant]:
        """Ask every following participant of ``slug`` to apply ``values`` and run; returns
        those asked (each app applies them on its own session, without holding this one)."""
        targets = [p for p in self.participants_of(slug, instructors=False) if p.follow]
        note = what or "set " + describe(values)
        for participant in targets:
            participant.app.receive(values, f"{by} {note}")
        self.record(by, f"{slug}: {note} -> {len(targets)} participant(s)")
        return targets

    def assign_grid(self, slug: str, points: list[dict], by: str) -> list[tuple[Participant, dict]]:
        """Give each following participant of ``slug`` the next grid point (round robin in
        order of arrival): the room becomes a sweep."""
        if not points:
            return []
        targets = [p for p in self.participants_of(slug, instructors=False) if p.follow]
        assigned = [(p, points[k % len(points)]) for k, p in enumerate(targets)]
        for k, (participant, values) in enumerate(assigned):
            participant.app.receive(values, f"{by} assigned you grid point {k % len(points) + 1} of "
                                            f"{len(points)}: {describe(values)}")
        self.record(by, f"{slug}: assigned a grid of {len(points)} point(s) to {len(targets)} participant(s)")
        return assigned

    def record(self, by: str, action: str) -> None:
        """Log an instructor action (server log and the console's list)."""
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        LOG.info("instructor %s: %s", by, action)
        with self._lock:
            self._log.appendleft(f"{stamp} {by}: {action}")
            self._bump()

    def log(self) -> list[str]:
        with self._lock:
            return list(self._log)

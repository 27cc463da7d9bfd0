"""``paperscope serve``: the gallery at ``/`` and each lab at ``/<slug>``.

Workshop mode (``--workshop``, or each part by its own flag) makes one server hold a room:
sessions share the cores and the GPU through the compute queue (``core.queue``), a session
limit turns away the N+1-th visitor with a friendly page instead of a slow app for everyone,
and Panel's liveness endpoint and admin page are switched on.
"""

import logging
import threading
from dataclasses import dataclass, field

import panel as pn

from ..core.queue import queues_for_workshop, share_compute, shared_stats
from ..core.registry import all_labs, get_lab
from . import thumbnails
from .app import build_app, extension
from .gallery import gallery
from .page import page

ROOM_FULL_TITLE = "paperscope: the room is full"


@dataclass
class Room:
    """Counts this process's live lab sessions; past ``limit`` new visitors get the full-room
    page. The gallery is not counted: it computes nothing, and a visitor passing through it to
    a lab would otherwise hold two places for the ~15 s Bokeh keeps a closed session."""

    limit: int | None = None
    live: int = 0
    turned_away: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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


def room_full_page(room: Room, slug: str):
    text = (f"## The room is full\n\nAll {room.limit} places of this server are taken right now. "
            f"Please retry in a minute: [open {slug} again](./{slug}).\n\n"
            "While you wait, every lab also runs on your own machine: "
            f"`pip install -e . && paperscope serve {slug}`.")
    return page(ROOM_FULL_TITLE, [pn.pane.Markdown(text, sizing_mode="stretch_width")])


def routes(slugs=(), room: Room | None = None) -> dict:
    """URL path -> page factory (a new page per browser session)."""
    labs = [get_lab(s) for s in slugs] if slugs else all_labs()
    pages = {"/": gallery}
    pages.update({f"/{lab.slug}": _page(lab.slug, room) for lab in labs})
    return pages


def _page(slug: str, room: Room | None):
    def page():  # Panel wants a plain function: it calls it once per session
        if room is None:
            return build_app(slug)
        if not room.admit():
            return room_full_page(room, slug)
        pn.state.on_session_destroyed(lambda context: room.leave())
        return build_app(slug)
    return page


def origins_for(address: str, port: int, extra=()) -> list[str]:
    local = [f"localhost:{port}", f"127.0.0.1:{port}"]
    return list(dict.fromkeys([*local, f"{address}:{port}", *extra]))


@dataclass
class Workshop:
    """The room-holding parts of the server, each on its own."""

    shared_queue: bool = False  # sessions take turns on the cores / GPU, frame by frame
    cpu_slots: int | None = None  # CPU queue size (default: the cores of this process)
    max_sessions: int | None = None  # lab sessions per server process
    liveness: bool = False  # GET /liveness answers 200 while the server runs
    admin: bool = False  # Panel's admin page at /admin (sessions, memory, logs)

    @classmethod
    def room(cls, **overrides) -> "Workshop":
        """What ``--workshop`` switches on (a limit of 30 lab sessions unless told)."""
        return cls(**{"shared_queue": True, "max_sessions": 30, "liveness": True, "admin": True,
                      **overrides})


def quiet_panel_debug_log() -> None:
    """Panel logs every session event at DEBUG and keeps its logger at DEBUG; with the admin
    page on, each record was also parsed and streamed into the page's log table (on the event
    loop every session shares, and growing all day). INFO and above is what an operator reads."""
    logging.getLogger("panel").setLevel(logging.INFO)


def serve(slugs=(), *, port: int = 5006, address: str = "localhost", origins=(), show: bool = True,
          start: bool = True, workshop: Workshop | None = None, **kwargs):
    """Start the server (blocks when ``start``); returns it.

    ``kwargs`` go to Panel/Bokeh: ``basic_auth``, ``oauth_*``, ``cookie_secret``, ``prefix``,
    ``num_procs``, ...
    """
    extension()
    workshop = workshop or Workshop()
    quiet_panel_debug_log()
    share_compute(queues_for_workshop(workshop.cpu_slots) if workshop.shared_queue else None)
    room = Room(workshop.max_sessions) if workshop.max_sessions else None
    server = pn.serve(routes(slugs, room), port=port, address=address,
                      websocket_origin=origins_for(address, port, origins), show=show, start=False,
                      title="paperscope", liveness=workshop.liveness, admin=workshop.admin, **kwargs)
    server.paperscope_room = room  # for tests and the status command
    server.paperscope_queues = shared_stats
    if start:
        server.start()
        labs = [get_lab(s) for s in slugs] if slugs else all_labs()
        thumbnails.start_background(labs, log=logging.getLogger("paperscope.thumbnails").warning)
        server.io_loop.start()
    return server

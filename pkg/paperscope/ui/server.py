"""``paperscope serve``: the gallery at ``/`` and each lab at ``/<slug>``.

Workshop mode (``--workshop``, or each part by its own flag) makes one server hold a room:
sessions share the cores and the GPU through the compute queue (``core.queue``), a session
limit turns away the N+1-th visitor with a friendly page instead of a slow app for everyone,
participants' sizes are capped, and Panel's liveness endpoint and admin page are switched on.
With an instructor credential (``ui.credentials``) the room also gets its instructor console
(``/instructor``, ``/instructor/<slug>``) and projector pages (``/room/<slug>``): ``ui.console``.
"""

import logging
from dataclasses import dataclass, field

import panel as pn

from ..core.params import CAP_MULTIPLE
from ..core.queue import queues_for_workshop, share_compute, shared_stats
from ..core.registry import all_labs, get_lab
from . import thumbnails
from .app import build_app, extension
from .credentials import Instructors, LoginHandler, current_session_is_instructor
from .gallery import gallery
from .page import page
from .room import Room

ROOM_FULL_TITLE = "paperscope: the room is full"


def room_full_page(room: Room, slug: str):
    text = (f"## The room is full\n\nAll {room.limit} places of this server are taken right now. "
            f"Please retry in a minute: [open {slug} again](./{slug}).\n\n"
            "While you wait, every lab also runs on your own machine: "
            f"`pip install -e . && paperscope serve {slug}`.")
    return page(ROOM_FULL_TITLE, [pn.pane.Markdown(text, sizing_mode="stretch_width")])


def routes(slugs=(), room: Room | None = None, instructors: Instructors | None = None, prefix: str = "") -> dict:
    """URL path -> page factory (a new page per browser session)."""
    labs = [get_lab(s) for s in slugs] if slugs else all_labs()
    pages = {"/": gallery}
    pages.update({f"/{lab.slug}": _page(lab.slug, room, instructors) for lab in labs})
    if room is not None and instructors is not None and instructors.configured:
        served = [lab.slug for lab in labs]
        login = f"{prefix}/instructor/login"
        pages["/instructor"] = _console(room, instructors, served, login)
        pages.update({f"/instructor/{slug}": _console(room, instructors, [slug], login) for slug in served})
        pages.update({f"/room/{slug}": _projector(room, slug) for slug in served})
    return pages


def _page(slug: str, room: Room | None, instructors: Instructors | None):
    def page():  # Panel wants a plain function: it calls it once per session
        if room is None:
            return build_app(slug)
        if not room.admit():
            return room_full_page(room, slug)
        pn.state.on_session_destroyed(lambda context: room.leave())
        return build_app(slug, room=room, instructor=current_session_is_instructor(instructors))
    return page


def _console(room: Room, instructors: Instructors, slugs: list[str], login: str):
    def console():
        from .console import Console

        if not current_session_is_instructor(instructors):
            logging.getLogger("paperscope.instructor").warning("console refused: no instructor credential")
            return refused_page(instructors, login)
        return Console(room, slugs, by=pn.state.user or "instructor").view()
    return console


def _projector(room: Room, slug: str):
    def projector():
        from .console import Projector

        return Projector(room, slug).view()
    return projector


def refused_page(instructors: Instructors, login: str):
    how = (f"[sign in with the instructor password]({login})" if instructors.password
           else "sign in as a user the basic-auth file marks as instructor")
    text = f"## The instructor console\n\nThis page is for the workshop's instructor: {how}."
    return page("paperscope: instructor sign-in", [pn.pane.Markdown(text, sizing_mode="stretch_width")])


def origins_for(address: str, port: int, extra=()) -> list[str]:
    local = [f"localhost:{port}", f"127.0.0.1:{port}"]
    return list(dict.fromkeys([*local, f"{address}:{port}", *extra]))


@dataclass
class Workshop:
    """The room-holding parts of the server, each on its own."""

    shared_queue: bool = False  # sessions take turns on the cores / GPU, frame by frame
    cpu_slots: int | None = None  # CPU queue size (default: the cores of this process)
    max_sessions: int | None = None  # lab sessions per server process
    gpu_slots: int | None = None  # GPU queue size (default 1)
    max_sessions: int | None = None  # lab sessions per server process
    liveness: bool = False  # GET /liveness answers 200 while the server runs
    admin: bool = False  # Panel's admin page at /admin (sessions, memory, logs)
    caps: bool = False  # participants' sizes capped at cap_multiple x the paper's (and cap_overrides)
    cap_multiple: float = CAP_MULTIPLE
    cap_overrides: dict = field(default_factory=dict)  # slug -> {name: cap}
    instructors: Instructors = field(default_factory=Instructors)  # who may open the console

    @classmethod
    def room(cls, **overrides) -> "Workshop":
        """What ``--workshop`` switches on (a limit of 30 lab sessions unless told)."""
        return cls(**{"shared_queue": True, "max_sessions": 30, "liveness": True, "admin": True,
                      "caps": True, **overrides})

    def make_room(self) -> Room | None:
        """The room that counts, caps and lists the sessions, when any of that is on."""
        if not (self.max_sessions or self.caps or self.instructors.configured):
            return None
        return Room(self.max_sessions, capped=self.caps, cap_multiple=self.cap_multiple,
                    cap_overrides=self.cap_overrides)


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
    share_compute(queues_for_workshop(workshop.cpu_slots, workshop.gpu_slots) if workshop.shared_queue else None)
    room = workshop.make_room()
    instructors = workshop.instructors
    prefix = "/" + kwargs["prefix"].strip("/") if kwargs.get("prefix") else ""
    if room is not None and instructors.password:
        kwargs["extra_patterns"] = [*kwargs.get("extra_patterns", []),
                                    (r"/instructor/login", LoginHandler,
                                     {"instructors": instructors, "console": f"{prefix}/instructor"})]
    server = pn.serve(routes(slugs, room, instructors, prefix), port=port, address=address,
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

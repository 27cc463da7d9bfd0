"""A lab's live app: controls from its ``Params``, status, progress, live plots, export, URL state.

One :class:`LabApp` per browser session. The lab runs on the session's :class:`Runner`; frames
arrive on the runner's delivery thread and are applied on the session's event loop (Bokeh
documents must only be changed there), one at a time: the delivery thread waits for each
update to land before offering the next, so a slow browser gets fewer, newer frames.
"""

import io
import json
import re
import threading
import time
import weakref

import holoviews as hv
import numpy as np
import panel as pn

from ..core.errors import ParamError
from ..core.export import provenance
from ..core.params import coerce, over_caps
from ..core.queue import shared_queue_for
from ..core.registry import get_lab
from ..core.runner import DONE, ERROR, RUNNING, Runner
from ..service.run_cache import reading_cache
from ..views import style
from ..views.figure import FORMATS, render_bytes
from ..views.specs import status_table
from .controls import panel_controls
from .live import LiveFigure
from .page import page
from .upload import data_upload

START_PRESET = "quick"  # the size an app starts at: its first results in seconds
KEEP_RUNS = 4  # finished runs kept for comparison plots (the newest replaces one of the same label)
STATUS_EVERY_S = 0.25  # the running status line is rewritten at most this often
APPLY_TIMEOUT_S = 5.0  # how long the delivery thread waits for the browser loop to apply a frame
PANEL_RETRY_FLUSH_S = 0.5  # > Panel's 0.1 s retry of a push made while the comm was closed
NOTEBOOK_DIST_URL = "/panel-preview/static/extensions/panel/"  # Panel's files on a Jupyter server


def extension(inline: bool = False) -> None:
    """Load Panel + HoloViews (bokeh); ``inline=True`` for offline notebooks. Notifications
    (toasts) only on a server: inlined into a notebook, Panel loads no Notyf script for them
    and the page errors with "Notyf is not defined"."""
    pn.extension(inline=inline, notifications=not inline)
    hv.extension("bokeh", inline=inline)
    style.apply_defaults()  # hv.extension resets option defaults


TABLE_CSS = """
table { border-collapse: collapse; font-size: 0.9em; margin: 0 0 6px 0; }
th, td { padding: 2px 12px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
"""


class LabApp:
    """The live app of one lab for one session (``LabApp('rich-lazy').view()``)."""

    def __init__(self, slug: str, params=None, *, preset: str = START_PRESET, max_fps: float = 20.0,
                 autostart: bool = True, sync_url: bool = True, notebook: bool = False, run=None,
                 room=None, instructor: bool = False):
        """``run``: what computes a run (default: the lab's ``run`` behind the run cache).
        ``room``: the workshop's :class:`~paperscope.ui.room.Room` this session joins (its caps
        apply unless ``instructor``; the instructor's pushes reach it through :meth:`receive`)."""
        self.lab = get_lab(slug)
        self.views = self.lab.views()
        self.params = params if params is not None else self.lab.Params.preset(preset)
        self.frame = None  # the newest frame on screen
        self.state = "idle"
        self.started_at = None
        self._doc = pn.state.curdoc if pn.state.curdoc and pn.state.curdoc.session_context else None
        # In a notebook the kernel's event loop owns the documents: frames are applied there
        # and pushed to the front end over Panel's comm, one message per frame.
        self._kernel_loop = _kernel_loop() if notebook and self._doc is None else None
        self._layout = None  # the notebook layout, once panel() built it
        self._live = {}  # plot title -> LiveFigure on screen
        self.previous = ()  # (label, last frame) of recent finished runs, for comparison plots
        self._running_label, self._running_params = "", self.params
        self._status_at = 0.0
        self._sync_url = sync_url and self._doc is not None
        self.room, self.caps = room, room.caps(slug) if room is not None and not instructor else {}

        self.notice = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.run_notice = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.status = pn.pane.Alert("Starting…", alert_type="info", sizing_mode="stretch_width")
        self.progress = pn.indicators.Progress(value=0, max=1000, sizing_mode="stretch_width",
                                               bar_color="primary")
        self.table = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  stylesheets=[TABLE_CSS])  # the lab's headline numbers
        self.plots = pn.FlexBox(*[pn.pane.Bokeh(hv.render(style.placeholder(title), backend="bokeh"))
                                  for title in self.views.PLOTS], sizing_mode="stretch_width")
        self.widgets, self.controls = panel_controls(self.params)
        self.upload = data_upload(self.params)  # the user's own data, for labs that learn from data
        self.preset = pn.widgets.RadioButtonGroup(name="Size", options=self._presets_within_caps(),
                                                  value=preset, button_type="default")
        self.preset.param.watch(self._apply_preset, "value")
        self.format = pn.widgets.Select(label="Figure format", options=list(FORMATS), value="pdf")
        self.download_figure = pn.widgets.FileDownload(
            callback=self._figure_file, filename=self._filename("pdf"), label="Download figure",
            button_type="primary", sizing_mode="stretch_width")
        self.download_sidecar = pn.widgets.FileDownload(
            callback=self._sidecar_file, filename=self._filename("pdf") + ".json",
            label="Download provenance (.json)", sizing_mode="stretch_width")
        self.format.param.watch(self._format_changed, "value")

        self.runner = Runner(run or reading_cache(self.lab.slug, self.lab.run), self._deliver_frame,
                             self._deliver_state, max_fps=room.updates_per_s if room is not None else max_fps,
                             queue_for=shared_queue_for)
        self.room_notice = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self.participant = None if room is None else room.join(self, instructor)
        self.workshop = self._workshop_controls() if room is not None else None
        if self._sync_url:
            self._read_url()
        self.params.param.watch(self._params_changed, self.params.names())
        if self._doc is not None:
            pn.state.on_session_destroyed(lambda context: self.close())
            if autostart:
                pn.state.onload(self.start)
        elif autostart:
            self.start()

    # -- running ------------------------------------------------------------------------------
    def start(self) -> int:
        """(Re)start the computation with the current parameters (never past a workshop cap:
        the link's values are checked on arrival, every later change in ``_params_changed``)."""
        self.started_at = time.monotonic()
        params = self._running_params = self.lab.Params(**self.params.param.values())
        self._running_label = getattr(self.views, "run_label", lambda p: "")(params)
        return self.runner.submit(params)

    def close(self) -> None:
        self.runner.close()
        if self.participant is not None:
            self.room.depart(self.participant)

    def _params_changed(self, *events) -> None:
        over = over_caps({e.name: e.new for e in events}, self.caps)
        if over:  # e.g. the page's own link, which Panel's location sync applies once more
            self.run_notice.object = "Kept within the workshop's caps: " + "; ".join(over.values())
            self.run_notice.visible = True
            self.params.param.update(**{e.name: e.old for e in events if e.name in over})
            return
        self.start()  # the URL follows through Panel's location sync
        if self.room is not None:
            self.room.changed()

    # -- the workshop: caps, the instructor's pushes --------------------------------------------
    def _presets_within_caps(self) -> list[str]:
        """The Size buttons a participant may use (``large`` is often past a workshop's caps)."""
        cls = type(self.params)
        defaults = {name: cls.param[name].default for name in self.caps}
        return [name for name, values in cls.presets().items()
                if not over_caps({**defaults, **values}, self.caps)]

    def _workshop_controls(self) -> pn.Column:
        """Name, "follow the instructor", and the caps, shown next to the controls."""
        for name, cap in self.caps.items():  # sliders end at the cap
            widget = self.widgets.get(name)
            if isinstance(widget, pn.widgets.DiscreteSlider):
                widget.options = [v for v in widget.options if v <= cap] or [cap]
            elif widget is not None and "end" in widget.param and widget.end > cap:
                widget.end = cap
        name = pn.widgets.TextInput(label="Your name (for the instructor)", placeholder=self.participant.id,
                                    max_length=40)
        follow = pn.widgets.Checkbox(label="Follow the instructor", value=True)
        name.param.watch(lambda event: self._participant_changed(name=event.new.strip()), "value")
        follow.param.watch(lambda event: self._participant_changed(follow=event.new), "value")
        parts = [name, follow]
        if self.caps:
            limits = ", ".join(f"{n} ≤ {c:g}" for n, c in self.caps.items())
            parts.append(pn.pane.Markdown(f"<small>Workshop caps: {limits}</small>", margin=(0, 10)))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _participant_changed(self, **fields) -> None:
        for key, value in fields.items():
            setattr(self.participant, key, value)
        self.room.changed()

    def receive(self, values: dict, message: str) -> None:
        """What the instructor pushed: applied on this session's own loop (never waiting for
        it: the instructor's session must not stall on thirty others), unless the participant
        stopped following."""
        if self._doc is None:
            self._apply_received(values, message)
        else:
            self._doc.add_next_tick_callback(lambda: self._apply_received(values, message))

    def _apply_received(self, values: dict, message: str) -> None:
        if self.participant is not None and not self.participant.follow:
            return
        values = {name: value for name, value in values.items() if name in self.params.names()}
        changed = {name: v for name, v in values.items() if getattr(self.params, name) != v}
        self.room_notice.object = f"{time.strftime('%H:%M:%S')}: the {message}"
        self.room_notice.visible = True
        if changed:
            self.params.param.update(**changed)  # the controls, the URL and a new run follow
        else:
            self.start()  # the same settings: run them (the run cache answers at once)
    def _apply_preset(self, event) -> None:
        cls = type(self.params)
        presets = cls.presets()
        sized = {name for values in presets.values() for name in values}  # what any preset sets
        chosen = presets[event.new]
        self.params.param.update(**{name: chosen.get(name, cls.param[name].default) for name in sized})

    # -- URL state ----------------------------------------------------------------------------
    def _read_url(self) -> None:
        """Apply ?name=value pairs, then keep URL and parameters in sync with Panel's
        ``location.sync``. What it lacks is done here first: Panel applies a query all or
        nothing and silently, so each pair is checked on its own (``core.params.coerce``) and a
        bad one is dropped from the link with a visible notice, keeping the default."""
        location = pn.state.location
        values, problems = values_from_query(type(self.params), location.query_params, self.caps)
        if values:
            self.params.param.update(**values)
        if problems:
            self.notice.object = "Ignored from the link (defaults kept): " + "; ".join(problems)
            self.notice.visible = True
        location.search = ""  # sync() writes every parameter back, the refused pairs not among them
        location.sync(self.params, self.params.names())

    # -- frames and states (delivery thread -> event loop) ------------------------------------
    def _on_loop(self, fn, *args) -> None:
        """Run ``fn`` on the session's event loop and wait for it (back-pressure)."""
        if self._doc is None and self._kernel_loop is None:
            fn(*args)
            return
        done = threading.Event()

        def apply():
            try:
                if self._doc is not None:
                    with pn.io.hold(self._doc):  # all of a frame's changes go out as one message
                        fn(*args)
                else:
                    self._apply_in_notebook(fn, *args)
            finally:
                done.set()
        if self._doc is not None:
            self._doc.add_next_tick_callback(apply)
        else:
            self._kernel_loop.add_callback(apply)
        done.wait(APPLY_TIMEOUT_S)

    def _apply_in_notebook(self, fn, *args) -> None:
        """Apply a frame's changes with Panel's comm pushes blocked, then send them as one
        message (the glyph columns change on Bokeh models directly, which Panel does not push
        by itself)."""
        from panel.io.notebook import block_comm

        with _PATCH_LOCK:  # no page update is applied between the changes and their push
            with block_comm():
                fn(*args)
            if self._layout is not None:
                self._push_to_notebook()

    def _notebook_comms(self) -> list:
        """(document, comm) of every output showing the notebook layout."""
        views = (pn.state._views.get(ref) for ref in self._layout._models)
        return [(doc, comm) for _, _, doc, comm in filter(None, views) if comm is not None]

    def _push_to_notebook(self) -> None:
        """Send the changes held on the layout's documents over the outputs' comms."""
        from panel.io.notebook import push

        for doc, comm in self._notebook_comms():
            if comm._comm is not None:
                inline_stylesheets(doc)
                push(doc, comm)

    def start_when_shown(self, poll_s: float = 0.1) -> None:
        """Start the first run once the front end has drawn the notebook output and its comm is
        open. Frames applied before that are held on the document, and Panel's first message
        after the comm opens then lacks the models those frames created: the browser rejects
        every later update ("reference ... isn't known") and the plots never draw. The comm
        opens when the drawn output's comm manager opens its side (Panel's ``on_open``): only
        then has the front end registered the target. Opening it from the kernel earlier races
        the drawing under load and loses the first frame. Under Run All the front end's open
        message waits behind the queued cells, so the app starts when the kernel is free."""
        comms = self._notebook_comms() if self._layout is not None else []
        for doc, _ in comms:
            # Stylesheets Panel attaches on later updates (outside the frames this app pushes)
            # link to this path on the Jupyter server (Panel's server extension) instead of
            # Panel's CDN, which is out of reach offline.
            doc._template_variables.setdefault("dist_url", NOTEBOOK_DIST_URL)
        for doc, _ in comms:
            _guard_page_patches(doc)
        if comms and all(comm._comm is not None for _, comm in comms):
            # Panel re-tries a change made while the comm was closed every 0.1 s, as a message
            # built then; the models it defines count as sent from that moment. A frame pushed
            # before it goes out refers to them by id and the browser rejects it, for good.
            # Timers fire in order of their due time, so starting later lets those go first.
            self._kernel_loop.call_later(PANEL_RETRY_FLUSH_S, self.start)
        else:
            self._kernel_loop.call_later(poll_s, self.start_when_shown, poll_s)

    def _deliver_frame(self, frame) -> None:
        self._on_loop(self._show_frame, frame)

    def _deliver_state(self, state: str, message: str) -> None:
        self._on_loop(self._show_state, state, message)

    def _show_frame(self, frame) -> None:
        previous, self.frame = self.frame, frame
        others = self._other_runs()
        for pane, (title, plot) in zip(self.plots, self.views.PLOTS.items()):
            if not _changed(previous, frame, plot.fields):
                continue  # its data did not move: no redraw
            spec = plot.spec(frame, others)
            live = self._live.get(title)
            if live is None or not live.update(spec):  # first frame, or a new structure
                self._live[title] = live = LiveFigure(spec, title, plot.options)
                pane.object = live.figure
        notice = getattr(frame, "notice", "")  # e.g. a size the lab capped for this run
        if notice != self.run_notice.object:
            self.run_notice.object, self.run_notice.visible = notice, bool(notice)
        now = time.monotonic()
        # Progress and status change the page's DOM, which makes the browser recompute the
        # styles of the whole page at its next plot repaint: a few times a second is enough.
        if self.state == RUNNING and now - self._status_at > STATUS_EVERY_S:
            self._status_at = now
            self.progress.value = int(1000 * frame.progress)
            self.status.object = f"Running: step {frame.step} of {frame.total_steps}"

    def _show_state(self, state: str, message: str) -> None:
        self.state = state
        if state == RUNNING:
            self.status.alert_type, self.status.object = "info", "Running…"
            self.table.visible = False  # the last run's numbers
        elif state == DONE:
            if self.participant is not None:
                self.room.finished(self.participant, self._running_params.values(), self.frame.metrics)
            took = time.monotonic() - (self.started_at or time.monotonic())
            self.progress.value = 1000
            self.status.alert_type = "success"
            summary = getattr(self.views, "summary", lambda frame: "")(self.frame)
            kept = self._other_runs()
            self.previous = (*kept[-(KEEP_RUNS - 1):], (self._running_label, self.frame))
            self.status.object = f"Done in {took:.1f} s. {summary}"
            table = status_table(self.views, self.frame)
            self.table.object, self.table.visible = (table.html(), True) if table else ("", False)
        elif state == ERROR:
            self.status.alert_type = "danger"
            self.status.object = f"Stopped: {message}"
        if self.participant is not None and state != DONE:
            self.room.changed()

    def _other_runs(self) -> tuple:
        """Finished runs to compare with the one on screen (not the same settings again)."""
        return tuple((label, f) for label, f in self.previous if label != self._running_label)

    # -- export -------------------------------------------------------------------------------
    def _filename(self, fmt: str) -> str:
        return f"{self.lab.slug}.{fmt}"

    def _format_changed(self, event) -> None:
        self.download_figure.filename = self._filename(event.new)
        self.download_sidecar.filename = self._filename(event.new) + ".json"

    def _figure_file(self):
        """The figure download, carrying the sidecar's record in its metadata."""
        record = json.loads(self._sidecar_file().getvalue())
        return io.BytesIO(render_bytes(self.views.figure(self.frame, self._other_runs()), self.format.value, record))

    def _sidecar_file(self):
        """The provenance download: the run on screen, its command and its app link (this page's
        address when served, so a prefix or host is kept; else ``/<slug>``) with its URL state."""
        if self.frame is None:
            raise ParamError("nothing to export yet: wait for the first results")
        href = pn.state.location.href if self._doc is not None and pn.state.location is not None else ""
        record = provenance(self.lab, self._running_params, self.frame, figure=self._filename(self.format.value),
                            app_base=href.split("?")[0] or None)
        return io.BytesIO((json.dumps(record, indent=2) + "\n").encode())

    # -- layout -------------------------------------------------------------------------------
    def header(self, equations: bool = True) -> pn.pane.Markdown:
        """The lab's paper, from its ``PAPER`` declaration: citation, arXiv link, claim and (on a
        served page) the key equations, which Panel typesets with Bokeh's MathJax bundle, served
        by this server (no CDN)."""
        return pn.pane.Markdown(paper_markdown(self.lab.paper, equations), sizing_mode="stretch_width",
                                css_classes=["paperscope-paper"])

    def sidebar(self) -> list:
        return [
            *([self.workshop, pn.layout.Divider()] if self.workshop is not None else []),
            self.preset, self.controls, *([self.upload.panel()] if self.upload is not None else []),
            pn.widgets.Button(name="Restart run", on_click=lambda event: self.start()),
            pn.layout.Divider(), self.format, self.download_figure, self.download_sidecar,
        ]

    def main(self) -> list:
        return [pn.Column(self.notice, self.room_notice, self.run_notice, self.status, self.table, self.progress,
                          sizing_mode="stretch_width"),
                self.plots]

    def panel(self) -> pn.viewable.Viewable:
        """The app as one layout (for notebooks)."""
        self._layout = pn.Row(pn.Column(self.header(equations=False), *self.sidebar(), width=320),
                              pn.Column(*self.main(), sizing_mode="stretch_width"),
                              css_classes=["paperscope-live-app"])  # what the notebook browser test finds
        return self._layout

    def view(self):
        """The app as a full page (for ``paperscope serve``)."""
        return page(f"paperscope · {self.lab.paper.title}", [self.header(), *self.main()], self.sidebar())


def paper_markdown(paper, equations: bool = True) -> str:
    """Citation with its arXiv link, the claim, and the key equations as display math."""
    link = f" · [arXiv:{paper.arxiv}]({paper.arxiv_url})" if paper.arxiv else ""
    text = f"**{paper.citation}**{link}\n\n*Claim:* {paper.claim}"
    if equations and paper.equations:
        text += "\n\n" + "\n\n".join(f"$${_markdown_safe(eq)}$$" for eq in paper.equations)
    return text


def _markdown_safe(latex: str) -> str:
    r"""Markdown reads a backslash before punctuation as an escape even inside ``$$``: ``\|`` and
    ``\,`` would reach MathJax as ``|`` and ``,``, so those backslashes are doubled; ``<`` and
    ``>`` would open HTML tags, so they become ``\lt`` and ``\gt``. (``&`` reaches MathJax as
    ``&amp;``: declarations avoid alignment environments, and a test checks it.)"""
    latex = re.sub(r"\\(?=[!-/:-@\[-`{-~])", r"\\\\", latex)
    return latex.replace("<", r"\lt ").replace(">", r"\gt ")


def inline_stylesheets(doc) -> None:
    """Inline the Panel stylesheets that models added after a notebook output's first render
    still link from Panel's CDN (Panel inlines only at that render); offline those links fail.
    One inline sheet per URL and document, reused by every model that links it."""
    from bokeh.models import ImportedStyleSheet, UIElement
    from panel.io.notebook import replace_inline_css

    sheets = _INLINED.setdefault(doc, {})

    def inline(sheet):
        if not isinstance(sheet, ImportedStyleSheet):
            return sheet
        if sheet.url not in sheets:
            sheets[sheet.url] = replace_inline_css(sheet)
        return sheets[sheet.url]
    for root in doc.roots:
        for model in root.select({"type": UIElement}):
            if any(isinstance(sheet, ImportedStyleSheet) for sheet in model.stylesheets):
                model.stylesheets = [inline(sheet) for sheet in model.stylesheets]


_INLINED = weakref.WeakKeyDictionary()  # document -> {url: its InlineStyleSheet}
_PATCH_LOCK = threading.RLock()  # held while a frame is applied and pushed, and while a page patch is applied


def _guard_page_patches(doc) -> None:
    """Apply the page's patches to a notebook output's document only while no frame is between
    its changes and their push. The kernel handles comm messages on a thread of their own
    (ipykernel's subshells), and Bokeh's ``apply_json_patch`` marks every model of the document
    as known to the page: a patch landing after a frame created new plot models but before they
    were pushed made the push send them as bare references, which the page rejected
    ("reference ... isn't known") along with every later update of the run."""
    if getattr(doc, "_paperscope_guarded", False):
        return
    apply = doc.apply_json_patch

    def guarded(*args, **kwargs):
        with _PATCH_LOCK:
            return apply(*args, **kwargs)
    doc.apply_json_patch = guarded
    doc._paperscope_guarded = True



def _kernel_loop():
    """The running IPython kernel's event loop, or None outside a kernel."""
    try:
        from IPython import get_ipython
        from tornado.ioloop import IOLoop
    except ImportError:
        return None
    shell = get_ipython()
    return IOLoop.current() if shell is not None and getattr(shell, "kernel", None) is not None else None


def _changed(old, new, fields) -> bool:
    """Whether any of ``fields`` differs between two frames (arrays by value)."""
    if old is None:
        return True
    for name in fields:
        a, b = getattr(old, name), getattr(new, name)
        if a is not b and not (np.shape(a) == np.shape(b) and np.array_equal(a, b)):
            return True
    return False


def values_from_query(cls, query: dict, caps: dict | None = None) -> tuple[dict, list[str]]:
    """Checked parameter values from URL query pairs, and a message for each one refused (out
    of range, or over a workshop ``caps``)."""
    values, problems = {}, []
    for name, raw in query.items():
        try:
            values[name] = coerce(cls, name, _url_text(raw))
        except ParamError as exc:
            problems.append(str(exc))
    for name, problem in over_caps(values, caps or {}).items():
        del values[name]
        problems.append(problem)
    return values, problems


def _url_text(raw) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ",".join(str(v) for v in raw)
    return str(raw)


def build_app(slug: str, **kwargs):
    """The servable page of one lab (what ``apps/<lab>.py`` and ``paperscope serve`` use;
    ``kwargs`` go to :class:`LabApp`)."""
    app = LabApp(slug, **kwargs)
    return app.view()

"""The instructor console (``/instructor``, ``/instructor/<slug>``) and the projector page
(``/room/<slug>``) of a workshop server.

The console shows every participant session of a lab live (name or anonymous id, parameters,
run state, latest metrics), pushes settings to everyone who follows, assigns a grid (the room
becomes a sweep), and draws the room's figure: every finished run a point. The projector page
shows that figure alone, read-only, as the console last chose it.

Both redraw from the shared :class:`~paperscope.ui.room.Room` on a timer, only when its
``version`` moved and at most every ``REFRESH_MS``: the console's own updates stay a small,
bounded cost on the event loop every session shares, however busy the room.
"""

import html
import io
import itertools
import json
import time

import panel as pn

from ..core.device import resolve_device
from ..core.errors import ParamError
from ..core.export import app_link, git_commit, run_command, value_text, versions
from ..core.params import coerce, over_caps
from ..core.registry import get_lab
from ..core.runner import ERROR, RUNNING
from ..service.sweep import describe, parse_grid
from ..views import room as room_views
from ..views.figure import FORMATS, render_bytes
from .app import START_PRESET, TABLE_CSS
from .controls import panel_controls
from .page import page
from .room import RUN_COLUMNS, Room

REFRESH_MS = 1000  # the console and the projector redraw at most this often
SHOWN_METRICS = 3  # metrics per participant in the console's table
NONE = "(none)"
NOT_PUSHED = ("device",)  # where a participant computes is their own machine's business


class Console:
    """One instructor console session over the ``room``; ``slugs``: the labs it offers."""

    def __init__(self, room: Room, slugs: list[str], by: str = "instructor"):
        self.room, self.by = room, by
        self._seen = -1
        busy = next((s for s in room.slugs() if s in slugs), slugs[0])  # a lab someone has open
        self.lab_select = pn.widgets.Select(label="Lab", options=slugs, value=busy)
        self.message = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self.people = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[TABLE_CSS])
        self.caps = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.log = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.form = pn.Column(sizing_mode="stretch_width")  # the push form of the chosen lab
        self.settings = pn.widgets.TextInput(label="Settings to push (name=value, space-separated)",
                                             placeholder="beta=0.1 seed=3", sizing_mode="stretch_width")
        self.grid = pn.widgets.TextInput(label="Grid (name=v1,v2,... per parameter, space-separated)",
                                         placeholder="beta=0.01,0.1,1 seed=0,1", sizing_mode="stretch_width")
        self.x = pn.widgets.Select(label="x", options=[])
        self.y = pn.widgets.Select(label="y", options=[])
        self.color = pn.widgets.Select(label="colour", options=[NONE])
        self.figure = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=320)
        self.format = pn.widgets.Select(label="Figure format", options=list(FORMATS), value="pdf", width=110)
        buttons = [
            ("Push to everyone following", "primary", self._push_form),
            ("Push my own app's settings", "default", self._push_mine),
            ("Assign the grid", "primary", self._assign_grid),
            ("Show on the projector", "default", self._project),
            ("Clear the room's runs", "danger", self._clear),
        ]
        self.buttons = {label: pn.widgets.Button(label=label, button_type=kind) for label, kind, _ in buttons}
        for label, _, action in buttons:
            self.buttons[label].on_click(lambda event, action=action: self._act(action))
        self.downloads = [
            pn.widgets.FileDownload(callback=self._figure_file, filename="room.pdf", label="Figure"),
            pn.widgets.FileDownload(callback=self._sidecar_file, filename="room.pdf.json", label="Provenance (.json)"),
            pn.widgets.FileDownload(callback=lambda: self._table_file("csv"), filename="room.csv", label="Table (CSV)"),
            pn.widgets.FileDownload(callback=lambda: self._table_file("parquet"), filename="room.parquet",
                                    label="Table (Parquet)"),
        ]
        self.projector_link = pn.pane.Markdown("")
        self.lab_select.param.watch(lambda event: self._lab_changed(), "value")
        self.format.param.watch(lambda event: self._filenames(), "value")
        for widget in (self.x, self.y, self.color):
            widget.param.watch(lambda event: self._draw(), "value")
        self._lab_changed()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context:
            pn.state.add_periodic_callback(self.refresh, period=REFRESH_MS)

    @property
    def slug(self) -> str:
        return self.lab_select.value

    # -- the chosen lab ---------------------------------------------------------------------------
    def _lab_changed(self) -> None:
        cls = get_lab(self.slug).Params
        self.values = cls.preset(START_PRESET)  # the push form, at the sizes participants start with
        _, controls = panel_controls(self.values)
        self.form[:] = [controls]
        self.settings.value = ""
        self.values.param.watch(self._form_moved, cls.names())
        caps = self.room.caps(self.slug)
        self.caps.object = ("Participants' caps: " + ", ".join(f"`{n} ≤ {c:g}`" for n, c in caps.items())
                            if caps else "No caps for this lab's sizes.")
        self.projector_link.object = f"Projector page: [/room/{self.slug}](../room/{self.slug})"
        self._filenames()
        self._seen = -1
        self.refresh()

    def _form_moved(self, *events) -> None:
        """A control moved in the form writes its value into the settings to push."""
        pairs = dict(part.split("=", 1) for part in self.settings.value.split() if "=" in part)
        pairs.update({e.name: value_text(e.new) for e in events if e.name not in NOT_PUSHED})
        self.settings.value = " ".join(f"{name}={value}" for name, value in pairs.items())

    # -- actions --------------------------------------------------------------------------------
    def _act(self, action) -> None:
        try:
            text = action()
        except ParamError as exc:
            self._say(str(exc), "danger")
        else:
            self._say(text, "success")
        self.refresh()

    def _say(self, text: str, kind: str = "info") -> None:
        self.message.object, self.message.alert_type, self.message.visible = text, kind, True

    def _checked(self, values: dict) -> dict:
        over = over_caps(values, self.room.caps(self.slug))
        if over:
            raise ParamError("not pushed: " + "; ".join(over.values()) + " (raise the cap with "
                             "`--cap SLUG.NAME=VALUE` when serving)")
        return values

    def _push_form(self) -> str:
        points = grid_points(get_lab(self.slug).Params, self.settings.value,
                             empty="write the settings first (moving a control below writes it), e.g. beta=0.1")
        if len(points) != 1:
            raise ParamError("one value per parameter for a push: for several, assign a grid")
        values = self._checked(points[0])
        reached = self.room.push(self.slug, values, self.by)
        return f"Pushed {describe(values)} to {len(reached)} participant(s)."

    def _push_mine(self) -> str:
        mine = self.room.participants_of(self.slug)
        mine = [p for p in mine if p.instructor]
        if not mine:
            raise ParamError(f"open /{self.slug} in another tab first, signed in as the instructor: "
                             "its settings are what this button pushes")
        values = {n: v for n, v in mine[-1].values().items() if n not in NOT_PUSHED}
        reached = self.room.push(self.slug, self._checked(values), self.by, "set their app's settings")
        return f"Pushed your app's settings ({describe(values)}) to {len(reached)} participant(s)."

    def _assign_grid(self) -> str:
        points = grid_points(get_lab(self.slug).Params, self.grid.value)
        for point in points:
            self._checked(point)
        assigned = self.room.assign_grid(self.slug, points, self.by)
        if not assigned:
            raise ParamError("nobody follows the instructor in this lab yet")
        left = max(0, len(points) - len(assigned))
        self.x.value = next(iter(points[0]))  # the swept parameter on x
        self._project()
        return (f"Assigned {len(points)} grid point(s) to {len(assigned)} participant(s)"
                + (f"; {left} point(s) have nobody yet" if left else "") + ".")

    def _project(self) -> str:
        self.room.project(self.slug, self.x.value, self.y.value, self._color())
        return f"The projector shows {self.y.value} against {self.x.value}."

    def _clear(self) -> str:
        self.room.clear_runs(self.slug, self.by)
        return "Cleared this lab's runs: the figure starts again."

    # -- drawing --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw what changed in the room since the last look (the periodic callback)."""
        if self.room.version == self._seen:
            return
        self._seen = self.room.version
        self.people.object = participants_html(self.room, self.slug)
        self.log.object = "\n".join(f"- {html.escape(line)}" for line in self.room.log()[:10]) or "No action yet."
        table = self.room.table(self.slug)
        xs, ys = axes_of(table, get_lab(self.slug).Params)
        with pn.io.hold():
            _keep_choice(self.x, xs)
            _keep_choice(self.y, ys)
            _keep_choice(self.color, [NONE, "name", *xs, *ys])
            if xs and not varies(table, self.x.value) and varies(table, xs[0]):
                self.x.value = xs[0]  # a parameter the room's runs differ in: the curve to draw
        self._draw(table)

    def _color(self) -> str | None:
        return None if self.color.value in (None, NONE) else self.color.value

    def _draw(self, table=None) -> None:
        table = self.room.table(self.slug) if table is None else table
        if self.x.value and self.y.value:
            self.figure.object = room_views.figure(table, self.x.value, self.y.value, self._color())
        else:
            self.figure.object = room_views.figure(table.iloc[:0], "x", "y")

    # -- export ---------------------------------------------------------------------------------
    def _filenames(self) -> None:
        stem = f"room-{self.slug}"
        for download, name in zip(self.downloads, [f"{stem}.{self.format.value}", f"{stem}.{self.format.value}.json",
                                                    f"{stem}.csv", f"{stem}.parquet"]):
            download.filename = name

    def _figure_file(self):
        """The figure, carrying its sidecar's record in its metadata (as every export does)."""
        table = self._table_or_refuse()
        fig = room_views.figure(table, self.x.value, self.y.value, self._color())
        record = room_provenance(self.slug, table, self.x.value, self.y.value, self._color())
        return io.BytesIO(render_bytes(fig, self.format.value, record))

    def _sidecar_file(self):
        record = room_provenance(self.slug, self._table_or_refuse(), self.x.value, self.y.value, self._color())
        return io.BytesIO((json.dumps(record, indent=2, default=str) + "\n").encode())

    def _table_file(self, fmt: str):
        table, buffer = self._table_or_refuse(), io.BytesIO()
        if fmt == "csv":
            buffer.write(table.to_csv(index=False).encode())
        else:
            table.to_parquet(buffer, index=False)
        buffer.seek(0)
        return buffer

    def _table_or_refuse(self):
        table = self.room.table(self.slug)
        if table.empty:
            raise ParamError("no finished run in the room yet")
        return table

    # -- layout ---------------------------------------------------------------------------------
    def view(self):
        b = self.buttons
        sidebar = [self.lab_select, self.caps, pn.pane.Markdown("**Push settings**"), self.settings,
                   b["Push to everyone following"], b["Push my own app's settings"], self.form, pn.layout.Divider(),
                   pn.pane.Markdown("**Assign a grid** (each participant gets the next point)"), self.grid,
                   b["Assign the grid"]]
        figure = pn.Column(pn.Row(self.x, self.y, self.color), self.figure,
                           pn.Row(b["Show on the projector"], self.projector_link),
                           pn.Row(self.format, *self.downloads), b["Clear the room's runs"],
                           sizing_mode="stretch_width")
        main = [self.message, pn.pane.Markdown("### The room"), self.people,
                pn.pane.Markdown("### The room's figure: every finished run is a point"), figure,
                pn.pane.Markdown("### Instructor actions"), self.log]
        return page("paperscope · instructor console", main, sidebar)


def grid_points(cls, text: str, empty: str = "write the grid first, e.g. beta=0.01,0.1,1 seed=0,1") -> list[dict]:
    """``"beta=0.01,0.1 seed=0,1"`` -> the four points of that grid (seeds may be listed here,
    unlike in ``paperscope sweep``, since each participant runs one point)."""
    parts = text.replace(";", " ").split()
    if not parts:
        raise ParamError(empty)
    seeds = [p for p in parts if p.split("=", 1)[0].strip() == "seed"]
    grid = parse_grid(cls, [p for p in parts if p not in seeds])
    for part in seeds:
        grid["seed"] = [coerce(cls, "seed", v) for v in part.split("=", 1)[1].split(",") if v.strip()]
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]


def varies(table, column: str) -> bool:
    """Whether the room's runs differ in ``column``."""
    return column in table.columns and table[column].astype(str).nunique() > 1


def axes_of(table, cls) -> tuple[list[str], list[str]]:
    """(x choices: parameters, those that vary across the runs first; y choices: the metrics,
    every other column of the room's table)."""
    numeric = [n for n in cls.names() if n != "device"]
    varying = [n for n in numeric if varies(table, n)]
    metrics = [c for c in table.columns if c not in cls.names() and c not in RUN_COLUMNS]
    return [*varying, *(n for n in numeric if n not in varying)], metrics


def _keep_choice(select, options: list[str]) -> None:
    if select.options != options:
        value = select.value
        select.options = options
        select.value = value if value in options else (options[0] if options else None)


def participants_html(room: Room, slug: str) -> str:
    people = room.participants_of(slug)
    if not people:
        return f"<p>Nobody has {html.escape(slug)} open yet: participants open <code>/{html.escape(slug)}</code>.</p>"
    defaults = get_lab(slug).Params.preset(START_PRESET).values()
    rows = []
    for p in people:
        changed = {n: v for n, v in p.values().items() if v != defaults.get(n)}
        metrics = dict(list(p.metrics.items())[:SHOWN_METRICS])
        cells = [p.label + (" (instructor)" if p.instructor else ""), "yes" if p.follow else "no", run_state(p),
                 describe(changed) or "defaults", describe(metrics) or "–"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("participant", "follows", "run", f"settings (other than {START_PRESET})",
                                                "latest metrics"))
    return f"<p>{len(people)} session(s)</p><table><tr>{head}</tr>{''.join(rows)}</table>"


def run_state(participant) -> str:
    """What the instructor needs to see who is stuck: how long a run has been going, or why it stopped."""
    app = participant.app
    if app.state == RUNNING and app.started_at is not None:
        return f"running, {time.monotonic() - app.started_at:.0f} s"
    if app.state == ERROR:
        return app.status.object  # "Stopped: <the reason>"
    return app.state


def room_provenance(slug: str, table, x: str, y: str, color: str | None) -> dict:
    """The room figure's sidecar: every run's parameters, seed and metrics, with the
    ``paperscope run`` command and the app link that give that run back, and the versions."""
    import datetime

    lab = get_lab(slug)
    runs = table.to_dict(orient="records")
    for run in runs:
        params = lab.Params(**{name: run[name] for name in lab.Params.names() if name in run})
        run["command"] = run_command(lab, params, resolve_device(params.device).type)
        run["app_link"] = app_link(lab, params)
    return {"lab": slug, "title": lab.paper.title, "paper": lab.paper.citation, "arxiv": lab.paper.arxiv,
            "figure": {"x": x, "y": y, "color": color}, "runs": runs,
            "versions": versions(), "git_commit": git_commit(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


class Projector:
    """``/room/<slug>``: the room's figure alone, as the console chose it, refreshed live."""

    def __init__(self, room: Room, slug: str):
        self.room, self.slug, self._seen = room, slug, -1
        self.count = pn.pane.Markdown("")
        self.figure = pn.pane.HoloViews(None, sizing_mode="stretch_both", min_height=500)
        self.refresh()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context:
            pn.state.add_periodic_callback(self.refresh, period=REFRESH_MS)

    def refresh(self) -> None:
        if self.room.version == self._seen:
            return
        self._seen = self.room.version
        table = self.room.table(self.slug)
        xs, ys = axes_of(table, get_lab(self.slug).Params)
        x, y, color = self.room.projected(self.slug) or (xs[0] if xs else "x", ys[0] if ys else "y", None)
        self.figure.object = room_views.figure(table, x, y, color).opts(width=900, height=560, backend="bokeh")
        runners = table["participant"].nunique() if len(table) else 0
        people = len(self.room.participants_of(self.slug, instructors=False))
        self.count.object = (f"**{len(table)} finished run(s) from {runners} participant(s)**; "
                             f"{people} in the room now")

    def view(self):
        return page(f"paperscope · the room · {get_lab(self.slug).paper.title}", [self.count, self.figure])

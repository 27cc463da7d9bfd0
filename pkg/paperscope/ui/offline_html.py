"""A lab as one offline HTML file: a grid of settings computed ahead, sliders that swap the data.

``paperscope export-html SLUG --grid name=v1,v2 ... --out lab.html`` runs every grid point (or
takes it from the run cache that ``paperscope precompute`` fills) and writes one file holding:

- BokehJS inline (:class:`OwnInline`): no script, stylesheet or font is fetched, so the file
  works from disk, as an e-mail attachment or inside slides;
- each plot drawn once by the live app's own renderer (:class:`~paperscope.ui.live.LiveFigure`),
  holding the first point's data; a plot whose structure changes across the grid (another
  number of curves, other categories) gets one figure per structure, only the right one shown;
- every grid point's columns as compact data: float32 arrays in base64, each distinct array
  stored once (an x axis or a reference curve that no slider moves is shared by all points);
- one ``CustomJS`` on the sliders that swaps the sources' ``.data`` in place, colour scales and
  legend labels included, and shows the point's summary line.

The paper header shows the citation and the claim; its equations are shown as LaTeX source text
(MathJax is not inlined: it would double the file). ``--seeds N`` adds a seed slider: each seed
is its own run, as a frame is a picture of one run and not something to average.
"""

import base64
import hashlib
import html
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import ContinuousColorMapper, CustomJS, CustomJSTickFormatter, Div, Select, Slider
from bokeh.resources import Resources

from ..core.errors import PaperscopeError, ParamError
from ..core.registry import get_lab
from ..core.runner import describe_error, run_to_end
from ..service import run_cache, sweep
from ..views.specs import status_table
from .live import LiveFigure

MAX_POINTS = 2000  # grid points x seeds: keeps a mistyped grid from writing a file too big to open
FLOAT32_EXACT = 2**24  # integers up to this size survive float32 unchanged
PLOT_COLUMNS = 2


@dataclass(frozen=True)
class Axis:
    """One slider: a swept parameter (or the seed) and its values, in the order given."""

    name: str
    values: tuple

    @property
    def labels(self) -> list[str]:
        return [_label(v) for v in self.values]

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)


@dataclass
class Outcome:
    """One grid point: its values and final frame, or why it has none."""

    values: dict
    frame: object | None
    error: str = ""


@dataclass(frozen=True)
class Exported:
    """What :func:`export_html` wrote, for the command's last line and the size benchmark."""

    path: Path
    file_bytes: int
    data_bytes: int  # the grid's data (arrays and texts) inside the file
    points: int
    arrays: int  # distinct arrays stored
    columns: int  # columns across all points, plots and sources (what sharing saves on)
    computed: int
    cached: int
    seconds: float


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------------------------
# The grid: checked input -> one finished frame per point


def plan_grid(slug: str, grid_texts: list[str], set_texts: list[str], seeds: int, preset: str):
    """The sweep's plan (``--grid``/``--set``/``--seeds`` checked as ``sweep`` and ``precompute``
    check them) and the sliders it gives."""
    plan = sweep.plan(slug, grid_texts, set_texts, seeds, preset)
    if len(plan.tasks) > MAX_POINTS:
        raise ParamError(f"{len(plan.tasks)} grid points x seeds: at most {MAX_POINTS} fit one file; "
                         "sweep fewer values")
    axes = [Axis(name, tuple(values)) for name, values in plan.grid.items()]
    axes.append(Axis("seed", tuple(plan.seeds)))
    return plan, axes


def compute(plan, log: Callable[[str], None]) -> tuple[list[Outcome], int]:
    """Every task's final frame, read from the run cache or computed (and then stored there,
    as ``precompute`` would); returns the outcomes in task order and how many were cached."""
    lab = get_lab(plan.slug)
    outcomes, cached = [], 0
    for k, task in enumerate(plan.tasks, 1):
        params = lab.Params.preset(plan.preset, **task.values, seed=task.seed)
        label = f"[{k}/{len(plan.tasks)}] {sweep.describe({**task.values, 'seed': task.seed})}"
        values = {**task.values, "seed": task.seed}
        frame = run_cache.lookup(plan.slug, params)
        if frame is not None:
            cached += 1
            log(f"{label} cached")
            outcomes.append(Outcome(values, frame))
            continue
        start = time.perf_counter()
        try:
            frame = run_to_end(lab.run, params)
        except PaperscopeError as exc:  # a diverging setting is shown as such, the others still work
            log(f"{label} failed: {exc}")
            outcomes.append(Outcome(values, None, describe_error(exc)))
            continue
        run_cache.store(plan.slug, params, frame)
        log(f"{label} computed ({time.perf_counter() - start:.1f} s)")
        outcomes.append(Outcome(values, frame))
    if not any(o.frame is not None for o in outcomes):
        raise PaperscopeError(f"every run of {plan.slug} failed: nothing to show ({outcomes[0].error})")
    return outcomes, cached


# --------------------------------------------------------------------------------------------
# Compact data: each distinct array once, float32, base64


class ArrayStore:
    """Distinct arrays, each stored once as ``[dtype, shape, base64]``; ``add`` returns its index."""

    def __init__(self):
        self.entries: list[list] = []
        self._index: dict[bytes, int] = {}
        self.added = 0

    def add(self, array: np.ndarray) -> int:
        self.added += 1
        array = _compact(array)
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        digest = hashlib.blake2b(raw + array.dtype.str.encode() + str(array.shape).encode(), digest_size=16).digest()
        if digest not in self._index:
            self._index[digest] = len(self.entries)
            self.entries.append([array.dtype.name, list(array.shape), base64.b64encode(raw).decode("ascii")])
        return self._index[digest]


def _compact(array: np.ndarray) -> np.ndarray:
    """float32 for floats and for integers float32 holds exactly; float64 for the rest."""
    if array.dtype.kind == "f" or (array.size == 0 or np.abs(array).max() < FLOAT32_EXACT):
        return array.astype(np.float32)
    return array.astype(np.float64)


def encode_column(value, store: ArrayStore):
    """A source column as the page's data holds it: an array index (numbers), ``{"i": [...]}``
    (a column of images) or ``{"l": [...]}`` (texts, categories, table cells)."""
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) and v.ndim == 2 for v in value):
        return {"i": [store.add(v) for v in value]}
    array = np.asarray(value)
    if array.ndim == 1 and array.dtype.kind in "fiu":
        return store.add(array)
    return {"l": [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]}


def _plain(value):
    """A JSON-safe cell: numpy scalars as Python numbers, NaN/inf as null (JSON has neither)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


# --------------------------------------------------------------------------------------------
# Plots: one LiveFigure per structure, a snapshot of its sources per point


class PlotVariants:
    """One of the lab's plots across the grid: a figure per structure met, as the live app would
    draw it (a new figure only where ``LiveFigure.update`` refuses the spec)."""

    def __init__(self, title: str, plot):
        self.title, self.plot = title, plot
        self.figures: list[LiveFigure] = []
        self.first: dict[int, list[dict]] = {}  # figure -> its sources' data at the first point it shows

    def show(self, frame) -> int:
        """Put ``frame``'s data into the figure that fits it; returns that figure's index."""
        spec = self.plot.spec(frame, ())
        for k, live in enumerate(self.figures):
            if live.update(spec):
                return k
        live = LiveFigure(spec, self.title, self.plot.options)
        if not live.update(spec):  # the same columns as every later point gets from update()
            raise PaperscopeError(f"plot {self.title!r} cannot be updated in place")
        self.figures.append(live)
        return len(self.figures) - 1

    @staticmethod
    def mappers(live: LiveFigure) -> list:
        """The figure's colour scales, in a fixed order (the page sets their ranges per point)."""
        return sorted(live.figure.select({"type": ContinuousColorMapper}), key=lambda m: m.id)

    @staticmethod
    def legend_items(live: LiveFigure) -> list:
        legends = getattr(live.figure, "legend", [])
        return [item for legend in legends for item in legend.items]

    def snapshot(self, k: int, store: ArrayStore) -> list:
        """``[figure, columns per source, colour ranges, legend labels]`` as the figure is now."""
        live = self.figures[k]
        columns = [[encode_column(source.data[name], store) for name in names]
                   for source, names in zip(live.sources, live.names)]
        ranges = [[_plain(m.low), _plain(m.high)] for m in self.mappers(live)]
        labels = [getattr(item.label, "value", None) for item in self.legend_items(live)]
        return [k, columns, ranges, labels]

    def keep_first(self, k: int) -> None:
        """Remember figure ``k``'s data the first time a point uses it: the page ships with it
        (as float32), so every figure draws at once, before any slider moves."""
        if k not in self.first:
            self.first[k] = [{name: _compact_column(value) for name, value in source.data.items()}
                             for source in self.figures[k].sources]

    def restore_first(self) -> None:
        for k, live in enumerate(self.figures):
            for source, data in zip(live.sources, self.first[k]):
                source.data = data


def _compact_column(value):
    """A column as the page's initial data holds it: numbers as float32 (or exact float64)."""
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) and v.ndim == 2 for v in value):
        return [_compact(v) for v in value]
    array = np.asarray(value)
    return _compact(array) if array.ndim == 1 and array.dtype.kind in "fiu" else value


def status_html(views, outcome: Outcome) -> str:
    """The point's summary line, the run's notice and the lab's headline table, as the app's
    status area shows them."""
    if outcome.frame is None:
        return f"<p class='paperscope-error'><b>This setting failed:</b> {html.escape(outcome.error)}</p>"
    parts = []
    summary = getattr(views, "summary", lambda frame: "")(outcome.frame)
    if summary:
        parts.append(f"<p>{html.escape(summary)}</p>")
    notice = getattr(outcome.frame, "notice", "")
    if notice:
        parts.append(f"<p><i>{html.escape(notice)}</i></p>")
    table = status_table(views, outcome.frame)
    if table is not None:
        parts.append(table.html())
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# The page


def header_html(lab, plan, axes: list[Axis]) -> str:
    """Title, citation, claim, equations as LaTeX text, and how the grid was computed."""
    paper = lab.paper
    link = (f" · <a href='{html.escape(paper.arxiv_url)}'>arXiv:{html.escape(paper.arxiv)}</a>"
            if paper.arxiv else "")
    parts = [f"<h2 style='margin:0 0 4px 0'>{html.escape(paper.title)}</h2>",
             f"<p><b>{html.escape(paper.citation)}</b>{link}</p>",
             f"<p><i>Claim:</i> {html.escape(paper.claim)}</p>"]
    if paper.equations:
        parts.append("<pre style='white-space:pre-wrap'>" + "\n".join(html.escape(eq) for eq in paper.equations)
                     + "</pre>")
    swept = ", ".join(f"{a.name} ∈ {{{', '.join(a.labels)}}}" for a in axes if len(a.values) > 1) or "none"
    fixed = sweep.describe(plan.fixed) or "none"
    parts.append(f"<p style='color:#555'>Computed ahead by paperscope at the <b>{html.escape(plan.preset)}</b> "
                 f"sizes: swept {html.escape(swept)}; fixed {html.escape(fixed)}. Works offline: "
                 "moving a slider shows that setting's finished run.</p>")
    return "".join(parts)


def controls(axes: list[Axis]) -> list:
    """A slider per swept numeric parameter (and the seed), a menu per swept choice; an axis
    with one value needs no control."""
    widgets = []
    for axis in axes:
        if len(axis.values) < 2:
            widgets.append(None)
        elif axis.numeric:
            # The slider moves over the values' positions and shows the value itself: a grid
            # may be uneven (1e-3, 1e-2, 0.1)
            label = CustomJSTickFormatter(args={"labels": axis.labels}, code="return labels[Math.round(tick)]")
            widgets.append(Slider(start=0, end=len(axis.values) - 1, step=1, value=0, format=label,
                                  title=axis.name, width=260, name=f"grid-{axis.name}"))
        else:
            widgets.append(Select(title=axis.name, value=axis.labels[0], options=axis.labels, width=260,
                                  name=f"grid-{axis.name}"))
    return widgets


SWAP_JS = """
const all = window.__paperscope || (window.__paperscope = {});
let state = all[token];
if (state === undefined) {  // parsed once per page, decoded arrays kept for the next move
  state = all[token] = {data: JSON.parse(payload), arrays: new Map()};
}
const data = state.data;
function decode(id) {
  let out = state.arrays.get(id);
  if (out !== undefined) return out;
  const [dtype, shape, text] = data.arrays[id];
  const raw = atob(text), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  // Bokeh's own typed arrays, as its deserializer makes them (an image needs a 2-D one)
  out = Bokeh.require("core/util/ndarray").ndarray(bytes.buffer, {dtype, shape});
  state.arrays.set(id, out);
  return out;
}
function column(value) {
  if (typeof value === "number") return decode(value);
  if (value.i !== undefined) return value.i.map(decode);
  return value.l;
}
let index = 0;
for (let a = 0; a < data.axes.length; a++) {
  const axis = data.axes[a], widget = widgets[a];
  let i = 0;
  if (widget !== null) {
    i = typeof widget.value === "number" ? Math.round(widget.value) : axis.labels.indexOf(widget.value);
  }
  index = index * axis.labels.length + i;
}
const point = data.points[index];
status.text = data.texts[point.s];
for (let p = 0; p < figures.length; p++) {
  const shown = point.p === null ? -1 : point.p[p][0];
  figures[p].forEach((figure, k) => { figure.visible = (k === shown); });
  if (shown < 0) continue;
  const [k, columns, ranges, legend] = point.p[p], labels = data.legends[legend];
  sources[p][k].forEach((source, j) => {
    const next = {};
    data.names[p][k][j].forEach((name, c) => { next[name] = column(columns[j][c]); });
    source.data = next;
  });
  mappers[p][k].forEach((mapper, j) => {
    if (ranges[j] !== undefined && ranges[j][0] !== null) { mapper.low = ranges[j][0]; mapper.high = ranges[j][1]; }
  });
  items[p][k].forEach((item, j) => {
    if (labels[j] !== null && labels[j] !== undefined) item.label = {value: labels[j]};
  });
}
window.__paperscope_shown = index;
"""


class OwnInline(Resources):
    """Bokeh's own scripts inline and no script or stylesheet file: Bokeh also lists, as files,
    those of every model class any imported library registers (Panel's point at its server and
    CDN), but the page uses Bokeh's models only, which :func:`check_offline` confirms."""

    def __init__(self, components=None):
        super().__init__(mode="inline", components=components)

    def clone(self, *, components=None) -> "OwnInline":  # Bokeh clones to drop unused components
        return OwnInline(components if components is not None else list(self.components))

    @property
    def js_files(self) -> list[str]:
        return []

    @property
    def css_files(self) -> list[str]:
        return []


def check_offline(doc: Document) -> None:
    """Refuse a page that holds a model of another library (its scripts would not be inlined)."""
    for model in doc.models:
        if model.__view_module__.split(".")[0] != "bokeh":
            raise PaperscopeError(f"{type(model).__name__} ({model.__view_module__}) is not a Bokeh model: "
                                  "the offline page inlines Bokeh's scripts only")


def snapshot_grid(views, plots: list[PlotVariants], outcomes: list[Outcome]) -> dict:
    """Every point's data for the page: ``points`` (per point its summary text and per plot
    ``[figure, columns, colour ranges, legend]``, or no plots for a failed run), and the tables
    they index into (``arrays``, ``texts``, ``legends``), each entry stored once."""
    store, texts, legends, points = ArrayStore(), {}, {}, []
    for outcome in outcomes:
        text = texts.setdefault(status_html(views, outcome), len(texts))
        if outcome.frame is None:
            points.append({"s": text, "p": None})
            continue
        shown = [plot.show(outcome.frame) for plot in plots]
        snapshots = []
        for plot, k in zip(plots, shown):
            plot.keep_first(k)
            snapshot = plot.snapshot(k, store)
            snapshot[3] = legends.setdefault(tuple(snapshot[3]), len(legends))  # legends repeat across points
            snapshots.append(snapshot)
        points.append({"s": text, "p": snapshots})
    for plot in plots:
        plot.restore_first()
    return {"arrays": store.entries, "texts": list(texts), "legends": [list(labels) for labels in legends],
            "points": points, "store": store}


def build_document(lab, plan, axes: list[Axis], outcomes: list[Outcome]) -> tuple[Document, int, ArrayStore]:
    """The Bokeh document of the page, the size of its grid data and the array store."""
    views = lab.views()
    plots = [PlotVariants(title, plot) for title, plot in views.PLOTS.items()]
    grid = snapshot_grid(views, plots, outcomes)
    store, first = grid.pop("store"), grid["points"][0]
    widgets = controls(axes)
    status = Div(text=grid["texts"][first["s"]], width=300, name="paperscope-status")
    for p, plot in enumerate(plots):  # the first point as the page opens (the callback redoes it)
        for k, live in enumerate(plot.figures):
            live.figure.visible = first["p"] is not None and first["p"][p][0] == k
    payload = json.dumps({"axes": [{"name": a.name, "labels": a.labels} for a in axes],
                          "names": [[live.names for live in plot.figures] for plot in plots], **grid},
                         separators=(",", ":"), allow_nan=False)
    swap = CustomJS(code=SWAP_JS, args={
        "token": uuid.uuid4().hex, "payload": payload, "widgets": widgets, "status": status,
        "figures": [[live.figure for live in plot.figures] for plot in plots],
        "sources": [[live.sources for live in plot.figures] for plot in plots],
        "mappers": [[plot.mappers(live) for live in plot.figures] for plot in plots],
        "items": [[plot.legend_items(live) for live in plot.figures] for plot in plots],
    })
    for widget in widgets:
        if widget is not None:
            widget.js_on_change("value", swap)
    doc = Document()
    doc.add_root(page_layout(lab, plan, axes, plots, widgets, status))
    doc.js_on_event(DocumentReady, swap)  # parses the data once, before the first move
    doc.title = f"paperscope · {lab.paper.title}"
    return doc, len(payload), store


def page_layout(lab, plan, axes, plots, widgets, status):
    """Header on top; controls and the point's summary on the left; the plots, two a row."""
    cells = [column(*[live.figure for live in plot.figures]) for plot in plots]
    grid = column(*[row(*cells[i:i + PLOT_COLUMNS]) for i in range(0, len(cells), PLOT_COLUMNS)])
    header = Div(text=header_html(lab, plan, axes), disable_math=True, width=1200)
    side = column(*[w for w in widgets if w is not None], status, width=310)
    return column(header, row(side, grid))


def export_html(slug: str, grid_texts: list[str], set_texts: list[str], seeds: int = 1,
                preset: str = "default", out: str | Path | None = None,
                log: Callable[[str], None] = print) -> Exported:
    """Compute (or read from the run cache) every grid point and write the offline page."""
    start = time.perf_counter()
    plan, axes = plan_grid(slug, grid_texts, set_texts, seeds, preset)
    lab = get_lab(plan.slug)
    out = Path(out or f"{plan.slug}.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ParamError(f"--out {out}: expected a .html file")
    outcomes, cached = compute(plan, log)
    log(f"drawing {len(lab.views().PLOTS)} plots for {len(outcomes)} points")
    doc, data_bytes, store = build_document(lab, plan, axes, outcomes)
    check_offline(doc)
    text = file_html(doc, OwnInline(), title=doc.title)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    ran = sum(1 for o in outcomes if o.frame is not None) - cached
    return Exported(path=out, file_bytes=out.stat().st_size, data_bytes=data_bytes, points=len(outcomes),
                    arrays=len(store.entries), columns=store.added, computed=ran, cached=cached,
                    seconds=time.perf_counter() - start)

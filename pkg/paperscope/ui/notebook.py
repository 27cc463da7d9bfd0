"""Notebook helpers: ipywidgets controls from a lab's ``Params``, headless runs with a progress
bar, the lab's figure, and the live Panel app inlined for offline JupyterLab."""

import traceback

import ipywidgets as widgets
from tqdm.auto import tqdm

from ..core.params import quick_mode
from ..core.registry import get_lab
from ..core.runner import run_to_end
from .controls import ipywidget_controls


def setup() -> None:
    """Load Panel and HoloViews with their JavaScript inlined, so output shows with no internet,
    and give the kernel's own computations (a sweep a notebook calls directly) the thread count
    the app's runs use: one intra-op thread unless ``PAPERSCOPE_THREADS`` says otherwise. With
    torch's default of one thread per core, a notebook's sweep and JupyterLab, the browser and
    its own live app fought over two cores (the rich-lazy notebook ran several times slower)."""
    from ..core.device import apply_thread_policy
    from .app import extension

    apply_thread_policy()
    extension(inline=True)


def params(slug: str, data=None, **overrides):
    """The lab's parameters: quick sizes when ``PAPERSCOPE_QUICK=1`` (CI), else the defaults.

    ``data`` (labs that learn from a data set): your own data in place of the lab's, as a path to
    a CSV (header row; label column ``y``/``label``/``target``/``class``, else the last) or an NPZ
    (arrays ``X`` and ``y``), a pair ``(X, y)`` of arrays, a ``core.data.Dataset``, or
    ``"builtin"``. It is checked (``core.data``'s limits), kept in this kernel, and the
    parameters hold its key ``sha256:…``; ``nb.run``, ``nb.app`` and ``nb.export`` use it.
    """
    cls = get_lab(slug).Params
    if data is not None:
        from ..core.data import use
        from ..core.errors import ParamError

        if "data" not in cls.param:
            raise ParamError(f"{slug} does not learn from a data set: it takes no data=")
        overrides["data"] = use(data)
    return cls.preset("quick" if quick_mode() else "default", **overrides)


def controls(lab_params) -> widgets.VBox:
    """ipywidgets for every parameter, kept in sync with ``lab_params`` both ways (the app's
    mapping, ``ui.controls``)."""
    return ipywidget_controls(lab_params)


# slug -> (parameter values, last frame) of this kernel's latest nb.run: the live app shows it
# at once for the same values instead of computing the same run again.
_LAST_RUN: dict[str, tuple[dict, object]] = {}


def _last_run(slug: str):
    def find(lab_params):
        values, frame = _LAST_RUN.get(slug, (None, None))
        return frame if values == lab_params.values() else None
    return find


def run(slug: str, lab_params):
    """Run the lab to the end in this kernel with a progress bar; returns the last frame."""
    lab = get_lab(slug)
    bar = tqdm(total=None, desc=lab.slug, unit="step")

    def advance(frame):
        bar.total = frame.total_steps
        bar.n = frame.step
        bar.refresh()
    try:
        frame = run_to_end(lab.run, lab_params, advance)
        _LAST_RUN[lab.slug] = (lab_params.values(), frame)
        return frame
    except Exception as exc:
        # The kernel keeps the last error (sys.last_traceback) and with it the failed run's
        # frames: clear their locals so its tensors go now, not at the next error.
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        bar.close()


def figure(slug: str, frame, previous=()):
    """The lab's publication figure for ``frame``, shown through Panel so that its stylesheets
    are inlined as the live app's are (HoloViews' own notebook output links them from a CDN,
    which fails offline); ``.object`` is the HoloViews layout. ``previous`` holds (label,
    frame) pairs of other runs for labs that compare runs."""
    return show(get_lab(slug).views().figure(frame, previous))


def show(layout):
    """Any HoloViews layout (e.g. a lab's extra figure) shown as :func:`figure` shows a lab's:
    through Panel, with its stylesheets inlined, so nothing is fetched from a CDN."""
    import panel as pn

    return pn.pane.HoloViews(layout, sizing_mode="stretch_width")


def export(slug: str, lab_params, frame, path: str, previous=()):
    """Write the figure and its provenance sidecar, as ``paperscope run --export`` does."""
    from ..views.figure import export as write

    return write(get_lab(slug), lab_params, frame, path, previous)


def reproduced(slug: str):
    """What the lab's declared claims measured in their recorded ``paperscope verify`` run: one row
    per claim (wording, value per seed, threshold, status), with the run's size, date and code.
    Numbers live only there: re-run ``paperscope verify SLUG --record`` to refresh them."""
    import pandas as pd

    from ..claims import recorded, summary

    lab = get_lab(slug)
    record = recorded(lab.name)
    if record is None:
        return pd.DataFrame().style.set_caption(f"{slug}: no recorded run yet (paperscope verify {slug} --record)")
    number = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # "inf" arrives as text
    rows = [{"claim": r["claim"], "wording": r["text"], "values (per seed)": ", ".join(map(number, r["values"])),
             "threshold": f"{r['direction']} {r['threshold']:g}", "status": r["status"]} for r in record["claims"]]
    caption = (f"{summary(record)}: {record['seconds']:.0f} s on {record['workers']} workers, "
               f"code {record['code']}")
    return pd.DataFrame(rows).style.hide(axis="index").set_caption(caption)


FALLBACK_AFTER_S = 20.0  # an idle kernel and still no Panel front end: show the ipywidgets view


def app(slug: str, lab_params=None, ui: str = "auto"):
    """The live app in the notebook; it starts computing once the notebook has drawn it.

    ``ui="panel"`` is the Panel app. ``ui="widgets"`` is :class:`WidgetsApp`, built from
    ipywidgets alone (controls, status line and the lab's figure redrawn as the run streams),
    for front ends without Panel's extension. ``"auto"`` (the default) shows the Panel app and,
    if no front end has drawn any Panel output of this kernel after ``FALLBACK_AFTER_S`` seconds
    of the kernel being free (e.g. a JupyterLab without the extension), the widgets view
    beneath it.
    """
    if ui == "widgets":
        return WidgetsApp(slug, lab_params).start().view
    from IPython.display import display

    from ..service.run_cache import reading_cache, serving
    from .app import LabApp

    lab = get_lab(slug)
    live = LabApp(slug, params=lab_params, autostart=False, notebook=True,
                  run=serving(_last_run(lab.slug), reading_cache(lab.slug, lab.run)))
    layout = live.panel()
    if ui == "auto":
        fallback = widgets.Output()
        display(fallback)
        _when_undrawn(live, lambda: fallback.append_display_data(WidgetsApp(slug, live.params).start().view))
    live.start_when_shown()
    return layout


def _when_undrawn(live, degrade, tick_s: float = 1.0) -> None:
    """Call ``degrade`` once the kernel has been free for ``FALLBACK_AFTER_S`` seconds without
    the Panel app starting and without any Panel output of this kernel drawn. Seconds count only
    while the kernel is free (its timer fires on time): a front end's "drawn" message waits
    behind queued cells (Run All), so time spent running cells says nothing about the front end."""
    import time

    state = {"free_s": 0.0, "last": time.monotonic()}

    def tick():
        now = time.monotonic()
        on_time = now - state["last"] < tick_s * 1.5
        state["last"] = now
        state["free_s"] = state["free_s"] + tick_s if on_time else 0.0
        if live.runner.generation > 0 or _panel_front_end_seen():
            return
        if state["free_s"] >= FALLBACK_AFTER_S:
            degrade()
            return
        live._kernel_loop.call_later(tick_s, tick)

    live._kernel_loop.call_later(tick_s, tick)


def _panel_front_end_seen() -> bool:
    """Whether a front end has opened the comm of any Panel output shown by this kernel."""
    import panel as pn

    return any(comm is not None and comm._comm is not None for _, _, _, comm in pn.state._views.values())


class WidgetsApp:
    """A lab's live view from ipywidgets alone: its controls, a status line and its figure (a
    PNG through the matplotlib backend), redrawn at most ``max_fps`` times a second while the
    run streams; a control change cancels the run and starts a new one."""

    def __init__(self, slug: str, lab_params=None, max_fps: float = 1.0):
        from ..core.runner import Runner

        self.lab = get_lab(slug)
        self.params = lab_params if lab_params is not None else params(slug)
        self.frame = None
        self.status = widgets.HTML("Starting…")
        self.table = widgets.HTML("")  # the lab's headline numbers, once a run is done
        self.image = widgets.Image(format="png", layout={"max_width": "100%"})
        self.view = widgets.VBox([controls(self.params), self.status, self.table, self.image])
        self.runner = Runner(self.lab.run, self._show_frame, self._show_state, max_fps=max_fps)
        self.params.param.watch(lambda *events: self.start(), self.params.names())

    def start(self) -> "WidgetsApp":
        self.runner.submit(self.lab.Params(**self.params.param.values()))
        return self

    def close(self) -> None:
        self.runner.close()

    def _show_frame(self, frame) -> None:
        from ..views.figure import render_bytes

        self.frame = frame
        self.image.value = render_bytes(self.lab.views().figure(frame, ()), "png")
        self.status.value = f"Running: step {frame.step} of {frame.total_steps}"

    def _show_state(self, state: str, message: str) -> None:
        from ..core.runner import DONE, ERROR

        if state == DONE:
            from ..views.specs import status_table

            summary = getattr(self.lab.views(), "summary", lambda frame: "")(self.frame)
            self.status.value = f"Done. {summary}"
            table = status_table(self.lab.views(), self.frame)
            self.table.value = table.html() if table else ""
        elif state == ERROR:
            self.status.value = f"Stopped: {message}"

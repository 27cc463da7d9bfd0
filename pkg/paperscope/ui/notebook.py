"""Notebook helpers: ipywidgets controls from a lab's ``Params``, headless runs with a progress
bar, the lab's figure, and the live Panel app inlined for offline JupyterLab."""

import ipywidgets as widgets
import param
from tqdm.auto import tqdm

from ..core.params import log_stops, quick_mode
from ..core.registry import get_lab
from ..core.runner import run_to_end


def setup() -> None:
    """Load Panel and HoloViews with their JavaScript inlined, so output shows with no internet."""
    from .app import extension

    extension(inline=True)


def params(slug: str, **overrides):
    """The lab's parameters: quick sizes when ``PAPERSCOPE_QUICK=1`` (CI), else the defaults."""
    return get_lab(slug).Params.preset("quick" if quick_mode() else "default", **overrides)


def _widget(p: param.Parameter, name: str, value, log_scale: bool = False):
    common = {"description": name, "description_tooltip": p.doc, "value": value,
              "style": {"description_width": "120px"}, "continuous_update": False}
    if isinstance(p, param.Boolean):
        return widgets.Checkbox(**{k: v for k, v in common.items() if k != "continuous_update"})
    if isinstance(p, param.Selector):
        common.pop("continuous_update")
        return widgets.Dropdown(options=list(p.objects), **common)
    if isinstance(p, param.Number) and log_scale:
        common.pop("continuous_update")
        return widgets.SelectionSlider(options=log_stops(p, value), continuous_update=False, **common)
    if isinstance(p, param.Number):
        lo, hi = p.get_soft_bounds()
        lo = value if lo is None else min(lo, value)
        hi = value if hi is None else max(hi, value)
        if isinstance(p, param.Integer):
            return widgets.IntSlider(min=lo, max=hi, **common)
        return widgets.FloatSlider(min=lo, max=hi, step=(hi - lo) / 200 or 0.01, readout_format=".3g", **common)
    common.pop("continuous_update")
    return widgets.Text(value=str(value), description=name, description_tooltip=p.doc)


def _show(w, event, log_scale: bool) -> None:
    """Show a value set elsewhere; a log slider gains it as a stop if it is not one."""
    if log_scale and event.new not in w.options:
        w.options = log_stops(event.cls.param[event.name], event.new)
    w.value = event.new


def controls(lab_params) -> widgets.VBox:
    """ipywidgets for every parameter, kept in sync with ``lab_params`` both ways."""
    rows = []
    for name in lab_params.names():
        log_scale = name in type(lab_params).LOG_SCALE
        w = _widget(lab_params.param[name], name, getattr(lab_params, name), log_scale)
        w.observe(lambda change, name=name: setattr(lab_params, name, change["new"]), names="value")
        lab_params.param.watch(lambda event, w=w, log_scale=log_scale: _show(w, event, log_scale), name)
        rows.append(w)
    return widgets.VBox(rows)


def run(slug: str, lab_params):
    """Run the lab to the end in this kernel with a progress bar; returns the last frame."""
    lab = get_lab(slug)
    bar = tqdm(total=None, desc=lab.slug, unit="step")

    def advance(frame):
        bar.total = frame.total_steps
        bar.n = frame.step
        bar.refresh()
    try:
        return run_to_end(lab.run, lab_params, advance)
    finally:
        bar.close()


def figure(slug: str, frame, previous=()):
    """The lab's publication figure for ``frame`` (a HoloViews layout); ``previous`` holds
    (label, frame) pairs of other runs for labs that compare runs."""
    return get_lab(slug).views().figure(frame, previous)


def export(slug: str, lab_params, frame, path: str, previous=()):
    """Write the figure and its provenance sidecar, as ``paperscope run --export`` does."""
    from ..views.figure import export as write

    return write(get_lab(slug), lab_params, frame, path, previous)


def app(slug: str, lab_params=None):
    """The live app in the notebook; it starts computing once the cell has rendered it."""
    import panel as pn

    from .app import LabApp

    live = LabApp(slug, params=lab_params, autostart=False)
    # The kernel's event loop runs this after the cell's output is drawn, so frames never
    # replace plots halfway through their first render.
    pn.state.add_periodic_callback(live.start, period=200, count=1)
    return live.panel()

"""Controls from a lab's ``Params``: one mapping from a ``param`` parameter to a control, built
as Panel widgets in the app (Panel's param integration, ``Widget.from_param``) and as
ipywidgets in a notebook without Panel's front end.

What the libraries lack is kept here as small extensions: log-spaced sliders
(``LabParams.LOG_SCALE``), a float step fine enough for a soft range spanning decades (e.g. lr
in 1e-3..1e-2; Panel's default step is 0.1), sliders that report on release, and a tooltip for
widgets without a description of their own. URL state (and its bad-link notice) is in
``ui.app``.
"""

import math
from dataclasses import dataclass

import param

from ..core.params import log_stops

CHECK, SELECT, LOG, INT, FLOAT, TEXT = "check", "select", "log", "int", "float", "text"


@dataclass(frozen=True)
class Control:
    """What kind of control a parameter gets, with the numbers both toolkits need."""

    name: str
    kind: str
    doc: str
    low: float | None = None  # slider range: the soft bounds, widened to hold the value
    high: float | None = None
    step: float | None = None  # float sliders
    digits: int = 0  # decimals a float slider shows
    stops: tuple = ()  # log sliders


def control_for(params: param.Parameterized, name: str) -> Control:
    p, value = params.param[name], getattr(params, name)
    if name in type(params).LOG_SCALE:
        return Control(name, LOG, p.doc, stops=tuple(log_stops(p, value)))
    if isinstance(p, param.Boolean):
        return Control(name, CHECK, p.doc)
    if isinstance(p, param.Selector):
        return Control(name, SELECT, p.doc)
    if not isinstance(p, param.Number):
        return Control(name, TEXT, p.doc)
    lo, hi = p.get_soft_bounds()
    lo = value if lo is None else min(lo, value)
    hi = value if hi is None else max(hi, value)
    if isinstance(p, param.Integer):
        return Control(name, INT, p.doc, lo, hi)
    step = 10.0 ** math.floor(math.log10((hi - lo) / 100)) if hi > lo else 0.01
    return Control(name, FLOAT, p.doc, lo, hi, step, max(0, -int(math.floor(math.log10(step)))))


def controls_of(params: param.Parameterized) -> list[Control]:
    """Controls of every parameter but those with negative precedence, which have a control of
    their own (``data``: the upload in ``ui.upload``)."""
    return [control_for(params, name) for name in params.names()
            if (params.param[name].precedence or 0) >= 0]


# -- Panel ------------------------------------------------------------------------------------

def panel_widget(params: param.Parameterized, control: Control):
    """The Panel widget of one control, linked to ``params`` both ways."""
    import panel as pn

    p = params.param[control.name]
    if control.kind == LOG:
        return _log_slider(params, control)
    if control.kind == FLOAT:  # reports on release: a drag starts one run, not fifty
        return pn.widgets.FloatSlider.from_param(p, throttled=True, step=control.step,
                                                 format=f"0.{'0' * control.digits}")
    if control.kind == INT:
        return pn.widgets.IntSlider.from_param(p, throttled=True)
    return pn.Param.widget_type(p).from_param(p)


def _log_slider(params, control: Control):
    """A slider over log-spaced stops, linked both ways; a value set elsewhere (a link, the
    notebook) becomes a stop of its own."""
    import panel as pn

    name, p = control.name, params.param[control.name]
    widget = pn.widgets.DiscreteSlider(name=p.label, options=list(control.stops),
                                       value=float(getattr(params, name)), formatter="%.3g")

    def to_params(event):
        setattr(params, name, event.new)

    def to_widget(event):
        if float(event.new) not in widget.options:
            widget.options = log_stops(p, event.new)
        widget.value = float(event.new)
    widget.param.watch(to_params, "value_throttled")
    params.param.watch(to_widget, name)
    return widget


def panel_controls(params: param.Parameterized) -> tuple[dict, object]:
    """One widget per parameter, each with its ``doc`` as a tooltip; ``(widgets, column)``."""
    import panel as pn

    widgets, rows = {}, []
    for control in controls_of(params):
        widget = widgets[control.name] = panel_widget(params, control)
        if "description" in widget.param:
            widget.description = control.doc
            rows.append(widget)
        else:  # sliders and checkboxes have no tooltip of their own
            margin = (22, 0, 0, -8) if control.kind in (LOG, INT, FLOAT) else (8, 0, 0, -8)
            rows.append(pn.Row(widget, pn.widgets.TooltipIcon(value=control.doc, margin=margin)))
    return widgets, pn.Column(*rows, sizing_mode="stretch_width")


# -- ipywidgets -------------------------------------------------------------------------------

def ipywidget(params: param.Parameterized, control: Control):
    """The ipywidget of one control, linked to ``params`` both ways."""
    import ipywidgets as widgets

    name, value = control.name, getattr(params, control.name)
    common = {"description": name, "description_tooltip": control.doc, "value": value,
              "style": {"description_width": "120px"}}
    slider = {"continuous_update": False}  # report on release, as in the app
    if control.kind == CHECK:
        w = widgets.Checkbox(**common)
    elif control.kind == SELECT:
        w = widgets.Dropdown(options=list(params.param[name].objects), **common)
    elif control.kind == LOG:
        w = widgets.SelectionSlider(options=list(control.stops), **common, **slider)
    elif control.kind == INT:
        w = widgets.IntSlider(min=control.low, max=control.high, **common, **slider)
    elif control.kind == FLOAT:
        w = widgets.FloatSlider(min=control.low, max=control.high, step=control.step,
                                readout_format=".3g", **common, **slider)
    else:
        w = widgets.Text(**{**common, "value": str(value)})

    def show(event):  # a log slider gains a value set elsewhere as a stop of its own
        if control.kind == LOG and event.new not in w.options:
            w.options = log_stops(params.param[name], event.new)
        w.value = event.new
    w.observe(lambda change: setattr(params, name, change["new"]), names="value")
    params.param.watch(show, name)
    return w


def ipywidget_controls(params: param.Parameterized):
    import ipywidgets as widgets

    return widgets.VBox([ipywidget(params, control) for control in controls_of(params)])

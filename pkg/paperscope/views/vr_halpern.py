"""Views of the VR-Halpern lab: the operator residual of every method against oracle calls
(the selected method highlighted), the same on log-log axes (slopes = rates), the residual at
the budget and the oracle calls to reach ε against n over this and earlier runs (log-log: the
paper's √n against n), and the iterates in the slowest plane."""

from functools import partial

import numpy as np

from paperscope.labs.vr_halpern import METHOD_LABELS, geometric_mean

from .figure import default_figure
from .specs import Curves, LivePlot, Table
from .style import FAINT


def _labels(frame, numeric: bool = False) -> tuple[str, ...]:
    """Method names; the exported figure adds each curve's log-log slope (its rate)."""
    labels = []
    for m, name in enumerate(frame.methods):
        label = METHOD_LABELS[name] + (" (selected)" if name == frame.method else "")
        if numeric and np.isfinite(frame.slope[m]):
            label += f" (slope {frame.slope[m]:.2f})"
        labels.append(label)
    return tuple(labels)


def _groups(frame) -> tuple[str, ...]:
    """The selected method drawn in full, the others faint."""
    return tuple("Curve" if name == frame.method else FAINT for name in frame.methods)


def residual(frame, numeric=False):
    return Curves(frame.epochs, frame.residual, _labels(frame, numeric), "oracle calls / n (passes)",
                  "‖F(u)‖ (mean of seeds)", groups=_groups(frame))


def _now(frame) -> np.ndarray:
    """Each method's residual at the budget, or at its progress so far, (M,)."""
    if frame.done:
        return geometric_mean(frame.final, 1)
    out = np.full(len(frame.methods), np.nan)
    for m in range(len(frame.methods)):
        ok = np.flatnonzero(np.isfinite(frame.residual[:, m]))
        if ok.size:
            out[m] = frame.residual[ok[-1], m]
    return out


def versus_n(frame, previous=(), numeric=False):
    """Residual at the budget against n: this run and earlier runs at the same other settings."""
    runs = [frame, *[f for _, f in previous if f.setting == frame.setting and f.n != frame.n]]
    runs.sort(key=lambda f: f.n)
    ns = np.array([f.n for f in runs], dtype=float)
    Y = np.stack([_now(f) for f in runs])  # (runs, M)
    labels = tuple(METHOD_LABELS[name] for name in frame.methods)
    return Curves(ns, Y, labels, "n (components)", f"‖F‖ after {frame.passes:g} passes",
                  markers=True)


def calls_versus_n(frame, previous=(), numeric=False):
    """Oracle calls to reach ‖F‖ ≤ ε against n on log-log axes, this run and earlier runs at the
    same other settings (a slope of 1 is O(n), of ½ the paper's √n). Two guides: the
    budget (passes × n, slope 1) and ∝ √n from the budget at the smallest n; a method that did
    not reach ε within the budget is left out."""
    runs = [frame, *[f for _, f in previous if f.setting == frame.setting and f.n != frame.n]]
    runs.sort(key=lambda f: f.n)
    ns = np.array([f.n for f in runs], dtype=float)
    with np.errstate(invalid="ignore"):
        Y = np.stack([geometric_mean(f.calls_to_epsilon, 1) for f in runs])  # (runs, M); inf: not yet
    Y[~np.isfinite(Y)] = np.nan
    labels = [METHOD_LABELS[name] for name in frame.methods]
    budget = frame.passes * ns
    guides = np.stack([budget, budget[0] * np.sqrt(ns / ns[0])], 1)  # (runs, 2)
    return Curves(ns, np.concatenate([Y, guides], 1), (*labels, "budget, ∝ n", "∝ √n"), "n (components)",
                  f"oracle calls to ‖F‖ ≤ {frame.epsilon:g}", markers=True,
                  xticks=tuple(int(n) for n in ns) if numeric else None)  # on paper: ticks at the runs' n


def trajectory(frame, numeric=False):
    """Seed 0's certificate points minus u*, in the plane of one singular pair of B̄."""
    traj = frame.paths()
    return Curves(None, [t[:, 1] for t in traj], _labels(frame),
                  "x − x* along u_j", "y − y* along w_j", xs=[t[:, 0] for t in traj],
                  groups=_groups(frame))


_LOG = {"logy": True}
_LEGEND = {"legend_position": "bottom_left"}  # the curves fall from the top left
PLOTS = {
    "Operator residual vs oracle calls": LivePlot(residual, ("residual",), {**_LOG, **_LEGEND}),
    "Rates: the same on log–log axes": LivePlot(residual, ("residual",),
                                                {"logx": True, "logy": True, **_LEGEND}),
    "Residual at the budget vs n (this and earlier runs)": LivePlot(
        versus_n, ("residual", "final"), _LOG, compare=True),
    "Calls to reach ε vs n, log–log (all runs)": LivePlot(
        calls_versus_n, ("calls_to_epsilon",), {"logx": True, "logy": True}, compare=True),
    "Paths to the solution (0, 0) in a plane, seed 0": LivePlot(trajectory, ("trajectory",)),
}


def run_label(params) -> str:
    """How an earlier run is named when runs are compared (the method only highlights)."""
    return f"n={params.n}, c={params.step:g}, {params.passes:g} passes, seed {params.seed}"


def summary(frame) -> str:
    """The status line: every method's residual at the budget, and the selected one's gain."""
    m = frame.metrics or {}
    by = m.get("by_method")
    if not by:
        return ""
    parts = [f"{METHOD_LABELS[k]} {v['residual']:.3g}" for k, v in by.items()]
    sel = by[frame.method]["residual"]
    gain = by["eg"]["residual"] / sel if sel > 0 else float("inf")
    return (f"‖F‖ after {frame.passes:g} passes (n={frame.n}, mean of {frame.final.shape[1]} seeds): "
            + ", ".join(parts) + f"; {METHOD_LABELS[frame.method]} is {gain:.1f}× below EG")


def table(frame) -> Table | None:
    """Under the status line: every method at the budget (the seeds' geometric-mean residual, as
    the curves; mean oracle calls; the log-log rate over the last 3/4 of the budget)."""
    if not frame.metrics:
        return None
    return Table({
        "method": [METHOD_LABELS[name] for name in frame.methods],
        "‖F‖ at the budget": list(geometric_mean(frame.final, 1)),
        "oracle calls": [int(round(c.mean())) for c in frame.final_calls],
        "log-log slope": list(frame.slope),
    })


# The exported figure: residual vs calls (linear and log-log, with slopes), vs n, calls to ε vs n,
# trajectory.
figure = partial(default_figure, PLOTS, cols=2, fig_inches=(10, 11))

"""Views of the dual-function lab: three tasks' validation utility u(α) as exact step curves
with their jumps as rug ticks, the mean utility over training and fresh tasks, the exact jump
count of each counted task against the bound 2·H·n_val, and the generalisation gap of the
tuned α against the number of tasks N (log-log, with a 1/√N reference).

The step curves are rebuilt from the exact jumps (u at α = 0 plus ±1/n_val at each sign change
of a validation margin), not from the α grid, so a jump between grid points is drawn where it is.
"""

from functools import partial

import numpy as np

from ..labs.hyperparam_tuning import SHOWN
from .figure import default_figure
from .specs import Curves, LivePlot
from .style import FAINT

ALPHA = "α (0: σ₀, 1: ReLU)"
TASK_LABELS = tuple(f"task {i + 1}" for i in range(SHOWN))
RUG = 0.04  # rug tick height, as a share of the plot's u range


def step_curve(u0: float, at: np.ndarray, size: np.ndarray, lo: float = 0.0, hi: float = 1.0):
    """The exact piecewise-constant u: ``(x, y)`` with a vertical step at every jump."""
    x = np.concatenate([[lo], np.repeat(at, 2), [hi]])
    levels = u0 + np.concatenate([[0.0], np.cumsum(size)])
    return x, np.repeat(levels, 2)


def _rug(at: np.ndarray, base: float, height: float):
    """Vertical ticks at ``at`` from ``base`` up by ``height``, NaN-separated (one layer)."""
    x = np.repeat(at, 3)
    y = np.tile([base, base + height, np.nan], len(at))
    x[2::3] = np.nan
    return x, y


def utilities(frame):
    """u(α) of the first tasks as exact steps, the pool's mean u (faint) and the jumps as ticks."""
    xs, ys = [], []
    shown = frame.u_shown
    for t in range(SHOWN):
        if t < len(shown):
            mine = frame.jump_task == t
            x, y = step_curve(shown[t, 0], frame.jump_alpha[mine], frame.jump_size[mine], frame.alpha[0],
                              frame.alpha[-1])
        else:
            x, y = np.zeros(0), np.zeros(0)
        xs.append(x)
        ys.append(y)
    xs.append(frame.alpha)
    ys.append(frame.u_pool)
    values = np.concatenate([y for y in ys if len(y)] or [np.zeros(1)])
    values = values[np.isfinite(values)] if np.isfinite(values).any() else np.zeros(1)
    low, span = values.min(), max(values.max() - values.min(), 1e-3)
    rx, ry = _rug(frame.jump_alpha, low - 1.5 * RUG * span, RUG * span)
    xs.append(rx)
    ys.append(ry)
    labels = (*TASK_LABELS, "mean over training tasks", "jumps (exact)")
    groups = ("Curve",) * SHOWN + (FAINT, "Curve")
    return Curves(None, ys, labels, ALPHA, "validation accuracy u(α)", xs=xs, groups=groups)


def mean_utility(frame):
    """ū(α) over the 2N training tasks (the pool) and over the fresh tasks: ERM maximises the
    first on N-subsets; the second is what the tuned α earns."""
    return Curves(frame.alpha, np.stack([frame.u_pool, frame.u_fresh], 1),
                  ("training tasks (pool of 2N)", "fresh tasks"), ALPHA, "mean validation accuracy ū(α)")


def jumps_vs_bound(frame):
    """The exact jump count of every counted task against the bound 2·H·n_val (log scale)."""
    tasks = np.arange(1, len(frame.jumps) + 1, dtype=float)
    Y = np.stack([np.maximum(frame.jumps, 0.5), np.full(len(tasks), frame.jump_bound)], 1)
    # ticks fixed by the number of tasks to count, so the live plot updates in place as they come
    ticks = tuple(t for t in (1, 5, 10, 15, 20, 30, 40, 50) if t <= max(frame.counted, 1))
    return Curves(tasks, Y, ("jumps of u (exact)", "bound 2·H·n_val"), "task", "number of jumps", markers=True,
                  xticks=ticks)


def learning_curve(frame):
    """Mean |ū_train(α̂_N) − ū_fresh(α̂_N)| over the repetitions (± its standard error) and the
    excess max ū_fresh − ū_fresh(α̂_N), against N, with c/√N through the gap at N = 1."""
    N = frame.Ns
    if frame.gap.size == 0:  # the curve comes with the last frame
        none = np.zeros(0)
        return Curves(none, np.zeros((0, 3)), _CURVE_LABELS, "training tasks N", "utility gap", markers=True,
                      errors=[none, None, None])
    gap = np.abs(frame.gap)
    mean = gap.mean(1)
    se = gap.std(1) / np.sqrt(gap.shape[1])
    excess = frame.excess.mean(1)
    excess = np.where(excess > 0, excess, np.nan)  # log axis: no zeros
    reference = mean[0] / np.sqrt(N)
    return Curves(N, np.stack([mean, excess, reference], 1), _CURVE_LABELS, "training tasks N", "utility gap",
                  markers=True, errors=[se, None, None])


_CURVE_LABELS = ("|ū_train − ū_fresh| at α̂_N", "excess max ū_fresh − ū_fresh(α̂_N)", "∝ 1/√N")

_TOP = {"legend_position": "top"}
_PAPER = {"legend_position": "best"}
PLOTS = {
    "Validation utility u(α) of three tasks": LivePlot(
        utilities, ("u_shown", "jump_alpha", "u_pool"), {"legend_position": "bottom_right"},
        export={"legend_position": "bottom", "legend_cols": 3}),
    "Mean utility over tasks": LivePlot(mean_utility, ("u_pool", "u_fresh"), _TOP, export=_PAPER),
    "Exact jumps per task vs the bound": LivePlot(
        jumps_vs_bound, ("jumps",), {"logy": True, "legend_position": "right"}, export=_PAPER),
    "Generalisation gap of the tuned α vs N": LivePlot(
        learning_curve, ("gap", "excess"), {"logx": True, "logy": True, "legend_position": "bottom_left"},
        export=_PAPER),
}


def summary(frame) -> str:
    """The status line: jumps against the bound, the tuned α and its gap at N = tasks."""
    m = frame.metrics or {}
    if not m:
        return ""
    return (f"Exact jumps of u: {m['jumps']:.1f} on average (at most {m['jumps_max']}) over "
            f"{len(m['jumps_per_task'])} tasks; bound 2·H·n_val = {m['jump_bound']:.0f}. "
            f"Tuned on N = {m['tasks']} tasks: α̂ = {m['alpha_hat']:.3f} (median), mean |gap| = "
            f"{m['generalization_gap']:.4f}, excess = {m['excess']:.4f} (fresh-task optimum α = "
            f"{m['alpha_best_fresh']:.3f}, ū = {m['u_best_fresh']:.3f}).")


figure = partial(default_figure, PLOTS, cols=2, fig_inches=(9, 7))

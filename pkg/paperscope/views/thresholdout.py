"""Views of the reusable-holdout lab: the paper's two panels (standard holdout, Thresholdout),
the reported-minus-fresh gap of both mechanisms, the selected mechanism's gap against earlier
runs, Thresholdout's budget, and the theory's headline: the worst answer's error against the
number of adaptive queries at a fixed budget.

Both mechanisms are computed on the same data in every run and always drawn side by side: the
claim is a contrast, and a toggle that hid one of them would hide it. ``mechanism`` picks the
headline metrics, the "(selected)" curve of the gap panel and the run compared across settings.
Error bars are ±1 sd over repetitions, in the colour of their curve.
"""

from functools import partial

import numpy as np

from ..labs.thresholdout import MECHANISMS, max_error_so_far, mean_sd
from ..labs.thresholdout import run_label as _run_label
from .figure import default_figure
from .specs import Curves, LivePlot

NAMES = {"standard": "standard holdout", "thresholdout": "Thresholdout"}
K_LABEL = "features used k"


def _with_bars(x, series: dict, ylabel: str) -> Curves:
    """Curves of ``series`` (label -> (mean, sd)) over ``x``, each with its ±1 sd error bars,
    moved apart sideways so that the bars of curves at the same k do not overlap."""
    return Curves(x, np.stack([mean for mean, _ in series.values()], 1), tuple(series), K_LABEL, ylabel,
                  errors=[sd for _, sd in series.values()], dodge=0.08)


def _accuracies(m: int):
    """One of the paper's panels: training, reported holdout and fresh accuracy of mechanism m."""
    def build(frame):
        series = {name: mean_sd(getattr(frame, field)[:, m])
                  for name, field in (("training", "train"), ("holdout (reported)", "holdout"),
                                      ("fresh", "fresh"))}
        return _with_bars(frame.ks, series, "accuracy")
    return build


def gap(frame):
    """Reported holdout minus fresh accuracy, both mechanisms, ±1 sd over repetitions."""
    series = {}
    for m, mech in enumerate(MECHANISMS):
        label = NAMES[mech] + (" (selected)" if mech == frame.mechanism else "")
        series[label] = mean_sd(frame.holdout[:, m] - frame.fresh[:, m])
    return _with_bars(frame.ks, series, "holdout − fresh")


def _selected_gap(frame) -> np.ndarray:
    m = MECHANISMS.index(frame.mechanism)
    return mean_sd(frame.holdout[:, m] - frame.fresh[:, m])[0]


def compare(frame, previous=()):
    """The selected mechanism's gap in this run and in earlier finished runs."""
    runs = [(f"{frame.label} (this run)", frame), *previous]
    return Curves(None, [_selected_gap(f) for _, f in runs], tuple(label for label, _ in runs),
                  K_LABEL, "holdout − fresh", markers=True, xs=[f.ks for _, f in runs])


def answer_error(frame, numeric: bool = False):
    """The theory's headline: the worst answer so far, ``max_{i ≤ m} |reported − fresh|``, against
    the number m of adaptive queries (one classifier checked per round), both mechanisms at the
    run's budget B; mean ± 1 sd over repetitions. The standard holdout's error grows with m;
    Thresholdout's should stay within about T of the truth. The exported figure names B (the
    live plot keeps its labels fixed so that it updates in place)."""
    B = "∞" if not np.isfinite(frame.budget) else f"{frame.budget:g}"
    series = {}
    for m, mech in enumerate(MECHANISMS):
        label = NAMES[mech] + (f" (B = {B})" if numeric and mech == "thresholdout" else "")
        series[label] = mean_sd(max_error_so_far(frame.holdout[:, m], frame.fresh[:, m]))
    queries = np.arange(1, len(frame.ks) + 1)
    return Curves(queries, np.stack([mean for mean, _ in series.values()], 1), tuple(series),
                  "adaptive queries m (classifiers checked)", "max |reported − fresh| so far",
                  bands=[(mean - sd, mean + sd) for mean, sd in series.values()])


def budget(frame):
    """Thresholdout's over-threshold answers, cumulative: after the d feature queries (round 0)
    and after each round's accuracy query; the budget B as a line when it is finite."""
    rounds = np.arange(frame.spent.shape[1], dtype=float)
    mean, sd = mean_sd(frame.spent)
    Y, labels, errors = [mean], ["over-threshold answers"], [sd]
    if np.isfinite(frame.budget):
        Y.append(np.full_like(rounds, frame.budget))
        labels.append("budget B (then ⊥)")
        errors.append(None)
    return Curves(rounds, np.stack(Y, 1), tuple(labels), "round (0: the d feature queries)", "budget spent",
                  errors=errors)


# In the browser the legends sit outside the plots, where they cannot hide the curves near the
# top; the exported figure keeps matplotlib's "best" place inside.
_ABOVE = {"legend_position": "top"}
_PAPER = {"legend_position": "best"}
PLOTS = {
    "Standard holdout (reused)": LivePlot(_accuracies(0), ("train", "holdout", "fresh"), _ABOVE, export=_PAPER),
    "Thresholdout": LivePlot(_accuracies(1), ("train", "holdout", "fresh"), _ABOVE, export=_PAPER),
    "Reported holdout − fresh, both mechanisms": LivePlot(gap, ("holdout", "fresh", "mechanism"), _ABOVE,
                                                          export=_PAPER),
    "Selected mechanism: this run vs earlier runs": LivePlot(  # long labels: one per line, below
        compare, ("holdout", "fresh"), {"legend_position": "bottom", "legend_cols": 1}, compare=True,
        export=_PAPER),
    "Thresholdout's budget": LivePlot(budget, ("spent",), _ABOVE, export=_PAPER),
    "Answer error vs adaptive queries": LivePlot(answer_error, ("holdout", "fresh"), _ABOVE,
                                                 export=_PAPER),
}


def run_label(params) -> str:
    """How an earlier run is named in the comparison plot."""
    return _run_label(params)


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def summary(frame) -> str:
    """The status line: reported vs fresh at the last round for both mechanisms, budget spent."""
    m = frame.metrics or {}
    if not m:
        return ""
    parts = []
    for mech in sorted(MECHANISMS, key=lambda x: x != frame.mechanism):  # the selected one first
        gap_ = m[f"{mech}_holdout_minus_fresh"]
        parts.append(f"{NAMES[mech]}{' (selected)' if mech == frame.mechanism else ''}: holdout "
                     f"{_fmt(m[f'{mech}_holdout_acc'])} vs fresh {_fmt(m[f'{mech}_fresh_acc'])}"
                     + ("" if gap_ is None else f" (gap {gap_:+.3f})"))
    text = f"At k = {m['k_last']}: " + "; ".join(parts)
    text += f". Thresholdout spent {m['budget_spent']:.0f} over-threshold answers"
    if m["answered"] < 1:
        text += f"; its holdout was locked (⊥) by the last round in {1 - m['answered']:.0%} of repetitions"
    return text + "."


# The exported figure: every panel of the app (earlier runs in the comparison panel).
figure = partial(default_figure, PLOTS, cols=3, fig_inches=(11, 6.5))

"""Views of the reusable-holdout lab: the paper's two panels (standard holdout, Thresholdout),
the reported-minus-fresh gap of both mechanisms, the selected mechanism's gap against earlier
runs, and Thresholdout's budget.

Both mechanisms are computed on the same data in every run and always drawn side by side: the
claim is a contrast, and a toggle that hid one of them would hide it. ``mechanism`` picks the
headline metrics, the "(selected)" curve of the gap panel and the run compared across settings.
Error bars are ±1 sd over repetitions, drawn as a faint layer of vertical segments in the
colour of their curve (the shared specs have no band glyph).
"""

from dataclasses import dataclass

import holoviews as hv
import numpy as np

from ..labs.thresholdout import MECHANISMS, mean_sd
from ..labs.thresholdout import run_label as _run_label
from .specs import Curves, LivePlot
from .style import FAINT

NAMES = {"standard": "standard holdout", "thresholdout": "Thresholdout"}
K_LABEL = "features used k"


@dataclass(frozen=True)
class _Curves(Curves):
    """Curves whose browser legend sits outside the plot (``legend``: a bokeh position), where
    it cannot hide the curves near the top; the exported figure keeps matplotlib's "best"."""

    legend: str = "top"
    legend_columns: int = 0  # 0: HoloViews' choice (one row above or below the plot)

    def element(self) -> hv.Overlay:
        opts = {"legend_position": self.legend}
        if self.legend_columns:
            opts["legend_cols"] = self.legend_columns
        return super().element().opts(backend="bokeh", **opts)


def _curves(spec: Curves, **fields) -> _Curves:
    return _Curves(**{**spec.__dict__, **fields})


def _whiskers(x, mean, sd, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Vertical ±1 sd segments at each x, separated by NaN (one line glyph for all of them)."""
    x = np.asarray(x, dtype=float) + shift
    nan = np.full_like(x, np.nan)
    return (np.stack([x, x, nan], 1).ravel(),
            np.stack([mean - sd, mean + sd, nan], 1).ravel())


def _with_bars(x, series: dict, shifts) -> Curves:
    """Curves of ``series`` (label -> (mean, sd)) over ``x``, each with its faint error bars."""
    labels = tuple(series)
    xs, Y = [np.asarray(x, dtype=float)] * len(labels), [mean for mean, _ in series.values()]
    for (mean, sd), shift in zip(series.values(), shifts):
        wx, wy = _whiskers(x, mean, sd, shift)
        xs.append(wx)
        Y.append(wy)
    # Same labels for the bars: one legend entry per series; the FAINT group keeps the colours paired.
    return Curves(None, Y, labels * 2, "", "", groups=("Curve",) * len(labels) + (FAINT,) * len(labels), xs=xs)


def _shifts(frame, count: int) -> list[float]:
    """Small horizontal offsets so the error bars of curves at the same k do not overlap."""
    step = float(frame.ks[1] - frame.ks[0]) if len(frame.ks) > 1 else 1.0
    return [step * 0.08 * (i - (count - 1) / 2) for i in range(count)]


def _accuracies(m: int):
    """One of the paper's panels: training, reported holdout and fresh accuracy of mechanism m."""
    def build(frame):
        series = {name: mean_sd(getattr(frame, field)[:, m])
                  for name, field in (("training", "train"), ("holdout (reported)", "holdout"),
                                      ("fresh", "fresh"))}
        return _curves(_with_bars(frame.ks, series, _shifts(frame, 3)), xlabel=K_LABEL, ylabel="accuracy")
    return build


def gap(frame):
    """Reported holdout minus fresh accuracy, both mechanisms, ±1 sd over repetitions."""
    series = {}
    for m, mech in enumerate(MECHANISMS):
        label = NAMES[mech] + (" (selected)" if mech == frame.mechanism else "")
        series[label] = mean_sd(frame.holdout[:, m] - frame.fresh[:, m])
    return _curves(_with_bars(frame.ks, series, _shifts(frame, 2)), xlabel=K_LABEL, ylabel="holdout − fresh")


def _selected_gap(frame) -> np.ndarray:
    m = MECHANISMS.index(frame.mechanism)
    return mean_sd(frame.holdout[:, m] - frame.fresh[:, m])[0]


def compare(frame, previous=()):
    """The selected mechanism's gap in this run and in earlier finished runs."""
    runs = [(f"{frame.label} (this run)", frame), *previous]
    return _Curves(None, [_selected_gap(f) for _, f in runs], tuple(label for label, _ in runs),
                   K_LABEL, "holdout − fresh", markers=True, xs=[f.ks for _, f in runs],
                   legend="bottom", legend_columns=1)  # long labels: one per line


def budget(frame):
    """Thresholdout's over-threshold answers, cumulative: after the d feature queries (round 0)
    and after each round's accuracy query; the budget B as a line when it is finite."""
    rounds = np.arange(frame.spent.shape[1], dtype=float)
    mean, sd = mean_sd(frame.spent)
    wx, wy = _whiskers(rounds, mean, sd)
    xs, Y = [rounds, wx], [mean, wy]
    labels, groups = ["over-threshold answers", "over-threshold answers"], ["Curve", FAINT]
    if np.isfinite(frame.budget):
        xs.append(rounds)
        Y.append(np.full_like(rounds, frame.budget))
        labels.append("budget B (then ⊥)")
        groups.append("Curve")
    return _Curves(None, Y, tuple(labels), "round (0: the d feature queries)", "budget spent",
                   groups=tuple(groups), xs=xs)


PLOTS = {
    "Standard holdout (reused)": LivePlot(_accuracies(0), ("train", "holdout", "fresh")),
    "Thresholdout": LivePlot(_accuracies(1), ("train", "holdout", "fresh")),
    "Reported holdout − fresh, both mechanisms": LivePlot(gap, ("holdout", "fresh", "mechanism")),
    "Selected mechanism: this run vs earlier runs": LivePlot(compare, ("holdout", "fresh"), compare=True),
    "Thresholdout's budget": LivePlot(budget, ("spent",)),
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


def figure(frame, previous=()) -> hv.Layout:
    """The exported figure: every panel of the app (earlier runs in the comparison panel)."""
    panels = [plot.draw(frame, title, previous) for title, plot in PLOTS.items()]
    return hv.Layout(panels).cols(3).opts(
        hv.opts.Layout(fig_inches=(11, 6.5), sublabel_format="({alpha})"), backend="matplotlib")

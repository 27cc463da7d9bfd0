"""Views of the causal-bounds lab: the paper's ribbon (per covariate bin, the selected
divergence's [lo, up] around the naive estimate, against the truth), every divergence's width
against the propensity ê, and the spec's caveat: width and coverage against n for this run's
outcome law and its contrast (unbounded Y widens with n, bounded Y settles)."""

from functools import partial

import numpy as np

from ..labs.causal_bounds import DIVERGENCES
from .figure import default_figure
from .specs import Curves, LivePlot, Table

NAMES = {"KL": "KL", "hellinger": "Hellinger", "chi2": "χ²", "TV": "TV", "JS": "JS", "agg": "k-agg"}
LAWS = {"gaussian": "Gaussian ε (unbounded Y)", "t3": "t₃ ε (unbounded Y)", "bounded": "bounded Y"}


def ribbon(frame):
    """Per bin: the truth θ(1, x), and the naive treated mean with the selected divergence's
    interval as its band (both the band and the naive mean come from P(Y | A=1, x))."""
    k = DIVERGENCES.index(frame.divergence)
    return Curves(frame.centres, np.stack([frame.naive, frame.truth], 1),
                  (f"naive E[Y | A=1, x], band: {NAMES[frame.divergence]} bounds", "truth θ(1, x)"),
                  "x (bin centre)", "E[Y(1) | x]", markers=True,
                  bands=[(frame.lower[k], frame.upper[k]), None])


def width_vs_propensity(frame):
    """Interval width per bin against the bin's ê, every divergence (the selected one named)."""
    order = np.argsort(frame.e_hat, kind="stable")
    widths = (frame.upper - frame.lower)[:, order].T  # (B, D)
    labels = tuple(NAMES[d] + (" (selected)" if d == frame.divergence else "") for d in DIVERGENCES)
    return Curves(frame.e_hat[order], widths, labels, "propensity ê₁(x)", "interval width", markers=True)


def _sweep(field: str, ylabel: str):
    """The selected divergence against n (prefixes of one sample), this run's law and its contrast."""
    def build(frame, numeric=False):
        labels = (f"{LAWS[frame.noise]} (this run)", LAWS[frame.contrast])
        return Curves(frame.sweep_n, getattr(frame, field).T, labels, "n (samples)",
                      ylabel.format(NAMES[frame.divergence]), markers=True,
                      xticks=tuple(int(n) for n in frame.sweep_n) if numeric else None)
    return build


_TOP = {"legend_position": "top"}
PLOTS = {
    "Bounds per covariate bin vs truth and naive": LivePlot(
        ribbon, ("truth", "naive", "lower", "upper", "divergence"), _TOP, export={"legend_position": "best"}),
    "Width vs propensity, every divergence": LivePlot(
        width_vs_propensity, ("e_hat", "lower", "upper", "divergence"), {"legend_position": "right"}),
    "Mean width vs n (unbounded vs bounded Y)": LivePlot(
        _sweep("sweep_width", "mean width ({})"), ("sweep_width", "noise"),
        {"logx": True, **_TOP}, export={"legend_position": "best"}),
    "Coverage vs n": LivePlot(
        _sweep("sweep_coverage", "coverage, {} (share of bins)"), ("sweep_coverage", "noise"),
        {"logx": True, "ylim": (-0.05, 1.05), "legend_position": "bottom_right"}),
}


def run_label(params) -> str:
    return (f"{NAMES[params.divergence]}, n={params.n}, γ_u={params.confounding:g}, "
            f"δ={params.outcome_confounding:g}, {params.noise}")


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def summary(frame) -> str:
    """The status line: the selected divergence's coverage and width, the naive estimate's bias."""
    m = frame.metrics or {}
    if not m:
        return ""
    return (f"{NAMES[frame.divergence]}: {_fmt(m['coverage'] * 100 if m['coverage'] is not None else None)} % "
            f"of bins covered, mean width {_fmt(m['mean_width'])}, Spearman(width, ê) "
            f"{_fmt(m['width_propensity_spearman'])}; the naive estimate misses the truth by "
            f"{_fmt(m['naive_bias'])} on average. Width at n = {frame.sweep_n[0]} → {frame.sweep_n[-1]}: "
            f"{_fmt(m['sweep_width'][0])} → {_fmt(m['sweep_width'][-1])} ({LAWS[frame.noise]}).")


def table(frame) -> Table | None:
    """Every divergence: coverage, mean width and Spearman(width, ê)."""
    m = frame.metrics or {}
    if not m:
        return None
    by = m["by_method"]
    nan = float("nan")
    return Table({
        "divergence": [NAMES[d] for d in DIVERGENCES],
        "coverage": [by[d]["coverage"] if by[d]["coverage"] is not None else nan for d in DIVERGENCES],
        "mean width": [by[d]["mean_width"] if by[d]["mean_width"] is not None else nan for d in DIVERGENCES],
        "Spearman(width, ê)": [by[d]["width_propensity_spearman"]
                               if by[d]["width_propensity_spearman"] is not None else nan for d in DIVERGENCES],
    })


figure = partial(default_figure, PLOTS, cols=2, fig_inches=(10, 8))

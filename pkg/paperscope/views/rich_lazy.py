"""Views of the rich/lazy lab: training, laziness vs effective rank, the change of both layers,
spectra, tangent kernels; and the initial-scale sweep (:func:`scale_figure`, drawn from
:func:`paperscope.labs.rich_lazy.scale_sweep`, not from a frame)."""

from functools import partial

import holoviews as hv
import numpy as np

from .figure import default_figure
from .specs import Curves, Heatmap, LivePlot
from .style import FAINT


def _labels(frame, numeric: bool = False) -> list[str]:
    """Curve labels. Live plots use labels that do not change with N (r = 1, r ≈ N^(1/2), r = N),
    so moving the hidden-size slider updates the plots in place instead of redrawing them
    afresh; the exported figure names the actual ranks."""
    if numeric:
        return tuple(f"r={r} (erank {e:.1f})" for r, e in zip(frame.ranks, frame.effective_rank))
    K = len(frame.ranks)
    middle = [f"r ≈ N^({i}/{K - 1})" if K > 3 else "r ≈ N^(1/2)" for i in range(1, K - 1)]
    return ("r = 1", *middle, "r = N")


def _extremes(frame) -> list[int]:
    """Indices of the lowest and highest rank: the comparison the paper's claim is about."""
    return [0, len(frame.ranks) - 1]


def loss(frame, numeric=False):
    return Curves(frame.logged_steps, frame.loss, _labels(frame, numeric), "step", "loss")


def weight_change(frame, numeric=False):
    return Curves(frame.logged_steps, frame.weight_change, _labels(frame, numeric), "step", "‖W_t − W_0‖_F")


def kernel_alignment(frame, numeric=False):
    return Curves(frame.kernel_steps, frame.kernel_alignment, _labels(frame, numeric), "step",
                  "KA(K_0, K_t)", markers=True)


def laziness_vs_rank(frame, numeric=False):
    """The paper's headline plot: laziness measures at the current step vs effective rank."""
    measures = np.stack([frame.weight_change[-1], frame.kernel_alignment[-1],
                         frame.representation_alignment[-1]], axis=1)  # (K, 3)
    return Curves(frame.effective_rank, measures,
                  ("weight change ‖ΔW‖_F", "kernel alignment", "representation alignment"),
                  "effective rank of W_0", "measure", markers=True)


def _layer_names(frame) -> tuple[str, str]:
    """The rank-r layer and the readout, in the paper's symbols for each network."""
    return ("W", "W_out") if frame.network == "rnn" else ("W₁", "W₂")


def layer_change(frame, numeric=False):
    """The change of both layers relative to their start, for the lowest and highest rank: in
    the linear network the readout W₂ can do most of the learning while W₁ barely moves."""
    labels, (inner, out) = _labels(frame, numeric), _layer_names(frame)
    columns, names = [], []
    for k in _extremes(frame):
        label = labels[k].split(" (")[0]
        columns += [frame.weight_change[:, k] / frame.norm_init[k],
                    frame.weight_change_out[:, k] / frame.norm_out_init[k]]
        names += [f"{label}, {inner}", f"{label}, {out}"]
    return Curves(frame.logged_steps, np.stack(columns, axis=1), tuple(names), "step", "‖ΔW‖_F / ‖W(0)‖_F")


def spectra(frame, numeric=False):
    """Singular values of W_0 (faint) and W_t for the lowest and highest rank."""
    labels, columns, names = _labels(frame, numeric), [], []
    for k in _extremes(frame):
        label = labels[k].split(" (")[0]
        columns += [frame.sv_init[k], frame.sv_now[k]]
        names += [f"{label}, W_0", f"{label}, W_t"]
    Y = np.maximum(np.stack(columns, axis=1), 1e-6)  # (N, 4); log axis: no zeros
    n = np.arange(1, Y.shape[0] + 1)
    return Curves(n, Y, tuple(names), "index", "singular value", groups=(FAINT, "Trained") * 2)


def kernels(frame, numeric=False):
    """The probe-by-probe tangent kernels as one 2 x 2 tiling: rows r = 1 and r = N, columns
    start and now; each tile normalised to its own max, tiles separated by a blank line."""
    tiles = []
    for k in _extremes(frame):
        row = [K / max(np.abs(K).max(), 1e-12) for K in (frame.kernel_init[k], frame.kernel_now[k])]
        gap = np.full((row[0].shape[0], 1), np.nan)
        tiles.append(np.hstack([row[0], gap, row[1]]))
    gap = np.full((1, tiles[0].shape[1]), np.nan)
    return Heatmap(np.vstack([tiles[1], gap, tiles[0]]), "K / max K")  # row 0 is drawn at the bottom


_SPECTRA_OPTIONS = {"logx": True, "logy": True}
PLOTS = {
    "Training loss": LivePlot(loss, ("loss",), {"logy": True}),
    "Weight change (lower = lazier)": LivePlot(weight_change, ("weight_change",)),
    "Tangent-kernel alignment (higher = lazier)": LivePlot(kernel_alignment, ("kernel_alignment",)),
    "Laziness vs effective rank": LivePlot(
        laziness_vs_rank, ("weight_change", "kernel_alignment", "representation_alignment"), {"logx": True}),
    "Relative change of each layer": LivePlot(layer_change, ("weight_change", "weight_change_out")),
    "Singular values of W_0 (faint) and W_t": LivePlot(spectra, ("sv_now", "sv_init"), _SPECTRA_OPTIONS),
    "Kernels K_0 | K_t (top r = 1, bottom r = N)": LivePlot(
        kernels, ("kernel_init", "kernel_now"), {"xaxis": None, "yaxis": None}),
}


def summary(frame) -> str:
    """The status line's headline numbers: weight change and kernel alignment per rank, and the
    relative change of both layers (which of the two did the learning)."""
    by_rank = (frame.metrics or {}).get("by_rank", {})
    inner, out = _layer_names(frame)
    return " · ".join(f"r={r}: ΔW {m['weight_change']:.2f}, KA {m['kernel_alignment']:.2f}, "
                      f"relative change {inner} {m['relative_weight_change']:.0%} / "
                      f"{out} {m['relative_weight_change_out']:.0%}"
                      for r, m in by_rank.items())


# The exported figure: every plot of the app, with the actual ranks in the legends.
figure = partial(default_figure, PLOTS, cols=3, fig_inches=(11, 8.5))  # three rows of panels


# --------------------------------------------------------------------------------------------
# The initial-scale sweep (a separate measurement: many runs, so not part of the live app)

_SWEEP_MEASURES = {"relative_weight_change": "‖ΔW‖_F / ‖W_0‖_F (lower = lazier)",
                   "kernel_alignment": "kernel alignment KA (higher = lazier)"}


def laziness_vs_scale(sweep: dict, measure: str) -> Curves:
    """One laziness measure against the initial scale g, one curve per rank: the mean over seeds
    with ± 1 sd error bars (``sweep`` from :func:`paperscope.labs.rich_lazy.scale_sweep`). Runs
    that diverged (NaN, listed in ``sweep["diverged"]``) are left out of that g's mean and sd."""
    values = sweep[measure]  # (S, n_seeds, K)
    finished = np.isfinite(values).sum(axis=1)  # (S, K) seeds that count at each g
    with np.errstate(invalid="ignore", divide="ignore"):  # a g where every seed diverged stays NaN
        mean = np.nansum(values, axis=1) / finished
        sd = np.sqrt(np.nansum((values - mean[:, None]) ** 2, axis=1) / np.maximum(finished - 1, 1))
    labels = tuple(f"r = {r}" for r in sweep["ranks"])
    return Curves(sweep["scales"], mean, labels, "initial scale g", _SWEEP_MEASURES[measure],
                  markers=True, errors=list(sd.T), dodge=0.02)


SCALE_PLOTS = {
    title: LivePlot(partial(lambda sweep, metric: laziness_vs_scale(sweep, metric), metric=metric), ())
    for metric, title in (("relative_weight_change", "Relative weight change vs g"),
                          ("kernel_alignment", "Kernel alignment vs g"))
}


def scale_figure(sweep: dict) -> hv.Layout:
    """The paper's classic control next to the rank effect: weight change and kernel alignment
    against g at each rank, mean ± sd over seeds (the sweep stands in for a frame)."""
    return default_figure(SCALE_PLOTS, sweep, cols=2, fig_inches=(10, 4))

"""Views of the rich/lazy lab: training, laziness vs effective rank, spectra, tangent kernels."""

import holoviews as hv
import numpy as np

from .style import LivePlot, common, curves, heatmap


def _labels(frame, numeric: bool = False) -> list[str]:
    """Curve labels. Live plots use labels that do not change with N (r = 1, r ≈ N^(1/2), r = N),
    so moving the hidden-size slider updates the plots in place instead of rebuilding them;
    the exported figure names the actual ranks."""
    if numeric:
        return [f"r={r} (erank {e:.1f})" for r, e in zip(frame.ranks, frame.effective_rank)]
    K = len(frame.ranks)
    middle = [f"r ≈ N^({i}/{K - 1})" if K > 3 else "r ≈ N^(1/2)" for i in range(1, K - 1)]
    return ["r = 1", *middle, "r = N"]


def _extremes(frame) -> list[int]:
    """Indices of the lowest and highest rank: the comparison the paper's claim is about."""
    return [0, len(frame.ranks) - 1]


def loss(frame, numeric=False):
    return curves(frame.logged_steps, frame.loss, _labels(frame, numeric), xlabel="step", ylabel="loss")


def weight_change(frame, numeric=False):
    return curves(frame.logged_steps, frame.weight_change, _labels(frame, numeric), xlabel="step",
                  ylabel="‖W_t − W_0‖_F")


def kernel_alignment(frame, numeric=False):
    return curves(frame.kernel_steps, frame.kernel_alignment, _labels(frame, numeric), xlabel="step",
                  ylabel="KA(K_0, K_t)", markers=True)


def laziness_vs_rank(frame, numeric=False):
    """The paper's headline plot: laziness measures at the current step vs effective rank."""
    measures = np.stack([frame.weight_change[-1], frame.kernel_alignment[-1],
                         frame.representation_alignment[-1]], axis=1)  # (K, 3)
    return curves(frame.effective_rank, measures,
                  ["weight change ‖ΔW‖_F", "kernel alignment", "representation alignment"],
                  xlabel="effective rank of W_0", ylabel="measure", markers=True)


def spectra(frame, numeric=False):
    """Singular values of W_0 (faint) and W_t for the lowest and highest rank."""
    labels, layers = _labels(frame, numeric), []
    n = np.arange(1, frame.sv_init.shape[1] + 1)
    for k in _extremes(frame):
        label = labels[k].split(" (")[0]
        layers.append(hv.Curve((n, np.maximum(frame.sv_init[k], 1e-6)), "index", "singular value",
                               group="Initial", label=f"{label}, W_0"))
        layers.append(hv.Curve((n, np.maximum(frame.sv_now[k], 1e-6)), "index", "singular value",
                               group="Trained", label=f"{label}, W_t"))
    return hv.Overlay(layers)


def kernels(frame, numeric=False):
    """The probe-by-probe tangent kernels as one 2 x 2 tiling: rows r = 1 and r = N, columns
    start and now; each tile normalised to its own max, tiles separated by a blank line."""
    tiles = []
    for k in _extremes(frame):
        row = [K / max(np.abs(K).max(), 1e-12) for K in (frame.kernel_init[k], frame.kernel_now[k])]
        gap = np.full((row[0].shape[0], 1), np.nan)
        tiles.append(np.hstack([row[0], gap, row[1]]))
    gap = np.full((1, tiles[0].shape[1]), np.nan)
    return heatmap(np.vstack([tiles[0], gap, tiles[1]]), label="K / max K")


_SPECTRA_OPTIONS = {"logx": True, "logy": True}
PLOTS = {
    "Training loss": LivePlot(loss, ("loss",), {"logy": True}),
    "Weight change (lower = lazier)": LivePlot(weight_change, ("weight_change",)),
    "Tangent-kernel alignment (higher = lazier)": LivePlot(kernel_alignment, ("kernel_alignment",)),
    "Laziness vs effective rank": LivePlot(
        laziness_vs_rank, ("weight_change", "kernel_alignment", "representation_alignment"), {"logx": True}),
    "Singular values of W_0 (faint) and W_t": LivePlot(spectra, ("sv_now", "sv_init"), _SPECTRA_OPTIONS),
    "Tangent kernels (rows r = 1, r = N; columns K_0, K_t)": LivePlot(
        kernels, ("kernel_init", "kernel_now"), {"xaxis": None, "yaxis": None}),
}


def layout_key(frame):
    """Frames with the same network and number of ranks update the same plots in place."""
    return (frame.network, len(frame.ranks))


def summary(frame) -> str:
    """The status line's headline numbers: weight change and kernel alignment per rank."""
    by_rank = (frame.metrics or {}).get("by_rank", {})
    return " · ".join(f"r={r}: ΔW {m['weight_change']:.2f}, KA {m['kernel_alignment']:.2f}"
                      for r, m in by_rank.items())


def figure(frame) -> hv.Layout:
    """The exported figure: every plot of the app, with the actual ranks in the legends."""
    panels = []
    for title in PLOTS:
        plot = PLOTS[title]
        panels.append(common(plot.build(frame, numeric=True), title=title, **plot.options))
    return hv.Layout(panels).cols(3).opts(
        hv.opts.Layout(fig_inches=(11, 6), sublabel_format="({alpha})"), backend="matplotlib")

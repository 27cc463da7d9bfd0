"""Views of the rich/lazy lab: training, laziness vs effective rank, spectra, tangent kernels."""

import holoviews as hv
import numpy as np

from .style import color, common, curves, heatmap


def _labels(frame, numeric: bool = False) -> list[str]:
    """Curve labels. Live plots use labels that do not change with N (r = 1, r ≈ N^(1/2), r = N),
    so moving the hidden-size slider updates the plots in place instead of rebuilding them;
    the exported figure names the actual ranks."""
    if numeric:
        return [f"r={r} (erank {e:.1f})" for r, e in zip(frame.ranks, frame.effective_rank)]
    K = len(frame.ranks)
    middle = [f"r ≈ N^({i}/{K - 1})" if K > 3 else "r ≈ N^(1/2)" for i in range(1, K - 1)]
    return ["r = 1", *middle, "r = N"]


def _ranks_text(frame) -> str:
    return f"N = {frame.sv_init.shape[1]}, r = " + ", ".join(str(int(r)) for r in frame.ranks)


def _extremes(frame) -> list[int]:
    """Indices of the lowest and highest rank: the comparison the paper's claim is about."""
    return [0, len(frame.ranks) - 1]


def loss(frame, numeric=False):
    return curves(frame.logged_steps, frame.loss, _labels(frame, numeric), xlabel="step", ylabel="loss",
                  title="Training loss" + ("" if numeric else f" ({_ranks_text(frame)})"), logy=True)


def weight_change(frame, numeric=False):
    return curves(frame.logged_steps, frame.weight_change, _labels(frame, numeric), xlabel="step",
                  ylabel="‖W_t − W_0‖_F", title="Weight change (lower = lazier)")


def kernel_alignment(frame, numeric=False):
    return curves(frame.kernel_steps, frame.kernel_alignment, _labels(frame, numeric), xlabel="step",
                  ylabel="KA(K_0, K_t)", title="Tangent-kernel alignment (higher = lazier)",
                  markers=True)


def laziness_vs_rank(frame):
    """The paper's headline plot: laziness measures at the current step vs effective rank."""
    x = np.asarray(frame.effective_rank, dtype=float)
    measures = np.stack([frame.weight_change[-1], frame.kernel_alignment[-1],
                         frame.representation_alignment[-1]], axis=1)  # (K, 3)
    return curves(x, measures, ["weight change ‖ΔW‖_F", "kernel alignment", "representation alignment"],
                  xlabel="effective rank of W_0", ylabel="measure", logx=True, markers=True,
                  title="Laziness vs effective rank")


def spectra(frame, numeric=False):
    """Singular values of W_0 (faint) and W_t for the lowest and highest rank."""
    layers, labels = [], _labels(frame, numeric)
    for k in _extremes(frame):
        n = np.arange(1, frame.sv_init.shape[1] + 1)
        label = labels[k].split(" (")[0]
        layers.append(hv.Curve((n, np.maximum(frame.sv_init[k], 1e-6)), "index", "singular value",
                               label=f"{label}, W_0").opts(alpha=0.5))
        layers.append(hv.Curve((n, np.maximum(frame.sv_now[k], 1e-6)), "index", "singular value",
                               label=f"{label}, W_t"))
        layers[-2:] = [common(c, color=color(k)) for c in layers[-2:]]
    return common(hv.Overlay(layers), title="Singular values of W", logy=True, logx=True)


def kernel(which: str, extreme: int):
    """Builder for one probe-by-probe tangent kernel heat map (normalised to its max)."""
    def build(frame):
        k = _extremes(frame)[extreme]
        K = frame.kernel_init[k] if which == "init" else frame.kernel_now[k]
        time = "0" if which == "init" else "t"
        return heatmap(K / max(np.abs(K).max(), 1e-12), label="K / max K",
                       title=f"K_{time}, r={frame.ranks[k]} (probes by class)")
    return build


PLOTS = {
    "Training loss": loss,
    "Weight change": weight_change,
    "Kernel alignment": kernel_alignment,
    "Laziness vs effective rank": laziness_vs_rank,
    "Spectra": spectra,
    "Kernel, lowest rank, start": kernel("init", 0),
    "Kernel, lowest rank, now": kernel("now", 0),
    "Kernel, highest rank, start": kernel("init", 1),
    "Kernel, highest rank, now": kernel("now", 1),
}


def layout_key(frame):
    """Frames with the same network and number of ranks update the same plots in place."""
    return (frame.network, len(frame.ranks))


def figure(frame) -> hv.Layout:
    """The exported figure: training, the laziness panel and the spectra."""
    panels = [loss(frame, True), weight_change(frame, True), kernel_alignment(frame, True),
              laziness_vs_rank(frame), spectra(frame, True)]
    return hv.Layout(panels).cols(3).opts(
        hv.opts.Layout(fig_inches=(11, 6), sublabel_format="({alpha})"), backend="matplotlib")


def summary(frame) -> str:
    """The status line's headline numbers: weight change and kernel alignment per rank."""
    by_rank = (frame.metrics or {}).get("by_rank", {})
    return " · ".join(f"r={r}: ΔW {m['weight_change']:.2f}, KA {m['kernel_alignment']:.2f}"
                      for r, m in by_rank.items())


__all__ = ["PLOTS", "figure", "layout_key", "summary"]

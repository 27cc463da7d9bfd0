"""Views of the Smooth Diffusion lab: training curves, interpolation filmstrips at λ = 0 and at the
chosen λ, adjacent-distance profiles, ISTD and sample quality against λ, the distribution of the
Jacobian statistic v."""

import holoviews as hv
import numpy as np

from .figure import default_figure
from .specs import Curves, ImageGrid, LivePlot, Table

ZERO_AT = 1e-3  # where λ = 0 sits on the log λ axis
SLOTS = ("λ = 0", "chosen λ")


def _filmstrip(slot: int):
    """The interpolations of one model: rows latent pairs, columns frames (pixels 0-16)."""
    def build(frame, numeric=False):
        # The colour bar's label stays fixed (λ is in the title): a new λ then updates the
        # image in place instead of drawing a new figure.
        return ImageGrid(frame.filmstrip[slot], "pixel (0-16)", kdims=("mix ratio 0 → 1", "latent pair"),
                         clim=(0, 16))
    return build


def _step_label(frame) -> str:
    return "step (pre-training, then LoRA fine-tuning)" if frame.mode == "finetune" else "step (from scratch)"


def losses(frame, numeric=False):
    Y = np.stack([frame.loss_base[:, 0], frame.loss_base[:, 1], frame.loss_reg[:, 0], frame.loss_reg[:, 1]], 1)
    return Curves(frame.log_steps, np.where(Y > 0, Y, np.nan), ("L_base, λ = 0", "L_base, chosen λ",
                                                                 "L_reg, λ = 0 (not optimised)", "L_reg, chosen λ"),
                  _step_label(frame), "loss")


def jacobian_trace(frame, numeric=False):
    Y = np.stack([frame.v_mean[:, 0], frame.v_mean[:, 1], frame.target_a[:, 1]], 1)
    return Curves(frame.log_steps, Y, ("mean v, λ = 0", "mean v, chosen λ", "target a, chosen λ"),
                  _step_label(frame), "v = ‖σ_t J_εᵀ u‖")


def istd_trace(frame, numeric=False):
    return Curves(frame.istd_steps, frame.istd_trace, SLOTS, _step_label(frame), "ISTD (16 pairs, 10 DDIM steps)",
                  markers=True)


def distances(frame, numeric=False):
    """d_j of each shown pair, one line per pair (NaN breaks between pairs), one colour per model."""
    S, J = frame.distances.shape[1:]
    x = np.concatenate([np.append(np.arange(1, J + 1, dtype=float), np.nan) for _ in range(S)])
    ys = [np.concatenate([np.append(frame.distances[slot, p], np.nan) for p in range(S)]) for slot in (0, 1)]
    mean = [np.append(frame.profile[slot], np.nan) for slot in (0, 1)]
    xm = np.append(np.arange(1, J + 1, dtype=float), np.nan)
    labels = (*SLOTS, "λ = 0, mean of all pairs", "chosen λ, mean of all pairs")
    return Curves(None, [*ys, *mean], labels, "step j between frames", "d_j = ‖x⁽ʲ⁾ − x⁽ʲ⁻¹⁾‖ (0-16 pixels)",
                  markers=True, xs=[x, x, xm, xm])


def _lambda_axis(frame) -> np.ndarray:
    return np.where(frame.trade_lambda > 0, frame.trade_lambda, ZERO_AT)


def tradeoff_istd(frame, numeric=False):
    return Curves(None, [frame.trade_istd, frame.trade_cv * np.nanmax(np.append(frame.trade_istd, 0)) /
                         max(np.nanmax(np.append(frame.trade_cv, 0)), 1e-12)],
                  ("ISTD", "CV (scaled to the max ISTD)"), "λ (0 drawn at 10⁻³)", "lower = smoother", markers=True,
                  xs=[_lambda_axis(frame)] * 2)


def tradeoff_quality(frame, numeric=False):
    """The FID-like score of each cached model's samples against λ, and what as many real digits
    score (the floor a finite sample reaches)."""
    x = _lambda_axis(frame)
    ref = np.full(2, frame.fid_reference)
    span = np.array([min(x.min(initial=ZERO_AT), ZERO_AT), max(x.max(initial=1.0), 1.0)])
    return Curves(None, [frame.trade_fid, ref], ("samples", "real digits (as many)"),
                  "λ (0 drawn at 10⁻³)", "FID-like score (classifier features)", markers=True,
                  xs=[x, span])


def v_histogram(frame, numeric=False):
    return Curves(frame.v_bins, frame.v_hist, SLOTS, "v = ‖σ_t J_εᵀ u‖ on a fixed batch", "fraction per bin")


def v_by_t(frame, numeric=False):
    return Curves(frame.v_t, frame.v_median, SLOTS, "timestep t", "median v", markers=True)


_FILM = {}
PLOTS = {
    "Interpolations at λ = 0 (rows: latent pairs)": LivePlot(_filmstrip(0), ("filmstrip",), _FILM),
    "Interpolations at the chosen λ": LivePlot(_filmstrip(1), ("filmstrip", "reg_weight"), _FILM),
    "Adjacent distances d_j (flat = evenly paced)": LivePlot(distances, ("distances", "profile")),
    "ISTD while training": LivePlot(istd_trace, ("istd_trace",)),
    "Training losses": LivePlot(losses, ("loss_base", "loss_reg"), {"logy": True}),
    "Jacobian statistic v and its running target a": LivePlot(jacobian_trace, ("v_mean", "target_a")),
    "ISTD and CV vs λ (cached models)": LivePlot(
        tradeoff_istd, ("trade_istd", "trade_cv"), {"logx": True}),
    "Sample quality vs λ (cached models)": LivePlot(
        tradeoff_quality, ("trade_fid",), {"logx": True}),
    "Distribution of v (λ = 0 vs chosen λ)": LivePlot(v_histogram, ("v_hist",), {"logx": True}),
    "Median v by timestep": LivePlot(v_by_t, ("v_median",)),
}


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def summary(frame) -> str:
    """The status line: ISTD with the scale-free CV and the path length it depends on, and the
    FID-like score, at λ against λ = 0, and any collapse (the table below has the rest)."""
    m = frame.metrics or {}
    if not m:
        return ""
    text = (f"{frame.mode_label}, λ = {m['reg_weight']:g}: ISTD {_f(m['istd'])} (λ = 0: {_f(m['istd_baseline'])}), "
            f"CV {_f(m['cv'])} ({_f(m['cv_baseline'])}), path length {_f(m['path_length'])} "
            f"({_f(m['path_length_baseline'])}), FID-like {_f(m['fid'])} ({_f(m['fid_baseline'])}; "
            f"real digits {_f(m['fid_reference'])})")
    if m.get("collapsed"):
        text = f"WARNING, {m['warning']} · " + text
    return text


# (metric, label): ISTD is scale-dependent, so its scale-free CV and the path it measures sit beside it
TABLE_ROWS = (
    ("istd", "ISTD (lower = evener steps)"),
    ("cv", "CV of d_j (scale-free)"),
    ("path_length", "path length Σ_j d_j"),
    ("fid", "FID-like score (lower = more digit-like)"),
    ("sample_confidence", "classifier confidence on samples"),
    ("quality", "RMS to nearest digit (rewards blur)"),
    ("inversion_mse", "DDIM-inversion MSE"),
)
REFERENCES = {"fid": "fid_reference", "sample_confidence": "sample_confidence_reference",
              "quality": "quality_reference"}


def table(frame) -> Table | None:
    """Under the status line: each measure at λ = 0, at the chosen λ, their ratio and what real
    digits score where that is defined."""
    m = frame.metrics
    if not m:
        return None

    def num(x):
        return np.nan if x is None else float(x)

    base = [num(m.get(f"{k}_baseline")) for k, _ in TABLE_ROWS]
    chosen = [num(m.get(k)) for k, _ in TABLE_ROWS]
    return Table({
        "measure": [label for _, label in TABLE_ROWS],
        SLOTS[0]: base,
        SLOTS[1]: chosen,  # a fixed header: a new λ updates the table in place
        "ratio": [c / b if np.isfinite(b) and b != 0 else np.nan for b, c in zip(base, chosen)],
        "real digits": [num(m.get(REFERENCES[k])) if k in REFERENCES else np.nan for k, _ in TABLE_ROWS],
    })


def figure(frame, previous=()) -> hv.Layout:
    """The exported figure: both filmstrips, the distance profile, the trade-off curves, training
    and the distribution of v; titles say how the models were trained."""
    how = "from scratch" if frame.mode == "scratch" else "LoRA fine-tune"
    titles = {
        "Interpolations at λ = 0 (rows: latent pairs)": f"Interpolations, λ = 0 ({how})",
        "Interpolations at the chosen λ": f"Interpolations, λ = {frame.reg_weight:g} ({how})",
        "Adjacent distances d_j (flat = evenly paced)": "Adjacent distances d_j",
        "ISTD and CV vs λ (cached models)": "ISTD and CV vs λ",
        "Sample quality vs λ (cached models)": "Sample quality vs λ (lower = better)",
        "Training losses": "Training losses",
        "Jacobian statistic v and its running target a": "v and its target a",
        "Distribution of v (λ = 0 vs chosen λ)": "Distribution of v",
    }
    return default_figure(PLOTS, frame, previous, titles=titles, cols=2, fig_inches=(11, 14), vspace=0.45)

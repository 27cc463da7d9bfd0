"""Views of the impossibility lab: the true losses under D1, D2, D3 against the (S, h)-bounds
(bars), the forced error any such bound must make, training, the spectral margin measure on a
log axis, the impossibility gap against N/m, the PAC-Bayes bound over its σ grid, and the
tightness of earlier runs (bound against true loss).

The PAC-Bayes number bounds the Gibbs classifier Q = N(w, σ²I), not h; the spectral-norm
(NBS) quantity has its constants set to 1 and is a measure "up to constants", never a bound.
"""

from functools import partial

import numpy as np

from ..labs.generalization_bounds import run_label as _run_label
from .figure import default_figure
from .specs import Bars, Curves, LivePlot

LOSS_NAMES = ("L_D1 (teacher)", "L_D2 (adversarial)", "L_D3 (random off S)")
BAR_NAMES = ("L_D1", "L_D2", "L_D3", "L_S", "VC", "PB (Q)")
PB = "PAC-Bayes, bounds Gibbs Q (not h)"
VC = "VC (clipped at 1)"
LOG_FLOOR = 1e-3  # losses of 0 drawn here on log axes


def bars(frame):
    """True losses of h under D1, D2, D3 next to h's training error and the two bounds that are
    numbers in [0, 1] (NaN while the PAC-Bayes Monte Carlo has not run)."""
    values = [*frame.losses, frame.train_error[-1], frame.vc_history[-1], frame.pac_bayes]
    return Bars(BAR_NAMES, np.array(values), "true losses | train error | bounds (VC ≤ 1, PAC-Bayes on Q)",
                "0-1 loss")


def forced(frame):
    """One bound value, three distributions: the bounds are flat (the same number for D1, D2,
    D3) while the true losses spread; the band [L_D1, L_D2] is midpoint ± gap, where even the
    best possible number misses one of the two by the gap."""
    x = np.array([1.0, 2.0, 3.0])
    L = frame.losses
    mid = np.full(3, (L[0] + L[1]) / 2)
    flat = np.ones(3)
    Y = np.stack([L, frame.pac_bayes * flat, frame.vc_history[-1] * flat, mid], 1)
    return Curves(x, Y, ("true loss L_Di", PB, VC, "best any B: midpoint ± gap"),
                  "distribution (1: teacher, 2: adversarial, 3: random off S)", "0-1 loss",
                  markers=True, bands=[None, None, None, (np.full(3, L[0]), np.full(3, L[1]))],
                  xticks=(1, 2, 3))


def training(frame):
    """True losses and training error of h as it trains, and the impossibility gap."""
    Y = np.stack([frame.train_error, frame.loss_d1, frame.loss_d2, frame.loss_d3,
                  (frame.loss_d2 - frame.loss_d1) / 2], 1)
    return Curves(frame.history_steps, Y, ("train error", *LOSS_NAMES, "gap (L_D2 − L_D1)/2"),
                  "Adam steps", "0-1 loss")


def margin_measure(frame):
    """The spectral-norm margin quantity (constants 1) as h trains, beside the true losses."""
    floor = np.maximum
    Y = np.stack([frame.nbs_history, floor(frame.loss_d1, LOG_FLOOR), floor(frame.loss_d2, LOG_FLOOR)], 1)
    return Curves(frame.history_steps, Y, ("NBS measure (up to constants)", LOSS_NAMES[0], LOSS_NAMES[1]),
                  "Adam steps", "value (log)")


def gap_vs_ratio(frame):
    """The impossibility gap against N/m: the exact identity ½(1 − q)(1 − ε_off) at the expected
    hit fraction q(N) with this h's error off S, its ceiling ½(1 − q), and this run's measured gap."""
    return Curves(None, [frame.gap_formula, frame.gap_ceiling, np.array([frame.gap])],
                  ("½(1 − E q)(1 − ε_off), this h", "ceiling ½(1 − E q)", "this run (measured)"),
                  "pool size / training size N/m", "impossibility gap", markers=True,
                  xs=[frame.ratios, frame.ratios, np.array([frame.pool_ratio])])


def sigma_grid(frame):
    """The PAC-Bayes bound at every σ of the grid and the Monte-Carlo Gibbs training error."""
    Y = np.stack([frame.pb_per_sigma, frame.gibbs_per_sigma], 1)
    return Curves(frame.sigma_grid, Y, ("bound on L_Q (kl⁻¹, Hoeffding incl.)", "Gibbs train error L̂_Q (MC)"),
                  "σ of Q = N(w, σ²I), P = N(w₀, σ²I)", "0-1 loss of Q", markers=True)


def tightness(frame, previous=()):
    """Bound against true loss for this and earlier finished runs (move ρ and compare): each run
    is a flat row, its PAC-Bayes bound at L_D1, L_D2, L_D3; a tight bound would sit on y = x."""
    runs = [(f"{frame.label} (this run)", frame), *previous]
    xs = [np.array([0.0, 1.0])] + [np.sort(f.losses) for _, f in runs]
    Y = [np.array([0.0, 1.0])] + [np.full(3, f.pac_bayes) for _, f in runs]
    return Curves(None, Y, ("tight: bound = loss", *(label for label, _ in runs)), "true loss L_Di",
                  "PAC-Bayes bound (Gibbs Q)", markers=True, xs=xs)


_UNIT = {"ylim": (0, 1.05)}
_ABOVE = {"legend_position": "top"}
_PAPER = {"legend_position": "best"}
PLOTS = {
    "True losses vs (S, h)-bounds": LivePlot(bars, ("loss_d1", "loss_d2", "loss_d3", "vc_history", "pac_bayes"),
                                             _UNIT),
    "Forced error: one bound, three distributions": LivePlot(
        forced, ("loss_d1", "loss_d2", "vc_history", "pac_bayes"), {**_UNIT, **_ABOVE}, export=_PAPER),
    "Training: true losses and the gap": LivePlot(training, ("history_steps", "train_error", "loss_d1"),
                                                  {**_UNIT, **_ABOVE}, export=_PAPER),
    "NBS margin measure (up to constants), log y": LivePlot(
        margin_measure, ("nbs_history", "loss_d1"), {"logy": True, **_ABOVE}, export=_PAPER),
    "Impossibility gap vs N/m": LivePlot(gap_vs_ratio, ("gap_formula", "loss_d1", "loss_d2"),
                                         {"logx": True, "ylim": (0, 0.55), **_ABOVE}, export=_PAPER),
    "PAC-Bayes over σ (bounds Gibbs Q, not h)": LivePlot(
        sigma_grid, ("pb_per_sigma", "gibbs_per_sigma"), {"logx": True, **_UNIT, **_ABOVE}, export=_PAPER),
    "Tightness: bound vs true loss, earlier runs": LivePlot(
        tightness, ("loss_d1", "pac_bayes"), {**_UNIT, "legend_position": "bottom", "legend_cols": 1},
        compare=True, export=_PAPER),
}


def run_label(params) -> str:
    """How an earlier run is named in the tightness plot."""
    return _run_label(params)


def summary(frame) -> str:
    """The status line: the three true losses, the gap, and the bounds they all share."""
    m = frame.metrics or {}
    if not m:
        return ""
    nbs = m["nbs_measure"]
    nbs_text = "undefined (no positive margin)" if nbs is None else f"{nbs:.3g}"
    text = (f"True losses of the same h: L_D1 = {m['loss_d1']:.3f}, L_D2 = {m['loss_d2']:.3f}, "
            f"L_D3 = {m['loss_d3']:.3f}; impossibility gap (L_D2 − L_D1)/2 = {m['impossibility_gap']:.3f}. "
            f"Every (S, h)-bound is one number for all three: PAC-Bayes {m['pac_bayes_bound']:.3f} "
            f"(bounds the Gibbs classifier Q at σ = {m['pac_bayes_sigma']:.3g}, not h), "
            f"VC {m['vc_bound']:.3g} (clipped at 1), NBS measure {nbs_text} (up to constants). "
            f"Training error {m['train_error']:.3f}.")
    return text + (f" {frame.notice}." if frame.notice else "")


# The exported figure: every panel of the app (earlier runs in the tightness panel).
figure = partial(default_figure, PLOTS, cols=4, fig_inches=(17, 5.6))

"""Views of the NSdim lab: spectra of the feature matrix, the plateau of NSdim in the width for
three bounds, NSdim against log(1/ε) with the heuristic, and the ELM fit of a target the
smallest bound cannot fit."""

from functools import partial

import numpy as np

from .figure import default_figure
from .specs import Curves, LivePlot
from .style import FAINT

FLOOR = 1e-18  # log axes: singular-value ratios and errors are clipped here (no zeros)
SHOWN_LABELS = ("N/32", "N/8", "N/2", "N")
BOUND_LABELS = ("λ/4", "λ", "4λ")


def _bounds(frame, numeric: bool) -> tuple[str, ...]:
    """Curve labels of the three bounds. Live plots keep labels that do not change with λ, so a
    new run updates the plots in place; the exported figure names the values."""
    if numeric:
        return tuple(f"λ={lam:g}" for lam in frame.bounds)
    return BOUND_LABELS


def _done(frame):
    """The widths computed so far, with their rows of the (K, B) histories."""
    k = frame.step
    return frame.widths[:k], frame.nsdim[:k], frame.elm_error[:k]


def spectra(frame, numeric=False):
    """``s_i / s_1`` at λ for N/32 .. N, and the threshold ε: NSdim counts the values above it."""
    xs, ys = [], []
    for row in frame.spectra:
        rel = row[np.isfinite(row)]
        xs.append(np.arange(1, len(rel) + 1))
        ys.append(np.maximum(rel, FLOOR))
    L = frame.spectra.shape[1]
    xs.append(np.array([1.0, L]))
    ys.append(np.array([frame.epsilon, frame.epsilon]))
    if numeric:
        labels = tuple(f"N={w}" if w else f"{name} < 4 (none)" for w, name in zip(frame.shown_widths, SHOWN_LABELS))
    else:
        labels = SHOWN_LABELS
    return Curves(None, ys, (*labels, f"ε = {frame.epsilon:.0e}"), "index i", "s_i / s_1",
                  xs=xs, groups=("Curve",) * len(SHOWN_LABELS) + (FAINT,))


def plateau(frame, numeric=False):
    """NSdim against the width for the three bounds: it levels off (analytic σ)."""
    widths, nsdim, _ = _done(frame)
    return Curves(widths, nsdim, _bounds(frame, numeric), "width N", "NSdim", markers=True)


def versus_epsilon(frame, numeric=False):
    """NSdim at the newest width against log10(1/ε), and the heuristic (2λ/π) ln(1/ε) (faint)."""
    x = np.log10(1.0 / frame.epsilons)
    labels = _bounds(frame, numeric)
    Y = np.concatenate([frame.nsdim_eps.T, frame.heuristic_eps.T], axis=1)  # (E, 2B)
    names = (*labels, *(f"heuristic {label}" for label in labels))
    groups = ("Curve",) * len(labels) + (FAINT,) * len(labels)  # same colour per bound in each group
    return Curves(x, Y, names, "log10(1/ε)", "NSdim", groups=groups)


def elm_error(frame, numeric=False):
    """Relative error of the ELM fit of sin(kπ x1) against the width, and N = NSdim(λ)."""
    widths, nsdim, errors = _done(frame)
    labels = _bounds(frame, numeric)
    Y = np.maximum(errors, FLOOR)
    xs = [widths] * len(labels)
    ys = [Y[:, b] for b in range(len(labels))]
    # A vertical marker where the width reaches the span dimension at λ: past it, more
    # neurons add no direction, so the error stops falling.
    r = nsdim[-1, 1] if len(widths) else np.nan
    span = (Y.min(), Y.max()) if len(widths) else (np.nan, np.nan)
    xs.append(np.array([r, r]))
    ys.append(np.array(span))
    return Curves(None, ys, (*labels, "N = NSdim(λ)"), "width N", "relative error ‖y − ŷ‖/‖y‖",
                  xs=xs, groups=("Curve",) * len(labels) + (FAINT,))


def fits(frame, numeric=False):
    """The target and the ELM fits at the newest width (the target last: colours match the
    other plots' bounds)."""
    labels = tuple(f"fit {label}" for label in _bounds(frame, numeric))
    Y = np.concatenate([frame.fit.T, frame.target[:, None]], axis=1)  # (M, B + 1)
    target = f"target sin({frame.target_freq}πx1)"
    return Curves(frame.x, Y, (*labels, target), "x1", "y")


def versus_frequency(frame, numeric=False):
    """ELM error at the newest width for every target frequency k, and the run's own k (faint):
    each bound has a cut-off frequency past which the fit fails."""
    labels = _bounds(frame, numeric)
    errors = np.maximum(frame.freq_error, FLOOR)  # (B, F)
    xs = [frame.freqs] * len(labels)
    ys = list(errors)
    k = frame.target_freq
    xs.append(np.array([k, k]))
    ys.append(np.array([errors.min(), errors.max()]))
    return Curves(None, ys, (*labels, f"k = {k}"), "target frequency k", "relative error of the fit",
                  xs=xs, groups=("Curve",) * len(labels) + (FAINT,))


# Each legend goes where that plot's curves leave room.
PLOTS = {
    "Singular values of H at λ (line: ε)": LivePlot(spectra, ("spectra",), {"logx": True, "logy": True}),
    "NSdim against the width: the plateau": LivePlot(
        plateau, ("nsdim",), {"logx": True, "legend_position": "top_left"}),
    "NSdim against log10(1/ε) (faint: heuristic)": LivePlot(
        versus_epsilon, ("nsdim_eps", "heuristic_eps"), {"legend_position": "top_left"}),
    "ELM fit error against the width": LivePlot(
        elm_error, ("elm_error",), {"logx": True, "logy": True, "legend_position": "bottom_left"}),
    # The fits fill their box: on paper the legend gets a strip of room under the curves
    # (below the axes it would cover the x label).
    "A target the bounded net cannot fit": LivePlot(fits, ("fit", "target"), {"legend_position": "bottom"},
                                                    export={"legend_position": "bottom_left",
                                                            "ylim": (-2.9, 1.4)}),
    "ELM fit error against the target frequency": LivePlot(
        versus_frequency, ("freq_error",), {"logy": True, "legend_position": "bottom_right"}),
}


def summary(frame) -> str:
    """The status line: NSdim at the run's (λ, N, ε), its gain over N/2, the ELM errors."""
    m = frame.metrics or {}
    if not m:
        return ""
    lam = frame.bounds[1]
    heur = f", heuristic {m['heuristic']:.0f}" if m.get("heuristic") is not None else ""
    return (f"NSdim {m['nsdim']} at λ={lam:g}, N={frame.widths[-1]}, ε={frame.epsilon:.0e} "
            f"({m['nsdim_half_width']} at N/2{heur}); ELM error {m['elm_rel_error']:.2g} "
            f"(λ/4: {m['elm_rel_error_quarter_bound']:.2g}, 4λ: {m['elm_rel_error_4x_bound']:.2g})")


# The exported figure: every plot of the app, with the actual bounds and widths in the legends.
figure = partial(default_figure, PLOTS, cols=3, fig_inches=(11, 6.5), shared_axes=False)

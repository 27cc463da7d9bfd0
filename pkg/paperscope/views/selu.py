"""Views of the SELU lab: the moment map (contraction towards its fixed point, Jacobian norm,
the variance bounds), activation statistics per layer of random nets, and the training curves
of the four activations on the digits."""

import math
from functools import partial

import numpy as np

from paperscope.labs.selu import LABELS, THEOREM_TAUS

from .figure import default_figure
from .specs import Curves, Heatmap, LivePlot, Points
from .style import FAINT

CLIP = 1.5  # colour scales of the map panels stop here (1 is the contraction threshold)


def _labels(frame) -> tuple[str, ...]:
    return tuple(LABELS[a] for a in frame.activations)


def _map_bounds(frame) -> tuple:
    """Cell edges of the (μ, ν) grid: (left, bottom, right, top)."""
    dmu = frame.mu_grid[1] - frame.mu_grid[0]
    dnu = frame.nu_grid[1] - frame.nu_grid[0]
    return (frame.mu_grid[0] - dmu / 2, frame.nu_grid[0] - dnu / 2,
            frame.mu_grid[-1] + dmu / 2, frame.nu_grid[-1] + dnu / 2)


def contraction(frame):
    """‖g(x) − x*‖/‖x − x*‖ over the (μ, ν) plane, with iterates of g from a 5 x 5 grid of
    starts: they pile up at the fixed point."""
    pts = frame.trajectories
    return Heatmap(np.minimum(frame.contraction, CLIP), "distance ratio", bounds=_map_bounds(frame),
                   kdims=("μ", "ν"), overlays=(Points(pts[:, 0], pts[:, 1]),))


def jacobian(frame):
    """Spectral norm of the Jacobian of g: below 1, g is a contraction there (Theorem 1)."""
    return Heatmap(np.minimum(frame.jacobian_norm, CLIP), "‖J‖₂", bounds=_map_bounds(frame),
                   kdims=("μ", "ν"))


def variance_ratio(frame):
    """ν̃/ν along ν at μ = 0: above 1 the variance grows (Theorem 3), below 1 it shrinks
    (Theorem 2); the crossing is the variance fixed point."""
    Y = np.column_stack([frame.nu_ratio, np.ones_like(frame.nu_line)])
    labels = (*(f"τ = {t:g}" for t in THEOREM_TAUS), "τ (slider)", "ν̃ = ν")
    return Curves(frame.nu_line, Y, labels, "ν (variance in)", "ν̃ / ν",
                  groups=("Curve",) * len(THEOREM_TAUS) + ("Curve", FAINT))


def layer_mean(frame):
    return Curves(frame.layers, frame.layer_mean, _labels(frame), "layer", "mean of activations")


def layer_var(frame):
    # Floor for the log axis: a collapsing variance (tanh) must still draw.
    return Curves(frame.layers, np.maximum(frame.layer_var, 1e-12), _labels(frame), "layer",
                  "variance of activations")


def last_layer(frame):
    """Histogram of the selected activation's inputs (faint) and of its deepest layer so far."""
    h0, h1 = frame.hist_input, frame.hist_last
    return Curves(None, [h0[1], h1[1]], ("input x", f"{LABELS[frame.activation]}, last layer"),
                  "activation value", "density", groups=(FAINT, "Curve"), xs=[h0[0], h1[0]])


def train_loss(frame):
    return Curves(frame.epochs, np.maximum(frame.train_loss, 1e-12), _labels(frame), "epoch",
                  "training loss")


def test_accuracy(frame):
    return Curves(frame.epochs, frame.test_accuracy, _labels(frame), "epoch", "test accuracy", markers=True)


def gradient_norms(frame):
    """‖∂L/∂W_l‖ per weight layer at the first SGD step for every activation, and at the latest
    step shown for the selected one (faint)."""
    layers = np.arange(1, len(frame.grad_init) + 1, dtype=float)
    sel = frame.activations.index(frame.activation)
    labels = (*_labels(frame), f"{LABELS[frame.activation]}, latest step")
    Y = [np.maximum(frame.grad_init[:, a], 1e-30) for a in range(len(frame.activations))]
    Y.append(np.maximum(frame.grad_now[:, sel], 1e-30) if len(frame.grad_now) else np.zeros(0))
    return Curves(None, Y, labels, "weight layer l", "‖∂L/∂W_l‖ (first step)", markers=True,
                  groups=("Curve",) * len(frame.activations) + (FAINT,), xs=[layers] * len(Y))


PLOTS = {
    "SELU moment map: contraction to the fixed point": LivePlot(
        contraction, ("contraction", "trajectories")),
    "SELU map: Jacobian norm ‖J‖₂": LivePlot(jacobian, ("jacobian_norm",)),
    "SELU variance map ν̃/ν at μ = 0": LivePlot(
        variance_ratio, ("nu_ratio",), {"logx": True, "logy": True}),
    "Mean per layer (random nets)": LivePlot(layer_mean, ("layer_mean",)),
    "Variance per layer (random nets)": LivePlot(layer_var, ("layer_var",), {"logy": True}),
    "Activations: input vs last layer": LivePlot(last_layer, ("hist_last", "hist_input")),
    "Gradient norm per layer (vanishing / exploding)": LivePlot(
        gradient_norms, ("grad_init", "grad_now"), {"logy": True}),
    "Training loss on the digits (a toy: not the paper's Fig. 1)": LivePlot(
        train_loss, ("train_loss",), {"logy": True}),
    "Test accuracy on the digits (lr, epochs, data: not Fig. 1's)": LivePlot(test_accuracy, ("test_accuracy",)),
}


def _fmt(value, spec: str = ".3g") -> str:
    return "—" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def summary(frame) -> str:
    """Status line: the selected activation's last-layer statistics and training, the fixed point."""
    m = frame.metrics or {}
    if not m:
        return ""
    name = LABELS[frame.activation]
    text = (f"{name}: last layer mean {m['final_mean']:.3f}, variance {m['final_var']:.3f}; "
            f"train loss {_fmt(m['train_loss'])}, test accuracy {_fmt(m['test_accuracy'], '.3f')}")
    by = m.get("by_activation", {})
    if frame.activation != "relu-bn" and by.get("relu-bn", {}).get("train_loss") is not None:
        text += f" (ReLU+BN: {_fmt(by['relu-bn']['train_loss'])})"
    mu, nu = m.get("fixed_point_mu"), m.get("fixed_point_nu")
    if mu is None:
        return text + " · SELU map: no fixed point (the iterates run away)"
    mu, nu = (round(v, 3) + 0.0 for v in (mu, nu))  # no "-0.000"
    return text + f" · SELU map fixed point ({mu:.3f}, {nu:.3f}), ‖J‖₂ = {_fmt(m['jacobian_norm'], '.4f')}"


# The exported figure: every plot of the app, three per row.
figure = partial(default_figure, PLOTS, cols=3, fig_inches=(13, 11), hspace=0.6)

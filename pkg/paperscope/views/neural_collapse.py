"""Views of the neural-collapse lab: NC1(H_t)/NC1(X) and training accuracy against iteration
(a vertical line where accuracy first reaches 1), the closed-form ratio against β per λ_W, X and
H on principal axes coloured by class, and NC1 per layer.

In the model modes X and H share X's principal axes (H's move towards the class means shows);
in digits mode the first and last hidden layers live in different spaces, so each gets its own.
"""

from functools import partial

import numpy as np

from ..labs.neural_collapse import first_full
from ..labs.neural_collapse import run_label as _run_label
from .figure import default_figure
from .specs import Curves, LivePlot, Scatter

FIRST_FULL = "first 100% accuracy"


def _xlabel(frame) -> str:
    return "epoch" if frame.mode == "digits" else "iteration"


def _vertical(at: float, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """A vertical segment at ``at`` (empty while it is NaN)."""
    if not np.isfinite(at):
        return np.zeros(0), np.zeros(0)
    return np.array([at, at]), np.array([low, high])


def trajectory(frame):
    """NC1(H_t)/NC1(X) and training accuracy against iteration; a line at the first iteration
    with training accuracy 1."""
    ratio = "NC1(last hidden)/NC1(first hidden)" if frame.mode == "digits" else "NC1(H_t)/NC1(X)"
    line_x, line_y = _vertical(first_full(frame.iters, frame.accuracy), 0.0, 1.0)
    return Curves(None, [frame.ratio, frame.accuracy, line_y], (ratio, "training accuracy", FIRST_FULL),
                  _xlabel(frame), "ratio, accuracy", xs=[frame.iters, frame.iters, line_x])


def sweep(frame):
    """NC1(H*)/NC1(X) of the closed-form minimizer against β, one curve per λ_W; the run's β as
    a vertical line. Lanes stopped by ``max_iter`` before the tolerance are drawn as they stand
    (the status line counts them)."""
    labels = tuple(f"λ_W = {lam:g}" for lam in frame.lambdas)
    low = np.nanmin(frame.sweep) if np.isfinite(frame.sweep).any() else 0.0
    line_x, line_y = _vertical(frame.beta, min(low, 1.0), 1.0)
    return Curves(None, [*frame.sweep, line_y], (*labels, "β of this run"), "β", "NC1(H*)/NC1(X)",
                  xs=[*[frame.betas] * len(labels), line_x])


def _pca(which: str):
    def build(frame):
        points = getattr(frame, which)
        if frame.mode == "digits":
            name = "first hidden layer" if which == "pca_x" else "last hidden layer"
        else:
            name = "X" if which == "pca_x" else "H"
        return Scatter(points[:, 0], points[:, 1], f"{name}: PC 1", f"{name}: PC 2", color=frame.labels,
                       color_label="class", sizes=(5.0, 5.0))
    return build


def layers(frame):
    """NC1 of each layer (model: X and H_t; digits: each hidden layer) against iteration."""
    return Curves(frame.layer_iters, frame.nc1_layers, frame.layer_names, _xlabel(frame), "NC1")


_TOP = {"legend_position": "top_right"}
PLOTS = {
    # headroom above accuracy 1 for the legend
    "NC1 ratio and training accuracy": LivePlot(trajectory, ("iters", "ratio", "accuracy", "mode"),
                                                {"ylim": (-0.05, 1.5), **_TOP}),
    "NC1(H*)/NC1(X) against β": LivePlot(sweep, ("sweep", "beta"), {"logx": True, "legend_position": "bottom_right"}),
    "PCA of X (first hidden layer)": LivePlot(_pca("pca_x"), ("pca_x", "labels", "mode")),
    "PCA of H (last hidden layer)": LivePlot(_pca("pca_h"), ("pca_h", "labels", "mode")),
    "NC1 per layer": LivePlot(layers, ("layer_iters", "nc1_layers", "layer_names"), {"logy": True, **_TOP}),
}


def run_label(params) -> str:
    """How a run is named."""
    return _run_label(params)


def summary(frame) -> str:
    """The status line: the headline ratio, accuracy, convergence, and per-layer NC1 in digits."""
    m = frame.metrics or {}
    if not m:
        return frame.notice
    if frame.mode == "digits":
        by_layer = ", ".join(f"{v:.3f}" for v in m["nc1_by_layer"])
        text = (f"Digits MLP after {m['epochs']} epochs: NC1 per hidden layer {by_layer} "
                f"(ratio last/first {m['nc1_ratio']:.3f}), training accuracy {m['train_accuracy']:.3f}")
    else:
        text = (f"NC1(H)/NC1(X) = {m['nc1_ratio']:.3f} (NC1(X) = {m['nc1_x']:.3f}), training accuracy "
                f"{m['train_accuracy']:.3f}")
        if frame.mode == "closed_form":
            text += (f"; the alternating scheme {'converged' if m['converged'] else 'did not converge'} "
                     f"in {m['iterations']} iterations")
        if m["first_full_accuracy_iteration"] is not None and frame.mode == "gd":
            text += (f"; accuracy 1 from iteration {m['first_full_accuracy_iteration']} "
                     f"(ratio {m['nc1_ratio_at_first_full']:.3f} there)")
    if m["sweep_unconverged"]:
        text += f"; {m['sweep_unconverged']} β-sweep lanes stopped at max_iter before the tolerance"
    if frame.notice:
        text += f". Note: {frame.notice}"
    return text + "."


figure = partial(default_figure, PLOTS, cols=3, fig_inches=(13, 7.5), hspace=0.8)

"""Views of the PINN-sampling lab: where the points go, residual and density maps, error and
flatness per stage (with the equal-size uniform control and earlier runs overlaid), the training
loss."""

from functools import partial

import numpy as np

from ..labs.pinn_sampling import sampler_label
from .figure import default_figure
from .specs import Curves, Heatmap, LivePlot, Points

PLANE = {"bounds": (-1.0, -1.0, 1.0, 1.0), "kdims": ("x1", "x2")}


def _plane(matrix, label: str, overlays=()) -> Heatmap:
    """A map on the (x1, x2) plane (frames index maps [i_x2, i_x1], from x2 = -1 upward)."""
    return Heatmap(matrix, label, overlays=overlays, **PLANE)


def collocation(frame):
    return _plane(np.abs(frame.u_exact), "|u|", (Points(frame.points[:, 0], frame.points[:, 1]),))


def residual(frame):
    # Log scale: a spiky residual (the failure AAS targets) would otherwise be one bright pixel.
    return _plane(np.log10(np.maximum(frame.residual2, 1e-6)), "log10 r² (mean 1)")


def density(frame):
    return _plane(frame.density, "sampling density (mean 1)")


def solution(frame):
    return _plane(frame.u_pred, "u_θ")


def _per_stage(field: str, ylabel: str, control: str | None = None):
    """Builder of one per-stage metric: this run, its equal-size uniform control (frame field
    ``control``, when the run has one), and finished runs of other settings."""
    def build(frame, previous=(), numeric=False):
        runs = [(f"{frame.sampler_label} (this run)", frame), *[(label, f) for label, f in previous]]
        ys = [getattr(f, field) for _, f in runs]
        labels = [label for label, _ in runs]
        xs = [f.stage_index for _, f in runs]
        if control and frame.control_label:
            # The control's stages are this run's: it ends each stage alongside it.
            ys.insert(1, getattr(frame, control))
            labels.insert(1, f"{frame.control_label}: control, same points")
            xs.insert(1, frame.stage_index[: len(ys[1])])
        return Curves(None, ys, tuple(labels), "stage", ylabel, markers=True, xs=xs)
    return build


def loss(frame, numeric=False):
    return Curves(frame.loss_steps, frame.loss, ("training loss",), "step", "loss")


_MAP = {"xaxis": None, "yaxis": None}
PLOTS = {
    "Collocation points over |u|": LivePlot(collocation, ("points", "u_exact")),
    "Residual r² (log10)": LivePlot(residual, ("residual2",)),
    "Sampling density": LivePlot(density, ("density",)),
    "Relative L2 error per stage": LivePlot(
        _per_stage("rel_l2", "relative L2 error", "control_rel_l2"), ("rel_l2", "control_rel_l2"),
        {"logy": True}, compare=True),
    "Flatness CV(r²) per stage (lower = flatter)": LivePlot(
        _per_stage("cv_r2", "CV(r²)", "control_cv_r2"), ("cv_r2", "control_cv_r2"),
        {"logy": True}, compare=True),
    "Sliced W1(μ_r, uniform) per stage": LivePlot(_per_stage("w1_uniform", "sliced W1"), ("w1_uniform",),
                                                  compare=True),
    "PINN solution u_θ": LivePlot(solution, ("u_pred",)),
    "Training loss": LivePlot(loss, ("loss",), {"logy": True}),
}


def run_label(params) -> str:
    """How an earlier run is named in the comparison plots: the method's name for the (sampler,
    set_update) pair (RAD replaces its points, RAR-D adds them) and its own knobs."""
    label = sampler_label(params.sampler, params.set_update)
    if params.sampler == "aas":
        label += f" β={params.beta:g}"
        if params.adversary == "flow":
            label += " flow"
    if params.sampler == "rad":
        label += f" k={params.rad_k:g} c={params.rad_c:g}"
    return label


def summary(frame) -> str:
    m = frame.metrics or {}
    if not m:
        return ""
    text = (f"{frame.sampler_label}, {frame.problem_label}: relative L2 {m['rel_l2']:.3g}, CV(r²) "
            f"{m['cv_r2']:.3g}, sliced W1 {m['w1_uniform']:.3g} with {m['n_train']} points")
    if "control_rel_l2" in m:
        text += (f"; {frame.control_label} (control, same points and steps): relative L2 "
                 f"{m['control_rel_l2']:.3g}, CV(r²) {m['control_cv_r2']:.3g}")
    return text


# The exported figure: points, residual, density; error, flatness and W1 per stage (wider
# gaps: the maps' colour bars and their labels sit between the columns).
figure = partial(default_figure, PLOTS, titles={title: title for title in list(PLOTS)[:6]}, cols=3,
                 fig_inches=(11, 6.5), hspace=0.7)

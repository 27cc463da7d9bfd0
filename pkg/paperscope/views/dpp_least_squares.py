"""Views of the DPP least-squares lab: where the points fall over ρ_m, stability and error
against n/m for every sampler, ‖G − I‖ per draw, and the (m + 1) identity of one DPP at n = m."""

from functools import partial

import numpy as np

from .figure import default_figure
from .specs import Curves, LivePlot

RUG = ((0.05, 0.1), (0.015, 0.03))  # y-ranges of the two single draws' ticks (log axis)


def _rug(x, low: float, high: float):
    """Vertical ticks at ``x`` from ``low`` to ``high``, one NaN-separated polyline."""
    x = np.asarray(x, dtype=float)
    xs = np.repeat(x, 3)
    ys = np.tile([low, high, np.nan], len(x))
    xs[2::3] = np.nan
    return xs, ys


def _steps(centres, values):
    """A histogram as a step line through its bin edges."""
    centres = np.asarray(centres, dtype=float)
    half = (centres[1] - centres[0]) / 2 if len(centres) > 1 else 0.5
    edges = np.concatenate([centres - half, [centres[-1] + half]])
    return np.repeat(edges, 2)[1:-1], np.repeat(np.asarray(values, dtype=float), 2)


def samples(frame, numeric=False):
    """ρ_m (w.r.t. dx, log axis), the histogram of every selected point so far, and two single
    draws as ticks below the curve."""
    hx, hy = _steps(frame.hist_x, np.where(frame.hist_density > 0, frame.hist_density, np.nan))
    rx, ry = _rug(frame.draw, *RUG[0])
    ox, oy = _rug(frame.draw_other, *RUG[1])
    return Curves(None, [frame.rho, hy, ry, oy],
                  ("ρ_m = k_m/(2m)", "all points so far", f"one {frame.sampler} draw",
                   f"one {frame.other} draw"),
                  "x", "density w.r.t. dx", xs=[frame.x_grid, hx, rx, ox])


def _per_ratio(field: str, ylabel: str):
    """One curve per sampler against n/m (every sampler, always in the same order and colour;
    dpp exists at n = m only)."""
    def build(frame, numeric=False):
        table = getattr(frame, field)
        xs, ys = [], []
        for row in table:
            keep = np.isfinite(row)
            xs.append(frame.ratios[keep])
            ys.append(row[keep])
        return Curves(None, ys, tuple(frame.samplers), "n / m", ylabel, markers=True, xs=xs)
    return build


def gram_per_draw(frame, numeric=False):
    """Sorted ‖G − I‖₂ of every draw at the chosen n/m, one curve per sampler, and ½."""
    labels, xs, ys = [], [], []
    for name, row in zip(frame.samplers, frame.gi_sorted):
        present = bool(np.isfinite(row).any())
        labels.append(name if present else f"{name} (n = m only)")
        xs.append(frame.gi_fraction if present else np.array([np.nan]))
        ys.append(row if present else np.array([np.nan]))
    labels.append("stability threshold ½")
    xs.append(np.array([0.0, 1.0]))
    ys.append(np.array([0.5, 0.5]))
    return Curves(None, ys, tuple(labels), "fraction of draws (sorted)", "‖G − I‖₂", xs=xs)


def running_identity(frame, numeric=False):
    """One projection DPP with n = m: the running mean of err²/best² against draws, and m + 1."""
    x = frame.running_draws
    line = np.full(2, frame.m + 1.0)
    return Curves(None, [frame.running_mean, line], ("mean err²/best² so far", f"m + 1 = {frame.m + 1}"),
                  "draws", "err² / best²", xs=[x, np.array([1.0, max(float(x[-1]), 2.0)])])


def identity_histogram(frame, numeric=False):
    """Where log10(err²/best²) falls at n = m: one DPP against i.i.d. optimal points."""
    dx, dy = _steps(frame.id_hist_x, frame.id_hist_dpp)
    ix, iy = _steps(frame.id_hist_x, frame.id_hist_iid)
    top = float(max(np.max(frame.id_hist_dpp), np.max(frame.id_hist_iid)))
    v = np.log10(frame.m + 1.0)
    return Curves(None, [dy, iy, np.array([0.0, top])],
                  ("dpp (n = m)", "iid_optimal (n = m)", "log10(m + 1)"),
                  "log10(err² / best²)", "fraction of draws", xs=[dx, ix, np.array([v, v])])


_BEST = {"legend_position": "best"}  # on paper, matplotlib puts each legend where it hides the least data
PLOTS = {
    "Sample points over ρ_m = k_m/m": LivePlot(
        samples, ("hist_density", "draw", "draw_other", "rho"), {"logy": True}),
    "Stability: P(‖G − I‖₂ ≤ ½) against n/m": LivePlot(
        _per_ratio("stability", "P(‖G − I‖₂ ≤ ½)"), ("stability",), {"legend_position": "top_left"}, export=_BEST),
    "Error against n: median err/best": LivePlot(
        _per_ratio("median_ratio", "median ‖f − û‖ / ‖f − P_m f‖"), ("median_ratio",), {"logy": True}),
    "Error against n: mean err²/best² (error_ratio)": LivePlot(
        _per_ratio("mean_ratio", "mean ‖f − û‖² / ‖f − P_m f‖²"), ("mean_ratio",), {"logy": True}),
    "‖G − I‖₂ per draw at the chosen n/m": LivePlot(gram_per_draw, ("gi_sorted",),
                                                     {"logy": True, "legend_position": "top_left"}, export=_BEST),
    "One DPP, n = m: running mean of err²/best²": LivePlot(running_identity, ("running_mean",)),
    "n = m: distribution of err²/best²": LivePlot(identity_histogram, ("id_hist_dpp", "id_hist_iid")),
}


def summary(frame) -> str:
    m = frame.metrics or {}
    if not m:
        return ""
    text = (f"{frame.sampler}, n = {frame.n}, m = {frame.m}, f = {frame.target_label}: mean err²/best² "
            f"{m['error_ratio']:.3g}, median err/best {m['median_err_ratio']:.3g}, "
            f"‖G − I‖₂ ≤ ½ in {m['stability_fraction']:.0%} of draws")
    if frame.n == frame.m and frame.sampler != "iid_uniform" and frame.sampler != "iid_optimal":
        text += f" (theory for one DPP: m + 1 = {frame.m + 1})"
    return text


# The exported figure: samples, stability, median error, ‖G − I‖ per draw, the identity.
figure = partial(default_figure, PLOTS, titles={t: t for t in PLOTS if not t.startswith("Error against n: mean")},
                 cols=3, fig_inches=(11, 6.5))

"""Unit tests for the causal-bounds lab's computation (paperscope.labs.causal_bounds).

Oracles: the radii from their definition B_f(e) = e f(1/e) + (1 − e) f(0) with the paper's f;
the conjugates as sup_s {s t − g(s)} maximised numerically; the batched dual against the spec's
scipy Nelder–Mead reference (its parameterisation, many starts) and against the primal it must
equal (strong duality: the optimal likelihood ratio is a feasible reweighting attaining θ_up);
TV's closed form against scipy's linear program over reweightings; the aggregator against its
definition; the bin truth against quadrature. The claims are declared in
``paperscope.claims.causal_bounds`` (checked by tests/test_claims.py).
"""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import linprog, minimize, minimize_scalar

from paperscope.labs import causal_bounds as cb

F64 = torch.float64
E_VALUES = (0.07, 0.3, 0.6, 0.95)

# The paper's generators f (Cor. T1.1), with f(0) as its limit.
F = {
    "KL": lambda t: t * math.log(t) if t > 0 else 0.0,
    "hellinger": lambda t: 0.5 * (math.sqrt(t) - 1) ** 2,
    "chi2": lambda t: 0.5 * (t - 1) ** 2,
    "TV": lambda t: 0.5 * abs(t - 1),
    "JS": lambda t: 0.5 * ((t * math.log(t) if t > 0 else 0.0) - (t + 1) * math.log((t + 1) / 2)),
}


def g_of(div, s):
    return s * F[div](1 / s)


def sample(m=40, seed=0, law="normal"):
    rng = np.random.default_rng(seed)
    return rng.standard_t(3, size=m) if law == "t3" else rng.normal(size=m)


def lab_interval(div, y, e, w=None):
    Y = torch.tensor(np.asarray(y, float))[None]
    W = torch.full_like(Y, 1 / Y.shape[1]) if w is None else torch.tensor(w)[None]
    return cb.interval(div, Y, W, torch.tensor([float(e)], dtype=F64))[:, 0].numpy()


# --- divergences ------------------------------------------------------------------------------


@pytest.mark.parametrize("div", cb.BASE)
def test_radius_is_e_f_of_one_over_e_plus_one_minus_e_f_of_zero(div):
    for e in E_VALUES:
        expected = e * F[div](1 / e) + (1 - e) * F[div](0.0)
        assert cb.radius(div, e) == pytest.approx(expected, rel=1e-12)
        assert float(cb.radius(div, torch.tensor(e, dtype=F64))) == pytest.approx(expected, rel=1e-12)
    assert cb.radius(div, 1.0) == pytest.approx(0.0, abs=1e-15)  # no confounding room at e = 1


@pytest.mark.parametrize("div", cb.SMOOTH)
def test_conjugate_is_the_supremum_over_likelihood_ratios(div):
    """g*(t) = sup_{s>0} s t − g(s), g(s) = s f(1/s), at points below t_max; its derivative
    (the maximiser s) and g(s) are the lab's ``ratio`` and ``generator_g``."""
    for d in (0.01, 0.2, 1.0, 3.0):
        t = cb.T_MAX[div] - d
        res = minimize_scalar(lambda log_s, t=t: -(math.exp(log_s) * t - g_of(div, math.exp(log_s))),
                              bounds=(-30, 30), method="bounded", options={"xatol": 1e-12})
        D = torch.tensor([d], dtype=F64)
        assert float(cb.conjugate(div, D)) == pytest.approx(-res.fun, rel=1e-7, abs=1e-9)
        s, ds = cb.ratio(div, D)
        assert float(s) == pytest.approx(math.exp(res.x), rel=1e-5)
        h = 1e-6  # s = d g*/dt = −d g*/dd, and ds/dd by central differences
        num = -(cb.conjugate(div, D + h) - cb.conjugate(div, D - h)) / (2 * h)
        assert float(s) == pytest.approx(float(num), rel=1e-6)
        num_ds = (cb.ratio(div, D + h)[0] - cb.ratio(div, D - h)[0]) / (2 * h)
        assert float(ds) == pytest.approx(float(num_ds), rel=1e-5)
        assert float(cb.ratio_inverse(div, s)) == pytest.approx(d, rel=1e-10)
        assert float(cb.generator_g(div, s)) == pytest.approx(g_of(div, float(s)), rel=1e-9, abs=1e-12)


def test_js_generator_is_finite_at_zero():
    assert float(cb.generator_g("JS", torch.tensor(0.0, dtype=F64))) == pytest.approx(0.5 * math.log(2))


# --- the dual ---------------------------------------------------------------------------------


def nelder_mead_upper(div, y, e, starts=(-2, 0, 2)):
    """The spec's reference: the dual in (log λ, s), u = max y − λ t_max + e^s, multi-start."""
    eta, tmax, top = cb.radius(div, e), cb.T_MAX[div], y.max()
    # the parameterisation keeps every t below t_max; clipping only guards round-off there
    gstar = {"KL": lambda t: -1 - np.log(np.maximum(-t, 1e-300)), "hellinger": lambda t: t / (1 - 2 * t),
             "chi2": lambda t: 1 - np.sqrt(np.maximum(1 - 2 * t, 0.0)),
             "JS": lambda t: -0.5 * np.log(np.maximum(2 - np.exp(2 * t), 1e-300))}[div]

    def objective(p):
        lam = math.exp(p[0])
        u = top - lam * tmax + math.exp(p[1])
        return lam * eta + u + lam * np.mean(gstar((y - u) / lam))

    return min(minimize(objective, [a, b], method="Nelder-Mead",
                        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 3000}).fun
               for a in starts for b in (-3, 0))


@pytest.mark.parametrize("div", cb.SMOOTH)
def test_batched_dual_equals_the_scipy_nelder_mead_reference(div):
    for seed, e in enumerate(E_VALUES):
        y = sample(m=30 + 10 * seed, seed=seed, law="t3" if seed % 2 else "normal")
        lo, up = lab_interval(div, y, e)
        scale = np.ptp(y)
        assert up == pytest.approx(nelder_mead_upper(div, y, e), abs=1e-6 * scale)
        assert lo == pytest.approx(-nelder_mead_upper(div, -y, e), abs=1e-6 * scale)


@pytest.mark.parametrize("div", cb.SMOOTH)
def test_dual_optimum_is_a_feasible_reweighting_that_attains_it(div):
    """Strong duality: s_i = g*'((y_i − u)/λ) at the optimum has mean 1, divergence B_f(e), and
    E_P[s y] = θ_up."""
    y = sample(m=50, seed=3)
    e = 0.4
    Y = torch.tensor(y)[None]
    w = torch.full_like(Y, 1 / 50)
    z, top, scale = cb.standardise(Y, w)
    eta = cb.radius(div, torch.tensor([e], dtype=F64))
    theta = float(top + scale * cb.dual_upper(div, z, w, eta))
    # recover λ from the converged profile: the root of V'(λ) in log λ by bisection
    lo_, hi_ = -25.0, 12.0
    for _ in range(200):
        mid = 0.5 * (lo_ + hi_)
        _, slope, _, _ = cb._profile(div, z, w, eta, torch.tensor([mid], dtype=F64))
        lo_, hi_ = (mid, hi_) if float(slope) < 0 else (lo_, mid)
    lam = torch.exp(torch.tensor([lo_], dtype=F64))
    _, d = cb._solve_u(div, z, w, lam)
    s = cb.ratio(div, d)[0][0].numpy()
    assert s.mean() == pytest.approx(1.0, abs=1e-9)
    assert cb.generator_g(div, torch.tensor(s)).mean().item() == pytest.approx(float(eta), rel=1e-6)
    assert float(np.mean(s * y)) == pytest.approx(theta, abs=1e-6)


@pytest.mark.parametrize("div", cb.SMOOTH)
def test_profile_derivatives_match_finite_differences(div):
    """V' (the envelope theorem) and dV'/d log λ (implicit differentiation) that the Newton
    steps on log λ use, against central differences of V and V'."""
    y = sample(m=35, seed=11)
    Y = torch.tensor(y)[None]
    w = torch.full_like(Y, 1 / 35)
    z, _, _ = cb.standardise(Y, w)
    eta = cb.radius(div, torch.tensor([0.3], dtype=F64))
    h = 1e-5
    for x in (-2.0, -0.5, 1.0):
        at = lambda t: cb._profile(div, z, w, eta, torch.tensor([t], dtype=F64))  # noqa: E731
        value_m, slope_m, _, _ = at(x - h)
        value_p, slope_p, _, _ = at(x + h)
        _, slope, curvature, _ = at(x)
        lam = math.exp(x)
        assert float(slope) == pytest.approx(float(value_p - value_m) / (2 * h) / lam, rel=1e-5, abs=1e-8)
        assert float(curvature) == pytest.approx(float(slope_p - slope_m) / (2 * h), rel=1e-5, abs=1e-8)
        assert float(curvature) > 0  # V is convex in λ, so V' increases


def test_tv_closed_form_equals_the_linear_program_over_reweightings():
    """sup Σ p_i q_i y_i over q ≥ 0, Σ p_i q_i = 1, Σ p_i |1 − q_i| / 2 ≤ 1 − e (unequal weights)."""
    rng = np.random.default_rng(5)
    m = 25
    y, p = rng.normal(size=m), rng.dirichlet(np.ones(m))
    for e in E_VALUES:
        eta = 1 - e
        # variables q (m) and a (m) with a_i ≥ |1 − q_i|
        c = np.concatenate([-p * y, np.zeros(m)])
        A_ub = np.block([[np.eye(m), -np.eye(m)], [-np.eye(m), -np.eye(m)], [np.zeros((1, m)), p[None] / 2]])
        b_ub = np.concatenate([np.ones(m), -np.ones(m), [eta]])
        A_eq = np.concatenate([p, np.zeros(m)])[None]
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=[(0, None)] * (2 * m))
        lo, up = lab_interval("TV", y, e, w=p)
        assert up == pytest.approx(-res.fun, abs=1e-8)


@pytest.mark.parametrize("div", cb.BASE)
def test_bounds_are_affine_equivariant_and_nest_around_the_mean(div):
    y = sample(m=60, seed=7)
    lo, up = lab_interval(div, y, 0.35)
    lo2, up2 = lab_interval(div, 3.0 + 2.5 * y, 0.35)
    assert (lo2, up2) == pytest.approx((3.0 + 2.5 * lo, 3.0 + 2.5 * up), rel=1e-8)
    assert lo < y.mean() < up and y.min() <= lo and up <= y.max()
    widths = [np.diff(lab_interval(div, y, e))[0] for e in (0.1, 0.3, 0.6, 0.9, 0.999)]
    assert all(np.diff(widths) < 0)  # Thm. 1: a larger propensity, a smaller ball
    assert widths[-1] < 0.1 * widths[0]


def test_padding_and_batching_change_nothing():
    """A row padded with zero-weight entries, batched with other rows, gives its own answer."""
    ys = [sample(m=m, seed=m) for m in (12, 30, 21)]
    M = 30
    Y = torch.zeros(3, M, dtype=F64)
    W = torch.zeros(3, M, dtype=F64)
    for r, y in enumerate(ys):
        Y[r, :len(y)] = torch.tensor(y)
        W[r, :len(y)] = 1 / len(y)
    e = torch.tensor([0.2, 0.5, 0.8], dtype=F64)
    for div in cb.BASE:
        together = cb.interval(div, Y, W, e).numpy()
        for r, y in enumerate(ys):
            assert together[:, r] == pytest.approx(lab_interval(div, y, float(e[r])), rel=1e-9, abs=1e-9)


def test_aggregate_is_the_first_k_whose_order_statistics_cross():
    rng = np.random.default_rng(0)
    lower, upper = rng.normal(size=(5, 200)), rng.normal(size=(5, 200)) + 0.5
    lo, up = cb.aggregate(lower, upper)
    for b in range(200):
        ls, us = sorted(lower[:, b], reverse=True), sorted(upper[:, b])
        k = next((k for k in range(5) if ls[k] <= us[k]), 4)
        assert (lo[b], up[b]) == (ls[k], us[k])
    # Valid intervals that all hold a point: k = 1, the intersection
    lo, up = cb.aggregate(np.array([[-1.0], [-2.0]]), np.array([[3.0], [1.0]]))
    assert (lo[0], up[0]) == (-1.0, 1.0)


# --- data and bins ----------------------------------------------------------------------------


def test_bin_truth_is_the_bin_average_of_mu_plus_tau():
    edges = np.linspace(-2, 2, 9)
    for (a, b), t in zip(zip(edges[:-1], edges[1:]), cb.bin_truth(edges)):
        assert t == pytest.approx(quad(cb.mu, a, b)[0] / (b - a) + cb.TAU, rel=1e-12)


def test_per_bin_rows_hold_each_bins_treated_outcomes():
    gen = torch.Generator().manual_seed(0)
    X, A, Y = cb.draw(3000, cb.Params(), "gaussian", gen, "cpu")
    e, rows, w, m = cb.per_bin(X, A, Y, 8)
    x, a, y = X.numpy(), A.numpy(), Y.numpy()
    b = np.clip(((x + 2) / 4 * 8).astype(int), 0, 7)
    for k in range(8):
        treated = np.sort(y[(b == k) & (a == 1)])
        assert e[k].item() == pytest.approx(a[b == k].mean())
        assert np.sort(rows[k][w[k] > 0].numpy()) == pytest.approx(treated)
        assert w[k].sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("noise", cb.NOISES)
def test_the_noise_laws_have_mean_zero_and_the_bounded_one_is_bounded(noise):
    gen = torch.Generator().manual_seed(1)
    p = cb.Params(confounding=0.0, propensity_slope=0.0)
    X, A, Y = cb.draw(200_000, p, noise, gen, "cpu")
    resid = (Y - 0.5 - 0.8 * torch.tanh(X) - A).numpy()  # δ U + ε, both mean 0
    assert abs(resid.mean()) < 0.02
    if noise == "bounded":
        assert np.abs(resid).max() <= 1 + math.sqrt(3) + 1e-12
        assert resid.var() == pytest.approx(2.0, rel=0.02)  # var U + var ε = 1 + 1


def test_naive_is_biased_upwards_under_confounding_and_not_without():
    def bias(gamma):
        gen = torch.Generator().manual_seed(2)
        X, A, Y = cb.draw(40_000, cb.Params(confounding=gamma), "gaussian", gen, "cpu")
        _, rows, w, _ = cb.per_bin(X, A, Y, 8)
        return np.mean((w * rows).sum(-1).numpy() - cb.bin_truth(np.linspace(-2, 2, 9)))
    assert bias(2.0) > 0.3
    assert abs(bias(0.0)) < 0.05


# --- the run ----------------------------------------------------------------------------------


def test_run_streams_frames_and_reports_every_metric():
    frames = list(cb.run(cb.Params.preset("quick", device="cpu")))
    assert frames[0].step == 0 and not frames[0].done and np.isnan(frames[0].lower).all()
    last = frames[-1]
    assert last.done and last.step == last.total_steps
    m = last.metrics
    for name in ("coverage", "width_propensity_spearman", "naive_bias", "mean_width"):
        assert m[name] is not None
    assert set(m["by_method"]) == set(cb.DIVERGENCES)
    assert m["coverage"] == m["by_method"]["chi2"]["coverage"]
    assert np.isfinite(last.sweep_width).all() and len(m["sweep_n"]) == cb.SWEEP_POINTS
    # the run's own sample closes the sweep
    k = cb.DIVERGENCES.index("chi2")
    assert last.sweep_width[0, -1] == pytest.approx(np.mean(last.upper[k] - last.lower[k]))
    assert (last.lower <= last.upper).all()


def test_runs_are_reproducible_and_seeded():
    a = list(cb.run(cb.Params(n=500, seed=3, device="cpu")))[-1]
    b = list(cb.run(cb.Params(n=500, seed=3, device="cpu")))[-1]
    c = list(cb.run(cb.Params(n=500, seed=4, device="cpu")))[-1]
    np.testing.assert_array_equal(a.upper, b.upper)
    assert not np.allclose(a.upper, c.upper)


def test_unbounded_outcomes_widen_with_n_bounded_ones_settle():
    """The spec's caveat: for Gaussian Y the interval rests on the sample's extremes."""
    *_, f = cb.run(cb.Params(n=20_000, divergence="chi2", device="cpu"))
    gaussian, bounded = f.sweep_width
    assert gaussian[-1] > 1.3 * gaussian[0]
    assert abs(bounded[-1] - bounded[-2]) < 0.05 * bounded[-1]


def test_a_handful_of_treated_units_per_bin_carries_a_notice():
    *_, sparse = cb.run(cb.Params(n=300, bins=32, device="cpu"))
    assert "treated units per bin" in sparse.notice
    *_, dense = cb.run(cb.Params(n=2000, device="cpu"))
    assert dense.notice == ""

"""Compute tests of the robust-counterfactuals lab against oracles: sklearn's moons, torch.nn
layers, models trained one at a time, a closed form for the Gaussian-smoothed probit, the
distance to a linear boundary, single-τ T-Rex runs and a brute-force STCE search."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from paperscope.labs import robust_counterfactuals as rc
from paperscope.labs.robust_counterfactuals import Params

F64 = torch.float64


def test_moons_are_two_half_circles():
    """sklearn's layout: class 0 on the upper unit half circle, class 1 on the lower half circle
    of radius 1 centred at (1, 0.5), each at evenly spaced angles."""
    X, y = rc.make_moons(101, 0.0, np.random.default_rng(0))
    outer, inner = X[y == 0], X[y == 1] - np.array([1.0, 0.5])
    assert len(outer) == 50 and len(inner) == 51
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0)
    np.testing.assert_allclose(np.hypot(*inner.T), 1.0)
    assert (outer[:, 1] >= -1e-12).all() and (inner[:, 1] <= 1e-12).all()
    np.testing.assert_allclose(np.sort(np.arctan2(outer[:, 1], outer[:, 0])), np.linspace(0, np.pi, 50), atol=1e-12)


def _nets(widths, H, seed=0):
    return rc.init_mlp(widths, H, seed, [100 + j for j in range(len(widths))], "cpu", F64)


def test_batched_mlp_is_a_stack_of_linear_layers():
    """Each model of the batch, unpadded, through torch.nn.functional.linear and relu."""
    net = _nets([5, 3], 5)  # the second model has 3 of 5 hidden units
    X = torch.randn(7, 2, dtype=F64)
    out = rc.logits(net, X)
    for j, h in enumerate([5, 3]):
        z = F.relu(F.linear(X, net.W1[j][:, :h].T, net.b1[j][0, :h]))
        z = F.relu(F.linear(z, net.W2[j][:h, :h].T, net.b2[j][0, :h]))
        torch.testing.assert_close(out[j], F.linear(z, net.W3[j][:h].T, net.b3[j][0]).squeeze(-1))


def test_init_is_torch_linears_distribution():
    net = _nets([64], 64)
    bound = 1 / math.sqrt(64)
    assert net.W2.abs().max() <= bound and net.W2.abs().max() > 0.95 * bound
    assert abs(net.W2.std().item() - bound / math.sqrt(3)) < 0.01  # U(−b, b) has sd b/√3


def test_batched_training_equals_training_each_model_alone():
    X = torch.randn(60, 2, dtype=F64)
    y = (X[:, 0] > 0).to(F64)
    w = torch.ones(3, 60, dtype=F64)
    w[1, :20] = 0  # a subsample for model 1
    widths = [8, 4, 8]
    batched = rc.trainable(_nets(widths, 8))
    rc.train_steps(batched, rc.Adam(batched.weights(), lr=1e-2), X, y, w, 30)
    for j in range(3):
        alone = rc.trainable(rc.init_mlp([widths[j]], 8, 0, [100 + j], "cpu", F64))
        rc.train_steps(alone, rc.Adam(alone.weights(), lr=1e-2), X, y, w[j:j + 1], 30)
        for a, b in zip(batched.select(j).weights(), alone.weights()):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)
    assert (batched.W2[1][:, 4:] == 0).all()  # units a narrow model lacks never move


def _probit(a, b):
    a = torch.tensor(a, dtype=F64)
    return lambda x: torch.distributions.Normal(0.0, 1.0).cdf(x @ a + b)


def test_stability_without_variability_is_the_smoothed_probit():
    """γ = 0: E[Φ(aᵀX + b)] for X ~ N(x, σ²I) is Φ((aᵀx + b) / √(1 + σ²‖a‖²))."""
    a, b, sigma, k = [1.5, -2.0], 0.3, 0.4, 40000
    m = _probit(a, b)
    x = torch.tensor([[0.1, 0.2], [-0.5, 0.4], [0.6, -0.1]], dtype=F64)
    Z = torch.randn(3, k, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    got = rc.stability(m, x, Z, sigma, 0.0)
    norm_a2 = sum(v * v for v in a)
    z = (x @ torch.tensor(a, dtype=F64) + b) / math.sqrt(1 + sigma ** 2 * norm_a2)
    exact = torch.distributions.Normal(0.0, 1.0).cdf(z)
    assert (got - exact).abs().max() < 4 * 0.5 / math.sqrt(k)  # 4 standard errors at most


def test_stability_matches_a_loop_over_samples():
    m = _probit([0.7, 1.1], -0.2)
    x = torch.tensor([[0.3, -0.4], [1.0, 0.5]], dtype=F64)
    Z = torch.randn(2, 50, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    got = rc.stability(m, x, Z, 0.2, 1.5)
    for q in range(2):
        terms = [m((x[q] + 0.2 * Z[q, i])[None])[0] - 1.5 * abs(m(x[q][None])[0] - m((x[q] + 0.2 * Z[q, i])[None])[0])
                 for i in range(50)]
        torch.testing.assert_close(got[q], torch.stack(terms).mean())


def test_closest_walk_stops_just_past_a_linear_boundary():
    """m = σ(aᵀx + b): the walk follows the normal; it stops at the first step with m ≥ 0.51,
    so its distance lies in [d*, d* + η) with d* the distance to the 0.51 level set."""
    a, b, eta = torch.tensor([2.0, 1.0], dtype=F64), -1.0, 0.01
    m = lambda x: torch.sigmoid(x @ a + b)  # noqa: E731
    x = torch.tensor([[-1.0, -1.0], [0.0, -2.0], [0.2, 0.5]], dtype=F64)
    cf = rc.closest_walk(m, x, eta, 1000)
    d_star = ((math.log(0.51 / 0.49) - (x @ a + b)) / a.norm()).clamp_min(0)
    dist = (cf - x).norm(dim=1)
    assert ((dist >= d_star - 1e-9) & (dist < d_star + eta)).all()
    assert (m(cf) >= 0.51).all()
    direction = (cf - x)[0] / dist[0]
    torch.testing.assert_close(direction, a / a.norm())


def _small_model():
    X, y = rc.make_moons(200, 0.15, np.random.default_rng(3))
    X = torch.as_tensor(rc.standardize(X))
    net = rc.trainable(_nets([16], 16))
    rc.train_steps(net, rc.Adam(net.weights(), lr=1e-2), X, torch.as_tensor(y), torch.ones(1, 200, dtype=F64), 150)
    net = rc.frozen(net)
    return X, (lambda x: rc.prob(net, x)[0])


def test_one_ascent_serves_every_threshold():
    """T-Rex for a grid of τ in one pass equals separate runs with each τ alone."""
    X, m = _small_model()
    with torch.no_grad():
        q = X[m(X) < 0.5][:12]
    start = rc.closest_walk(m, q, 0.02, 300)
    Z = torch.randn(12, 64, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    taus = torch.tensor([0.5, 0.7, 0.9, 0.99], dtype=F64)
    together = rc.trex_ascent(m, start, Z, 0.1, 1.0, taus, 0.02, 60)
    for t in range(len(taus)):
        alone = rc.trex_ascent(m, start, Z, 0.1, 1.0, taus[t:t + 1], 0.02, 60)[0]
        torch.testing.assert_close(together[t], alone, atol=0, rtol=0)
        R = rc.stability(m, alone, Z, 0.1, 1.0)
        reached = R >= taus[t]
        # Where τ was reached within the budget, the iterate before did not reach it: the
        # stopped CF is the first, i.e. the cheapest along the path.
        assert reached.sum() > 0
    assert (together[1] - start).norm(dim=1).mean() >= (together[0] - start).norm(dim=1).mean()


def test_stce_is_the_nearest_candidate_above_the_threshold():
    g = torch.Generator().manual_seed(4)
    q, cand = torch.randn(5, 2, generator=g, dtype=F64), torch.randn(30, 2, generator=g, dtype=F64)
    R = torch.rand(30, generator=g, dtype=F64)
    taus = torch.tensor([0.2, 0.6, 2.0], dtype=F64)
    got = rc.stce(q, cand, R, taus)
    for t, tau in enumerate(taus):
        for i in range(5):
            ok = [c for c, r in zip(cand, R) if r > tau]
            want = min(ok, key=lambda c: (c - q[i]).norm()) if ok else q[i]
            torch.testing.assert_close(got[t, i], want)


def test_jitter_is_ten_percent_of_each_tensors_rms():
    base = _nets([32], 32)
    changed = rc.jittered(base, 40, seed=0)
    ratio = (changed.W2 - base.W2).pow(2).mean().sqrt() / base.W2.pow(2).mean().sqrt()
    assert abs(ratio.item() - rc.JITTER) < 0.005


def test_bootstrap_keeps_ninety_percent_and_differs_per_model():
    widths, w = rc.changed_setup(Params(retrained=3, n_data=200), 200)
    assert widths == [64] * 3 and (w.sum(1) == 180).all()
    assert not np.array_equal(w[0], w[1])
    widths, _ = rc.changed_setup(Params(retrained=5, width=64, model_change="width change"), 200)
    assert widths == [32, 48, 96, 128, 32]


def test_evaluation_knobs_reuse_the_trained_models():
    rc.MODELS.clear()
    small = {"n_data": 200, "retrained": 3, "queries": 10, "width": 16, "epochs": 40, "samples": 30,
             "max_steps": 100, "device": "cpu"}
    *_, first = rc.run(Params(**small))
    entries = dict(rc.MODELS.items())
    assert len(entries) == 2  # m and the changed models
    for change in ({"threshold": 0.85}, {"sigma": 0.2, "samples": 50}, {"gamma": 0.0, "queries": 5}):
        *_, last = rc.run(Params(**{**small, **change}))
        assert {k: v for k, v in rc.MODELS.items()} == entries  # the very same objects, no retraining
    np.testing.assert_array_equal(last.prob, first.prob)
    *_, other = rc.run(Params(**small, model_change="reseed"))
    assert len(rc.MODELS) == 3 and not np.array_equal(other.prob_changed, first.prob_changed)
    np.testing.assert_array_equal(other.prob, first.prob)  # m itself does not depend on the change


def test_metrics_are_conditional_on_validity_under_m():
    small = {"n_data": 200, "retrained": 3, "queries": 20, "width": 16, "epochs": 40, "samples": 30}
    *_, f = rc.run(Params(**small, device="cpu", max_steps=3))  # most walks stop short
    m = f.metrics
    assert m["validity_m_closest"] < 1
    vm, vr = f.valid_m["closest"][-1], f.valid_retrained["closest"][-1]
    assert np.isnan(vr[vm == 0]).all()
    if vm.any():
        assert m["validity_retrained_closest"] == pytest.approx(np.mean(vr[vm > 0]))
    assert set(m["by_method"]) == {"closest", "trex", "stce"}
    for name in ("validity_retrained_trex", "validity_retrained_closest", "cost_trex", "cost_closest"):
        assert name in m

"""Unit tests for the impossibility lab's computation (paperscope.labs.generalization_bounds).

Oracles: brute-force loops over the pool for the true losses, the identity
L_D2 − L_D1 = (1 − q)(1 − ε_off), scipy's root finder for the kl inverse, numpy for the
spectral-norm measure and the VC formula, full weight-matrix draws for the Gibbs shortcut, and
three runs of the whole pipeline (one per distribution's S) for the claim that the bounds are
functions of (S, h) only. The claims are declared in ``paperscope.claims.generalization_bounds``.
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from paperscope.labs import generalization_bounds as gb

SMALL = {"m": 60, "pool_ratio": 10.0, "width": 16, "steps": 100, "sigmas": 4, "draws": 3, "device": "cpu"}


def small_params(**overrides) -> gb.Params:
    return gb.Params(**{**SMALL, **overrides})


def trained(params: gb.Params, which: str = "D1", h_pool=None):
    """A(S) for S drawn from distribution ``which``: (world, S, net, w0)."""
    world = gb.make_world(params, torch.device("cpu"))
    X_S, y_S = gb.training_set(world, which, h_pool)
    w0 = gb.init_net(params.width, params.seed, "cpu")
    trainer = gb.Trainer(w0, X_S, y_S, params.lr)
    trainer.train_steps(params.steps)
    return world, (X_S, y_S), trainer.net.detached(), w0


@pytest.fixture(scope="module")
def small_run():
    return trained(small_params())


# --- the distributions and the true losses -----------------------------------------------------


def test_every_distribution_labels_S_alike_and_is_deterministic(small_run):
    world, (X_S, y_S), net, _ = small_run
    h_pool = gb.predict(net, world.X)
    for D in gb.DISTRIBUTIONS:
        X_D, y_D = gb.training_set(world, D, h_pool)
        assert torch.equal(X_D, X_S) and torch.equal(y_D, y_S)
        assert set(gb.labels_of(world, D, h_pool).unique().tolist()) <= {-1.0, 1.0}
    # D2 is h's adversary off S: h is wrong on every unseen pool point
    off = ~world.in_S
    assert (h_pool[off] != gb.labels_of(world, "D2", h_pool)[off]).all()


def test_true_losses_match_a_loop_over_the_pool(small_run):
    world, _, net, _ = small_run
    h = gb.predict(net, world.X).numpy()
    y, coin, in_S = world.y_tilde.numpy(), world.coin.numpy(), world.in_S.numpy()
    N = len(h)
    expected = [sum(h[i] != y[i] for i in range(N)) / N,
                sum((h[i] != y[i]) if in_S[i] else 1 for i in range(N)) / N,
                sum(h[i] != (y[i] if in_S[i] else coin[i]) for i in range(N)) / N]
    np.testing.assert_allclose(gb.true_losses(world, torch.as_tensor(h)).numpy(), expected, atol=1e-7)


def test_the_gap_identity_and_the_forced_error(small_run):
    """L_D2 − L_D1 = (1 − q)(1 − ε_off), and no number is within the gap of both losses."""
    world, S, net, w0 = small_run
    h_pool = gb.predict(net, world.X)
    L1, L2, _ = gb.true_losses(world, h_pool).double().tolist()
    off = ~world.in_S
    q = world.in_S.double().mean().item()
    eps_off = (h_pool[off] != world.y_tilde[off]).double().mean().item()
    assert L2 - L1 == pytest.approx((1 - q) * (1 - eps_off), abs=1e-6)
    for b in np.linspace(-0.5, 1.5, 201):
        assert max(abs(b - L1), abs(b - L2)) >= (L2 - L1) / 2 - 1e-12


def test_label_noise_flips_the_stated_fraction_of_the_pool():
    params = small_params(m=500, label_noise=0.3)
    world = gb.make_world(params, torch.device("cpu"))
    clean = gb.make_world(small_params(m=500), torch.device("cpu"))
    assert torch.equal(world.X, clean.X) and torch.equal(world.idx, clean.idx)
    flipped = (world.y_tilde != clean.y_tilde).double().mean().item()
    assert abs(flipped - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(world.X))


def test_expected_hit_fraction_matches_simulation():
    rng = np.random.default_rng(0)
    for N, m in ((50, 50), (200, 50), (1000, 50)):
        sims = [len(np.unique(rng.integers(N, size=m))) / N for _ in range(4000)]
        assert gb.expected_hit_fraction(N, m) == pytest.approx(np.mean(sims), abs=4 * np.std(sims) / math.sqrt(4000))
    assert gb.expected_hit_fraction(np.array([1e9]), 200)[0] == pytest.approx(200 / 1e9, rel=1e-6)


def test_gap_curve_vanishes_as_the_pool_shrinks_to_S():
    r, gap, ceiling = gb.gap_curve(200, off_error=0.2)
    assert (np.diff(gap) > 0).all() and np.allclose(gap, 0.8 * ceiling)
    assert ceiling[0] == pytest.approx(0.5 * (1 - 1 / 200) ** 200, rel=1e-9)  # N = m: ½ e^{-1} roughly
    assert ceiling[-1] > 0.49


# --- the bounds are functions of (S, h) only ------------------------------------------------------


def test_bounds_are_bit_identical_across_the_three_distributions(small_run):
    """Run A on the S each distribution gives and compute every bound: the same bits (C2)."""
    params = small_params()
    world, _, net1, _ = small_run
    h_pool = gb.predict(net1, world.X)
    results = []
    for D in gb.DISTRIBUTIONS:
        world_D, S, net, w0 = trained(params, D, h_pool)
        b = gb.bounds_from(*S, net, w0, params, gen=gb.torch_generator(params.seed, "cpu", gb.STREAM_GIBBS))
        results.append((b.train_error, b.vc, b.nbs, b.pac_bayes.bound, b.pac_bayes.per_sigma.tobytes(),
                        net.flat().numpy().tobytes()))
    assert results[0] == results[1] == results[2]


# --- each bound against an oracle -----------------------------------------------------------------


def test_vc_bound_closed_form_and_vacuous_branch():
    d, m, delta = 10.0, 1000, 0.05
    expected = 0.02 + math.sqrt(8 / m * (d * math.log(2 * math.e * m / d) + math.log(4 / delta)))
    assert gb.vc_bound(0.02, d, m, delta) == pytest.approx(expected, rel=1e-12)
    assert gb.vc_bound(0.0, 5000.0, 1000, delta) == 1.0
    P = 256 * 20 + 256 + 256 + 1
    assert gb.vc_dimension(256) == pytest.approx(P * 2 * math.log(P))


def test_nbs_measure_matches_numpy(small_run):
    _, (X_S, y_S), net, _ = small_run
    X, y = X_S.double().numpy(), y_S.double().numpy()
    W1, b1, w2, b2 = (t.double().numpy() for t in net)
    margins = y * (np.maximum(X @ W1.T + b1, 0) @ w2 + b2)
    gamma = np.quantile(margins[margins > 0], 0.1)
    W = [W1, w2[None, :]]
    spec = [np.linalg.norm(A, 2) for A in W]
    frob = [np.linalg.norm(A) for A in W]
    h, m, L, delta = W1.shape[0], len(y), 2, 0.05
    B = np.linalg.norm(X, axis=1).max()
    comp = B**2 * L**2 * h * math.log(L * h) * np.prod(np.square(spec)) * sum(
        f**2 / s**2 for f, s in zip(frob, spec)) + math.log(L * m / delta)
    expected = np.mean(margins < gamma) + math.sqrt(comp / (gamma**2 * m))
    assert gb.nbs_measure(net, X_S, y_S, delta) == pytest.approx(expected, rel=1e-4)


def test_kl_inverse_matches_a_root_finder():
    q = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9], dtype=torch.float64)
    c = torch.tensor([0.01, 0.2, 0.05, 1.0, 0.01], dtype=torch.float64)
    got = gb.kl_inverse(q, c)
    for qi, ci, gi in zip(q.tolist(), c.tolist(), got.tolist()):
        def kl(p, qi=qi, ci=ci):
            return (qi * math.log(qi / p) if qi else 0.0) + (1 - qi) * math.log((1 - qi) / (1 - p)) - ci
        expected = brentq(kl, qi + 1e-15, 1 - 1e-15) if kl(1 - 1e-15) > 0 else 1.0
        assert gi == pytest.approx(expected, abs=1e-9)
    assert (gb.kl_bernoulli(q, got) <= c + 1e-12).all()


def test_gibbs_shortcut_has_the_law_of_full_weight_draws():
    """Per-point error probability of the Gibbs classifier: the shortcut vs drawing W1', b1',
    w2', b2' in full (float64), within five standard errors."""
    torch.manual_seed(0)
    h, m, K = 8, 5, 20000
    net = gb.Net(torch.randn(h, gb.DIM, dtype=torch.float64) / 4, torch.randn(h, dtype=torch.float64) / 4,
                 torch.randn(h, dtype=torch.float64) / 3, torch.tensor(0.1, dtype=torch.float64))
    X = torch.randn(m, gb.DIM, dtype=torch.float64)
    y = torch.where(torch.rand(m) < 0.5, 1.0, -1.0).double()
    sigma = torch.tensor([0.05, 0.3], dtype=torch.float64)
    short = (gb.gibbs_margins(net, X, y, sigma, K, torch.Generator().manual_seed(1)) <= 0).double().mean(1)
    g = torch.Generator().manual_seed(2)
    full = []
    for s in sigma.tolist():
        noisy = [t + s * torch.randn((K, *t.shape), generator=g, dtype=torch.float64) for t in net]
        W1, b1, w2, b2 = noisy  # (K, h, d), (K, h), (K, h), (K,)
        a = torch.relu(torch.einsum("khd,md->kmh", W1, X) + b1[:, None, :])
        f = torch.einsum("kmh,kh->km", a, w2) + b2[:, None]
        full.append((y * f <= 0).double().mean(0))
    full = torch.stack(full)
    se = torch.sqrt((full * (1 - full) + short * (1 - short)) / K).clamp_min(1e-3)
    assert ((short - full).abs() <= 5 * se).all(), (short, full)


def test_pac_bayes_pieces(small_run):
    _, (X_S, y_S), net, w0 = small_run
    pb = gb.pac_bayes(net, w0, X_S, y_S, 0.05, 4, 3, torch.Generator().manual_seed(0))
    dist2 = float((net.flat().double() - w0.flat().double()).pow(2).sum())
    np.testing.assert_allclose(pb.kl, dist2 / (2 * gb.sigma_grid(4) ** 2), rtol=1e-6)
    assert pb.hoeffding == pytest.approx(math.sqrt(math.log(4 * 4 / 0.05) / (2 * 3 * len(y_S))))
    assert (pb.per_sigma >= np.minimum(1, pb.gibbs + pb.hoeffding) - 1e-12).all()  # kl⁻¹(q, c) ≥ q
    assert pb.bound == pb.per_sigma.min() and pb.bound <= 1


# --- the run --------------------------------------------------------------------------------------


def test_quick_run_reports_the_public_metrics():
    *frames, last = gb.run(gb.Params.preset("quick", device="cpu", steps=100))
    assert frames and frames[0].metrics is None and math.isnan(frames[0].pac_bayes)
    m = last.metrics
    for name in ("loss_d1", "loss_d2", "loss_d3", "impossibility_gap", "pac_bayes_bound", "train_error"):
        assert isinstance(m[name], float) and math.isfinite(m[name])
    assert m["impossibility_gap"] == pytest.approx((m["loss_d2"] - m["loss_d1"]) / 2)
    assert m["impossibility_gap"] == pytest.approx(0.5 * (1 - m["hit_fraction"]) * (1 - m["off_s_error"]), abs=1e-6)
    assert last.history_steps[-1] == 100 and last.step == last.total_steps
    assert gb.Params.LARGE and set(gb.Params.LARGE) <= set(gb.Params.names())


def test_evaluation_knobs_reuse_the_trained_model():
    gb.MODELS.clear()
    first = list(gb.run(small_params(seed=3)))[-1]
    again = list(gb.run(small_params(seed=3, delta=0.1)))
    assert len(again) == 3  # the initial frame, the memoized training and the final one
    assert again[-1].metrics["loss_d1"] == first.metrics["loss_d1"]
    assert again[-1].metrics["pac_bayes_bound"] < first.metrics["pac_bayes_bound"]  # a larger δ loosens less

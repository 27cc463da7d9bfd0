"""Unit tests for the neural-collapse lab's computation (paperscope.labs.neural_collapse).

Oracles: NC1/NC2/NC3 by brute force in numpy (loops over samples, numpy's pinv); the
alternating scheme's fixed point against the objective's gradient (autograd) and against a
direct float64 minimization (scipy L-BFGS); the statistics-only iteration against the plain
one that forms H; GD's update against autograd; the batched sweep against one lane at a time.
The claims are declared in ``paperscope.claims.neural_collapse`` (tests/test_claims.py).
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from paperscope.labs import neural_collapse as nc

F64 = torch.float64
CPU = torch.device("cpu")


def toy(K=4, n=20, d=8, sigma=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X, labels = nc.toy_features(K, n, d, sigma, gen, CPU)
    return X, labels, nc.one_hot(labels, K)


def nc1_brute(H: np.ndarray, labels: np.ndarray, K: int) -> float:
    """NC1 from its definition, one sample at a time."""
    d, N = H.shape
    mu_G = H.mean(1)
    means = [H[:, labels == k].mean(1) for k in range(K)]
    Sigma_W = np.zeros((d, d))
    for i in range(N):
        v = H[:, i] - means[labels[i]]
        Sigma_W += np.outer(v, v) / N
    Sigma_B = sum(np.outer(m - mu_G, m - mu_G) for m in means) / K
    return float(np.trace(Sigma_W @ np.linalg.pinv(Sigma_B, rcond=1e-10)) / K)


def test_nc1_matches_its_definition_and_is_batched():
    X, labels, Y = toy()
    expected = nc1_brute(X.numpy(), labels.numpy(), 4)
    assert nc.nc1(X, Y).item() == pytest.approx(expected, rel=1e-10)
    stacked = torch.stack([X, 2 * X, X + 1.0])  # NC1 is invariant to scaling and shifting
    np.testing.assert_allclose(nc.nc1(stacked, Y).numpy(), expected, rtol=1e-9)


def test_nc1_with_unbalanced_classes():
    gen = torch.Generator().manual_seed(3)
    labels = torch.tensor([0] * 5 + [1] * 9 + [2] * 3)
    H = torch.randn(6, len(labels), generator=gen, dtype=F64)
    assert nc.nc1(H, nc.one_hot(labels, 3)).item() == pytest.approx(nc1_brute(H.numpy(), labels.numpy(), 3), rel=1e-10)


def test_collapsed_features_on_a_simplex_have_zero_nc1_and_nc2():
    K, n = 4, 5
    labels = torch.arange(K).repeat_interleave(n)
    Y = nc.one_hot(labels, K)
    etf = torch.eye(K, dtype=F64) - 1.0 / K  # columns: a simplex ETF in R^K
    H = etf[:, labels]
    assert nc.nc1(H, Y).item() == pytest.approx(0.0, abs=1e-20)
    assert nc.nc2(H, Y).item() == pytest.approx(0.0, abs=1e-12)
    assert nc.nc3(etf.T, H, Y).item() == pytest.approx(0.0, abs=1e-12)  # W aligned with the means
    assert nc.nc2(torch.eye(K, dtype=F64)[:, labels] * torch.arange(1, K + 1)[:, None], Y).item() > 0.1


def test_nc2_matches_its_definition():
    X, labels, Y = toy(K=3, d=5)
    H = X.numpy()
    M = np.stack([H[:, labels.numpy() == k].mean(1) for k in range(3)]) - H.mean(1)  # (K, d)
    G = M @ M.T
    etf = (np.eye(3) - 1 / 3) / math.sqrt(2)
    assert nc.nc2(X, Y).item() == pytest.approx(np.linalg.norm(G / np.linalg.norm(G) - etf), rel=1e-10)


def gradients(W, H, X, Y, lam, beta):
    W = W.clone().requires_grad_()
    H = H.clone().requires_grad_()
    nc.objective(W, H, X, Y, lam, beta).backward()
    return W.grad, H.grad


@pytest.mark.parametrize("beta, lam", [(0.1, 1e-2), (1.0, 1e-3), (10.0, 1e-1)])
def test_alternating_scheme_reaches_a_stationary_point_of_the_objective(beta, lam):
    X, labels, Y = toy()
    scheme = nc.solve_model(X, Y, beta, lam, tol=1e-13, max_iter=100000)
    assert scheme.done
    gW, gH = gradients(scheme.W, scheme.H, X, Y, lam, beta)
    assert gW.abs().max() < 1e-9 and gH.abs().max() < 1e-9


def test_alternating_minimum_matches_direct_minimization():
    """The fixed point has the objective value of a float64 L-BFGS minimization (from H = X)."""
    X, labels, Y = toy(K=3, n=10, d=5)
    beta, lam = 0.3, 1e-2
    scheme = nc.solve_model(X, Y, beta, lam, tol=1e-13, max_iter=100000)
    K, d = 3, 5
    shapes = [(K, d), tuple(X.shape)]

    def f(z):
        t = torch.tensor(z, requires_grad=True)
        W, H = t[:K * d].reshape(shapes[0]), t[K * d:].reshape(shapes[1])
        value = nc.objective(W, H, X, Y, lam, beta)
        value.backward()
        return value.item(), t.grad.numpy()

    z0 = np.concatenate([np.zeros(K * d), X.numpy().ravel()])
    best = minimize(f, z0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 20000})
    ours = nc.objective(scheme.W, scheme.H, X, Y, lam, beta).item()
    assert ours <= best.fun + 1e-10


def test_statistics_iteration_equals_the_plain_alternation():
    """The O(d³) iteration through XXᵀ, XYᵀ, YYᵀ gives the W of the plain H-step / W-step."""
    X, labels, Y = toy()
    beta, lam = torch.tensor(0.05, dtype=F64), torch.tensor(1e-3, dtype=F64)
    scheme = nc.Alternating(X, Y, beta, lam, tol=0.0)
    scheme.steps(25)
    W = nc.w_step(X, Y, lam)
    for _ in range(25):
        W = nc.w_step(nc.h_step(W, X, Y, beta), Y, lam)
    torch.testing.assert_close(scheme.W, W, rtol=1e-9, atol=1e-12)


def test_batched_sweep_lanes_equal_single_solves():
    X, labels, Y = toy()
    betas = torch.tensor([0.01, 0.1, 1.0], dtype=F64)[None, :]
    lams = torch.tensor([1e-3, 1e-1], dtype=F64)[:, None]
    batch = nc.solve_model(X, Y, betas, lams, tol=1e-10, max_iter=5000)
    for i in range(2):
        for j in range(3):
            one = nc.solve_model(X, Y, betas[0, j].item(), lams[i, 0].item(), tol=1e-10, max_iter=5000)
            assert batch.converged_at[i, j].item() == one.converged_at.item()
            torch.testing.assert_close(batch.W[i, j], one.W, rtol=1e-12, atol=1e-12)


def test_large_beta_pins_h_to_x_and_ratio_to_one():
    X, labels, Y = toy()
    scheme = nc.solve_model(X, Y, 1e6, 1e-2)
    assert (scheme.H - X).abs().max() < 1e-4
    assert nc.nc1(scheme.H, Y).item() / nc.nc1(X, Y).item() == pytest.approx(1.0, abs=1e-4)


def test_gd_step_is_the_gradient_with_the_n_scaled_h_step():
    X, labels, Y = toy()
    N = Y.shape[1]
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(4, 8, generator=gen, dtype=F64)
    H = X + 0.1 * torch.randn(X.shape, generator=gen, dtype=F64)
    gW, gH = gradients(W, H, X, Y, 1e-2, 0.1)
    W1, H1, Ws, Hs = nc.gd_steps(W, H, X, Y, 1e-2, 0.1, 0.05, 1)
    torch.testing.assert_close(W1, W - 0.05 * gW)
    torch.testing.assert_close(H1, H - 0.05 * N * gH)
    assert Ws.shape == (1, 4, 8) and Hs.shape == (1, 8, N)


def test_pca_axes_are_the_leading_principal_directions():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    axes = nc.pca_axes(Z)
    np.testing.assert_allclose(np.abs(axes), np.eye(5)[:, :2], atol=0.05)


def last_frame(**overrides):
    return list(nc.run(nc.Params.preset("quick", device="cpu", **overrides)))[-1]


@pytest.mark.parametrize("mode", ["closed_form", "gd"])
def test_model_runs_report_the_public_metrics(mode):
    frame = last_frame(mode=mode)
    m = frame.metrics
    assert 0 < m["nc1_ratio"] < 1 and m["train_accuracy"] == 1.0
    assert m["nc1_ratio"] == pytest.approx(m["nc1_h"] / m["nc1_x"])
    assert frame.sweep.shape == (len(nc.SWEEP_LAMBDAS), len(nc.SWEEP_BETAS)) and np.isfinite(frame.sweep).all()
    assert len(frame.iters) == len(frame.ratio) == len(frame.accuracy) == frame.nc1_layers.shape[0]
    assert frame.pca_x.shape == frame.pca_h.shape == (200, 2)
    if mode == "closed_form":
        assert m["converged"] and m["iterations"] == frame.iters[-1]
        # the run's own lane equals the sweep's (β = 0.1, λ_W = 1e-2) entry
        i, j = nc.SWEEP_LAMBDAS.index(1e-2), nc.SWEEP_BETAS.index(0.1)
        assert frame.sweep_converged[i, j] and m["nc1_ratio"] == pytest.approx(frame.sweep[i, j], rel=1e-6)
    else:
        assert m["iterations"] == 1500 and m["first_full_accuracy_iteration"] is not None


def test_closed_form_reports_non_convergence():
    frame = last_frame(mode="closed_form", beta=1e-3, lambda_w=1e-4, max_iter=20)
    assert not frame.metrics["converged"] and "max_iter" in frame.notice


def test_digits_mode_reports_nc1_by_layer():
    frame = last_frame(mode="digits", epochs=30, depth=3, width=32)
    m = frame.metrics
    assert len(m["nc1_by_layer"]) == 3 and m["epochs"] == 30
    assert m["nc1_ratio"] == pytest.approx(m["nc1_by_layer"][-1] / m["nc1_by_layer"][0])
    assert 0.2 < m["train_accuracy"] <= 1.0  # above chance (0.1) after 30 epochs
    assert "not converged" in frame.notice
    assert frame.pca_x.shape == (1797, 2) and frame.nc1_layers.shape[1] == 3


def test_runs_are_reproducible_from_the_seed():
    a, b = last_frame(mode="gd", iterations=50), last_frame(mode="gd", iterations=50)
    np.testing.assert_array_equal(a.ratio, b.ratio)
    c = last_frame(mode="gd", iterations=50, seed=1)
    assert not np.array_equal(a.ratio, c.ratio)

"""Unit tests for the NSdim lab's computation (paperscope.labs.nsdim).

Numerical pieces are checked against independent oracles (a brute-force feature loop, a matrix
with known singular values, scipy's svdvals, numpy's lstsq, fresh feature matrices for each
width). The spec's claims C1-C3 and its ELM example are declared in ``paperscope.claims.nsdim``.
"""

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from paperscope.core.errors import DivergenceError, ParamError
from paperscope.core.params import coerce
from paperscope.labs import nsdim as ns

F64 = torch.float64


def final_frame(**overrides):
    *_, last = ns.run(ns.Params(**overrides))
    return last


def feature_matrix(bounds, N, M=600, d=1, seed=0, activation="tanh", bias_range="weight", dtype=F64):
    """``H (B, M, N)`` exactly as the run builds it."""
    X = ns.sample_points(M, d, seed, "cpu", dtype)
    u_w, u_b = ns.unit_draws(N, d, seed, "cpu", dtype)
    return ns.features(X, u_w, u_b, bounds, activation, bias_range)


def nsdim_of(H, epsilons):
    """NSdim from scipy's singular values (float64), one matrix at a time: the oracle.
    ``H (..., M, N)`` -> ``(..., E)``."""
    H = np.asarray(H, dtype=float)
    eps = np.asarray(epsilons, dtype=float)
    out = []
    for A in H.reshape(-1, *H.shape[-2:]):
        s = scipy.linalg.svdvals(A)
        out.append((s[None, :] > eps[:, None] * s[0]).sum(1))
    return np.array(out).reshape(*H.shape[:-2], len(eps))


# --- small pieces ---------------------------------------------------------------------------


def test_sweep_widths():
    w = ns.sweep_widths(500)
    assert w == sorted(set(w)) and w[-1] == 500 and w[0] == ns.MIN_WIDTH
    assert {250, 125, 62, 16} <= set(w)  # N/2, N/4, N/8, N/32: the shown spectra
    ratios = np.array(w[1:]) / np.array(w[:-1])
    assert ratios.max() < 1.6  # ~√2 steps: ~7 points a decade
    assert ns.sweep_widths(4) == [4] and ns.sweep_widths(10) == [4, 5, 7, 10]


@pytest.mark.parametrize("activation", ns.ACTIVATIONS)
@pytest.mark.parametrize("bias_range", ["weight", "unit"])
def test_features_match_a_brute_force_loop(activation, bias_range):
    bounds, N, M, d = [0.5, 3.0], 7, 5, 2
    X = ns.sample_points(M, d, 3, "cpu")
    u_w, u_b = ns.unit_draws(N, d, 3, "cpu")
    H = ns.features(X, u_w, u_b, bounds, activation, bias_range).numpy()
    sigma = {"tanh": math.tanh, "sigmoid": lambda t: 1 / (1 + math.exp(-t)), "sin": math.sin,
             "relu": lambda t: max(t, 0.0)}[activation]
    Xn, Wn, bn = X.numpy(), u_w.numpy(), u_b.numpy()
    for b, lam in enumerate(bounds):
        beta = lam if bias_range == "weight" else 1.0
        for i in range(M):
            for j in range(N):
                z = sum(lam * Wn[j, k] * Xn[i, k] for k in range(d)) + beta * bn[j]
                assert H[b, i, j] == pytest.approx(sigma(z), abs=1e-14)
    assert np.abs(Wn).max() <= 1 and np.abs(bn).max() <= 1  # unit draws, scaled by λ


def test_points_and_neurons():
    X = ns.sample_points(11, 1, 0, "cpu")
    assert torch.allclose(X[:, 0], torch.linspace(-1, 1, 11, dtype=F64))  # an even grid in 1-D
    X3 = ns.sample_points(200, 3, 0, "cpu")
    assert X3.abs().max() <= 1 and torch.all(X3[1:, 0] >= X3[:-1, 0])  # the cube, ordered by x1
    u_w, u_b = ns.unit_draws(50, 2, 0, "cpu")
    v_w, v_b = ns.unit_draws(20, 2, 0, "cpu")  # a narrower net = the first neurons of a wider one
    assert torch.equal(u_w[:20], v_w) and torch.equal(u_b[:20], v_b)
    w32, _ = ns.unit_draws(50, 2, 0, "cpu", torch.float32)
    assert torch.equal(w32, u_w.float())  # float32 runs see the same neurons


def test_nsdim_counts_on_a_known_spectrum():
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(40, 30, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=F64))
    s_true = 3.0 * 10.0 ** -(torch.arange(30, dtype=F64) / 2)  # 3, 3e-0.5, ..., 3e-14.5
    A = U @ torch.diag(s_true) @ V.T
    s = torch.linalg.svdvals(A)
    eps = [10.0 ** -1.25, 10.0 ** -4.25, 10.0 ** -8.25, 10.0 ** -12.25]  # between two values
    # s_i / s_1 = 10^(-i/2) > ε  <=>  i < 2 log10(1/ε): 3, 9, 17 and 25 values
    assert ns.nsdim_counts(s, eps).tolist() == [3, 9, 17, 25]
    exact = torch.tensor([1.0, 0.5, 0.25], dtype=F64)
    assert ns.nsdim_counts(exact, [0.5]).item() == 1  # equal to ε s_1 is not counted (as rcond)
    batched = ns.nsdim_counts(torch.stack([s, s / 7]), eps[2:3])  # scale-free, batched
    assert batched.tolist() == [[17], [17]]


def test_batched_svd_matches_scipy_per_bound():
    H = feature_matrix([1.0, 4.0, 16.0], N=300, M=400)
    y = torch.sin(5 * math.pi * torch.linspace(-1, 1, 400, dtype=F64))[:, None]
    s, counts, at_eps, _, _ = ns.decompose(H, y, ns.EPSILONS, 1e-12)
    for b in range(3):
        ref = scipy.linalg.svdvals(H[b].numpy())
        assert np.allclose(s[b].numpy(), ref, rtol=0, atol=1e-13 * ref[0])
    oracle = nsdim_of(H, ns.EPSILONS)  # (B, E)
    # Counts can only differ where a singular value sits within round-off of a threshold.
    assert np.abs(counts.numpy() - oracle).max() <= 1 and (counts.numpy() == oracle).mean() > 0.95
    assert at_eps.tolist() == counts[:, ns.EPSILONS.index(1e-12)].tolist()
    assert np.all(np.diff(counts.numpy(), axis=1) >= 0)  # more directions as ε shrinks


@pytest.mark.parametrize("eps", [1e-4, 1e-8])
def test_truncated_fit_matches_lstsq_with_rcond(eps):
    H = feature_matrix([4.0], N=120, M=300)[0]
    x = torch.linspace(-1, 1, 300, dtype=F64)
    Y = torch.stack([torch.sin(k * math.pi * x) for k in (1, 6, 20)], dim=1)  # (M, 3)
    U, s, _ = torch.linalg.svd(H, full_matrices=False)
    fit, err = ns.truncated_fit(U, s, Y, eps)
    coef, *_ = np.linalg.lstsq(H.numpy(), Y.numpy(), rcond=eps)
    ref = H.numpy() @ coef
    assert np.allclose(fit.numpy(), ref, atol=1e-6)
    ref_err = np.linalg.norm(Y.numpy() - ref, axis=0) / np.linalg.norm(Y.numpy(), axis=0)
    assert np.allclose(err.numpy(), ref_err, rtol=1e-3, atol=1e-9)
    # The fit is a projection: idempotent, and never worse than predicting zero.
    fit2, _ = ns.truncated_fit(U, s, fit, eps)
    assert torch.allclose(fit2, fit, atol=1e-10) and torch.all(err <= 1 + 1e-12)


def test_the_runs_widths_are_nested_first_columns():
    """Each frame's NSdim equals a fresh matrix built from the first n neurons (scipy oracle)."""
    frame = final_frame(width=160, samples=300, weight_bound=2.0, seed=4)
    for k, n in enumerate(frame.widths):
        H = feature_matrix(frame.bounds, N=int(n), M=300, seed=4)
        assert np.array_equal(frame.nsdim[k], nsdim_of(H, [1e-12])[:, 0]), n


def test_heuristic_matches_the_spec_numbers():
    h = ns.heuristic([1, 4, 16], 1e-12)
    assert h == pytest.approx([17.6, 70.4, 281.4], abs=0.1)  # the spec quotes 17.6, 70 and 281
    assert ns.heuristic(4, 1e-12, "sigmoid") == pytest.approx(h[1] / 2)  # σ(t) = (1 + tanh(t/2))/2
    assert math.isnan(ns.heuristic(4, 1e-12, "relu")) and math.isnan(ns.heuristic(4, 1e-12, "sin"))


def test_frame_schema():
    params = ns.Params.preset("quick")
    frames = list(ns.run(params))
    K = len(ns.sweep_widths(params.width))
    assert [f.step for f in frames] == list(range(1, K + 1)) and frames[-1].total_steps == K
    assert all(f.metrics is None for f in frames[:-1])
    last = frames[-1]
    B, E, M = 3, len(ns.EPSILONS), params.samples
    assert last.bounds.tolist() == [1.0, 4.0, 16.0]
    assert last.nsdim.shape == last.elm_error.shape == (K, B) and not np.isnan(last.nsdim).any()
    assert np.isnan(frames[0].nsdim[1:]).all()  # later widths not computed yet
    assert last.nsdim_eps.shape == last.heuristic_eps.shape == (B, E)
    assert last.spectra.shape == (4, min(M, params.width)) and np.allclose(last.spectra[:, 0], 1)
    assert last.shown_widths.tolist() == [6, 25, 100, 200]
    assert last.x.shape == last.target.shape == (M,) and last.fit.shape == (B, M)
    assert last.freq_error.shape == (B, len(last.freqs)) and params.target_freq in last.freqs
    m = last.metrics
    json.dumps(m)
    assert m["nsdim"] == last.nsdim[-1, 1] and m["nsdim_quarter_bound"] == last.nsdim[-1, 0]
    assert m["plateau_gain"] == m["nsdim"] - m["nsdim_half_width"]
    assert m["elm_rel_error"] == pytest.approx(last.elm_error[-1, 1])
    k = list(last.freqs).index(params.target_freq)
    assert last.freq_error[1, k] == pytest.approx(m["elm_rel_error"])
    assert last.notice == ""


def test_same_seed_same_metrics_other_seed_differs():
    a, b = final_frame(width=100, samples=200), final_frame(width=100, samples=200)
    c = final_frame(width=100, samples=200, seed=1)
    assert a.metrics == b.metrics and a.metrics["elm_rel_error"] != c.metrics["elm_rel_error"]


def test_notices_and_bad_values():
    f32 = final_frame(width=100, samples=200, precision="float32", epsilon=1e-12)
    assert "round-off" in f32.notice and f32.metrics["nsdim"] > 90  # noise counted: ~ all of N
    ok32 = final_frame(width=100, samples=200, precision="float32", epsilon=1e-6)
    assert ok32.notice == "" and 15 <= ok32.metrics["nsdim"] <= 30  # the spec: 23 at λ = 4
    capped = final_frame(width=200, samples=60, weight_bound=16.0)
    assert "raise samples" in capped.notice
    with pytest.raises(ValueError, match="epsilon"):  # decades only: the grid of panel (c)
        ns.Params(epsilon=3e-7)
    assert coerce(ns.Params, "epsilon", "1e-12") == 1e-12
    with pytest.raises(ParamError):
        coerce(ns.Params, "epsilon", "2")


def test_nan_features_raise_a_divergence_error(monkeypatch):
    monkeypatch.setattr(ns, "activate", lambda z, activation: z * math.nan)
    with pytest.raises(DivergenceError, match="feature matrix"):
        final_frame(width=20, samples=40)

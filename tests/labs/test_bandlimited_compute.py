"""Unit tests for the bandlimited-random-net lab (paperscope.labs.bandlimited).

The batched ridge solve is checked against an independent SVD filter and lstsq, the features
against a brute-force loop, the grid against per-seed and per-cell solves; the paper's claims
(the spec's C1-C3) are declared in ``paperscope.claims.bandlimited`` (checked by tests/test_claims.py).
"""

import math

import numpy as np
import pytest
import torch

from paperscope.core.errors import DivergenceError
from paperscope.labs import bandlimited as bl

F64 = torch.float64
SEEDS = (0, 1, 2)


def frames_of(**overrides):
    return list(bl.run(bl.Params.preset("quick", **{"device": "cpu", **overrides})))


def svd_tikhonov(H, Y, ridge):
    """Independent oracle: c = V diag(s / (s² + α)) Uᵀ y with α = ρ² ‖H‖_F²."""
    U, s, Vh = torch.linalg.svd(H, full_matrices=False)
    alpha = ridge**2 * (H**2).sum((-1, -2), keepdim=True)[..., 0]  # (B, 1)
    return Vh.mT @ ((s / (s**2 + alpha))[..., None] * (U.mT @ Y))


# --- the readout solve ----------------------------------------------------------------------


@pytest.mark.parametrize("n, N", [(80, 30), (30, 80)])  # primal (N <= n) and dual (N > n)
@pytest.mark.parametrize("ridge", [1e-2, 1e-6])
def test_ridge_solve_matches_the_svd_filter(n, N, ridge):
    g = torch.Generator().manual_seed(1)
    H = torch.randn(3, n, N, generator=g, dtype=F64)
    Y = torch.randn(3, n, 4, generator=g, dtype=F64)
    C = bl.ridge_solve(H, Y, ridge)
    ref = svd_tikhonov(H, Y, ridge)
    assert C.shape == (3, N, 4)
    assert torch.allclose(C, ref, rtol=1e-9, atol=1e-9 * float(ref.abs().max()))


def test_ridge_solve_keeps_float64_accuracy_on_ill_conditioned_features():
    """tanh features at a large λ (condition number ~1e12): the QR solve agrees with the SVD
    filter at ρ = 1e-10, where the normal equations would lose every digit below 1e-8."""
    x = torch.linspace(-1, 1, 300, dtype=F64)[None]
    u = bl.unit_draw([0], 120, "uniform", "cpu")
    H = bl.features(x, u, torch.tensor([10.0], dtype=F64), torch.tanh)[0]  # (1, 300, 120)
    assert float(torch.linalg.cond(H)) > 1e12
    Y = bl.target(x, [3.0])  # (1, 300, 1)
    C, ref = bl.ridge_solve(H, Y, 1e-10), svd_tikhonov(H, Y, 1e-10)
    fit, fit_ref = H @ C, H @ ref
    assert float((fit - fit_ref).norm() / Y.norm()) < 1e-8
    assert float((fit - Y).norm() / Y.norm()) < 1e-7  # and it fits
    # The normal equations at the same ridge lose most of those digits.
    G = H.mT @ H
    alpha = 1e-20 * float((H**2).sum())
    C_ne = torch.linalg.solve(G + alpha * torch.eye(120, dtype=F64), H.mT @ Y)
    assert float((H @ C_ne - fit_ref).norm() / Y.norm()) > 10 * float((fit - fit_ref).norm() / Y.norm())


def test_ridge_solve_with_a_vanishing_ridge_is_least_squares():
    g = torch.Generator().manual_seed(2)
    H = torch.randn(2, 50, 10, generator=g, dtype=F64)
    c_true = torch.randn(2, 10, 3, generator=g, dtype=F64)
    Y = H @ c_true + 1e-3 * torch.randn(2, 50, 3, generator=g, dtype=F64)
    C = bl.ridge_solve(H, Y, 1e-14)
    assert torch.allclose(C, torch.linalg.lstsq(H, Y).solution, rtol=1e-8, atol=1e-10)


# --- features, draws, targets, errors -------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "gaussian"])
def test_features_match_a_brute_force_loop(activation):
    sigma = bl.activation_fn(activation)
    ref_sigma = {"tanh": math.tanh, "sigmoid": lambda t: 1 / (1 + math.exp(-t)),
                 "relu": lambda t: max(t, 0.0), "gaussian": lambda t: math.exp(-t * t)}[activation]
    x = bl.train_points([0, 1], 7, "cpu")
    u = bl.unit_draw([0, 1], 5, "gaussian", "cpu")
    bounds = torch.tensor([0.5, 3.0], dtype=F64)
    H = bl.features(x, u, bounds, sigma)  # (S, B, n, N)
    for s in range(2):
        for b, lam in enumerate(bounds.tolist()):
            for i in range(7):
                for j in range(5):
                    a, bias = lam * float(u[s, 0, j]), lam * float(u[s, 1, j])
                    assert float(H[s, b, i, j]) == pytest.approx(ref_sigma(a * float(x[s, i]) - bias),
                                                                 rel=1e-12, abs=1e-14)


def test_draws_are_seeded_nested_and_follow_their_law():
    a = bl.unit_draw([3], 50, "uniform", "cpu")
    b = bl.unit_draw([3], 400, "uniform", "cpu")
    assert torch.equal(a, b[..., :50])  # a wider net keeps the narrower one's units
    assert torch.equal(b, bl.unit_draw([3], 400, "uniform", "cpu"))
    assert not torch.equal(b, bl.unit_draw([4], 400, "uniform", "cpu"))
    assert float(b.abs().max()) <= 1.0
    big = {law: bl.unit_draw([0], 20000, law, "cpu").flatten().numpy() for law in ("gaussian", "cauchy")}
    assert np.std(big["gaussian"]) == pytest.approx(1.0, abs=0.02)
    # standard Cauchy: quartiles at -1 and +1
    assert np.quantile(big["cauchy"], [0.25, 0.75]) == pytest.approx([-1.0, 1.0], abs=0.04)


def test_target_and_relative_error_closed_forms():
    x = bl.test_points("cpu")
    assert x.shape == (bl.N_TEST,) and float(x[0]) == -1.0 and float(x[-1]) == 1.0
    Y = bl.target(x, [1.0, 8.0])
    assert float(Y[250, 0]) == pytest.approx(math.sin(math.pi * float(x[250])))
    # ‖sin(kπx)‖² on a fine grid of [-1, 1] is ~T/2: sin has mean square 1/2 over whole periods
    assert float((Y[:, 1] ** 2).mean()) == pytest.approx(0.5, abs=1e-3)
    assert torch.allclose(bl.relative_error(torch.zeros_like(Y), Y), torch.ones(2, dtype=F64))
    assert torch.allclose(bl.relative_error(1.03 * Y, Y), torch.full((2,), 0.03, dtype=F64))


def test_band_edge_closed_form():
    L = math.log(1e10)
    tanh = lambda lam: L / (math.pi * math.asinh(math.pi / (2 * lam)))  # Bernstein ellipse of tanh's pole
    assert bl.band_edge([0.25, 1.0, 4.0], "tanh", 1e-10) == pytest.approx([tanh(0.25), tanh(1.0), tanh(4.0)])
    assert bl.band_edge([4.0], "tanh", 1e-10)[0] == pytest.approx(19.12, abs=0.01)
    # at large λ, asinh(π/2λ) ≈ π/2λ: the linear edge k = (2/π²) ln(1/ρ) λ
    assert bl.band_edge([256.0], "tanh", 1e-10)[0] == pytest.approx(2 * L * 256 / math.pi**2, rel=1e-5)
    # sigmoid(t) = (1 + tanh(t/2)) / 2: the edge of tanh at λ/2
    assert bl.band_edge([4.0], "sigmoid", 1e-10)[0] == pytest.approx(bl.band_edge([2.0], "tanh", 1e-10)[0])
    # Gaussian: the degree where min_t λ² sinh² t − m t reaches −L (brute force over t), tending
    # to the Fourier edge (2/π) sqrt(L) λ at large λ
    t = np.linspace(1e-6, 12, 400001)
    for lam in (0.25, 2.0):
        k = bl.band_edge([lam], "gaussian", 1e-10)[0]
        assert np.min(lam**2 * np.sinh(t) ** 2 - math.pi * k * t) == pytest.approx(-L, rel=1e-6)
    assert bl.band_edge([256.0], "gaussian", 1e-10)[0] == pytest.approx(2 * math.sqrt(L) * 256 / math.pi, rel=1e-3)
    assert np.isnan(bl.band_edge([1.0, 2.0], "relu", 1e-10)).all()
    # a lower ridge moves the edge out
    assert bl.band_edge([1.0], "tanh", 1e-14)[0] > bl.band_edge([1.0], "tanh", 1e-6)[0]


@pytest.mark.parametrize("k", [1.0, 2.83, 8.0, 22.6])
def test_legendre_energy_matches_a_quadrature_projection(k):
    """The closed form (spherical Bessel functions) against sin(kπx) projected on P_n by
    Gauss-Legendre quadrature: ‖P_n‖² = 2/(2n+1), coefficient (2n+1)/2 ∫ f P_n."""
    x, w = np.polynomial.legendre.leggauss(400)
    f = np.sin(math.pi * k * x)
    n = np.arange(0, 3 * int(math.pi * k) + 20)
    P = np.polynomial.legendre.legvander(x, n[-1])  # (400, n)
    coef = (2 * n + 1) / 2 * (P * (w * f)[:, None]).sum(0)
    share = coef**2 * 2 / (2 * n + 1) / (w * f * f).sum()
    got = bl.legendre_energy(k, n)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(got, share, atol=1e-13)


def test_out_of_band_is_the_residual_of_the_best_polynomial():
    """q = ‖f − P_M f‖ / ‖f‖: the least-squares polynomial of degree M on a fine grid leaves the
    same residual; q is 1 with no band, falls as λ or 1/ρ grows, and is NaN for ReLU."""
    k, lam = 4.0, 0.6
    M = int(math.pi * bl.band_edge([lam], "tanh", 1e-10)[0])
    x, w = np.polynomial.legendre.leggauss(300)
    f = np.sin(math.pi * k * x)
    V = np.polynomial.legendre.legvander(x, M) * np.sqrt(w)[:, None]
    resid = f * np.sqrt(w) - V @ np.linalg.lstsq(V, f * np.sqrt(w), rcond=None)[0]
    q = bl.out_of_band([k], [lam], "tanh", 1e-10)[0, 0]
    assert 1e-6 < q < 0.9 and q == pytest.approx(np.linalg.norm(resid) / np.linalg.norm(f * np.sqrt(w)), rel=1e-6)
    lams = bl.log_grid(0.25, 16, 9)
    along = bl.out_of_band([8.0], lams, "tanh", 1e-10)[:, 0]
    assert (np.diff(along) <= 0).all() and along[0] > 0.9 and along[-1] < 1e-12
    rhos = [1e-2, 1e-6, 1e-10, 1e-14]
    assert (np.diff([bl.out_of_band([8.0], [2.0], "tanh", r)[0, 0] for r in rhos]) <= 0).all()
    assert np.isnan(bl.out_of_band([8.0], [2.0], "relu", 1e-10)).all()


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gaussian"])
def test_the_energy_outside_the_band_stays_below_the_error(activation):
    """The lab's reading of the paper's lower bound, on a coarse grid at a smaller width: no cell
    fits better than the target's energy beyond the band allows (C4-bound checks the full grid)."""
    bounds, freqs = bl.log_grid(0.25, 64, 9), bl.log_grid(1, 32, 6)
    err = bl.error_grid(bounds, freqs, width=200, n_train=300, activation=activation)[0]
    outside = bl.out_of_band(freqs, bounds, activation, 1e-10)
    assert (outside <= err).all(), np.log10(outside / err).max()
    assert (outside > 0.5).any() and (outside < 1e-6).any()  # the grid spans both sides of the band


def test_ridge_errors_match_the_qr_fit_at_each_ridge():
    """The SVD sweep over ρ against ridge_solve's QR fit, one problem per ρ (same draw)."""
    kw = {"width": 80, "n_train": 150, "law": "uniform", "activation": "tanh"}
    ridges = [1e-12, 1e-8, 1e-4]
    sweep = bl.make_problem([0, 1], ridge=1e-10, **kw).ridge_errors(3.0, [2.0, 8.0], ridges).numpy()  # (S, R, K)
    for r, rho in enumerate(ridges):
        qr = bl.make_problem([0, 1], ridge=rho, **kw).errors([3.0], [2.0, 8.0])[:, 0].numpy()  # (S, K)
        assert np.allclose(np.log10(sweep[:, r]), np.log10(qr), atol=0.02), (rho, sweep[:, r], qr)


def test_widths_and_smoothed_argmin():
    assert bl.widths_for(400).tolist() == [25, 50, 100, 200, 400]
    assert bl.widths_for(150).tolist() == [25, 50, 100, 150]
    assert bl.widths_for(25).tolist() == [25]
    bounds = 2.0 ** np.arange(7)
    # column 0: a broad valley at row 2 and a deeper one-row noise dip at row 5 (which the raw
    # argmin would pick); column 1: nothing fits
    log_err = np.array([[0.0, -5.0, -6.0, -5.5, -2.0, -6.5, 0.0], [0.0, 0.0, -0.1, 0.0, 0.0, 0.0, 0.0]]).T
    best = bl.smoothed_argmin(log_err, bounds, feasible=0.5)
    assert best[0] == 4.0 and np.isnan(best[1])


# --- the grid, batching and the run ---------------------------------------------------------


def test_batched_grid_equals_per_seed_and_per_cell_solves():
    kw = {"width": 60, "n_train": 120}
    bounds, freqs = [0.5, 3.0, 20.0], [1.0, 4.0]
    batched = bl.error_grid(bounds, freqs, seeds=(0, 1), chunk=2, **kw)  # (2, 3, 2)
    for s in (0, 1):
        alone = bl.error_grid(bounds, freqs, seeds=(s,), chunk=1, **kw)[0]
        assert np.allclose(batched[s], alone, rtol=1e-6, atol=1e-12)
        for i, lam in enumerate(bounds):
            for j, k in enumerate(freqs):
                cell = bl.error_grid([lam], [k], seeds=(s,), **kw)[0, 0, 0]
                assert cell == pytest.approx(batched[s, i, j], rel=1e-6, abs=1e-12)


def test_a_run_fills_the_map_row_by_row_and_ends_with_the_metrics():
    frames = frames_of()
    last = frames[-1]
    assert last.step == last.total_steps and last.done
    assert set(last.metrics) >= {"rel_error", "best_bound", "min_rel_error", "band_edge"}
    rows = [f.rows_done for f in frames]
    assert rows == sorted(rows) and rows[0] == 0 and rows[-1] == len(last.bounds)
    for f in frames:  # rows below rows_done are filled, the others still empty
        assert np.isfinite(f.rel_error_grid[: f.rows_done]).all()
        assert np.isnan(f.rel_error_grid[f.rows_done:]).all()
    assert np.isfinite(last.width_error).all() and last.widths[-1] == last.width
    assert np.isnan(frames[0].best_bound).all() and np.isfinite(last.best_bound).any()
    assert np.isnan(frames[0].ridge_error).all() and np.isfinite(last.ridge_error).all()
    assert set(last.metrics["rel_error_by_ridge"]) == {f"{r:g}" for r in bl.Params.param.ridge.objects}
    assert last.metrics["out_of_band"] == pytest.approx(
        bl.out_of_band([last.frequency], [last.weight_bound], "tanh", last.ridge)[0, 0])


def test_the_marked_cell_agrees_with_the_grid():
    # quick grid: λ = 0.25 * 2^i (4 is row 4), k = 2^j (8 is column 3)
    last = frames_of(weight_bound=4.0, frequency=8.0)[-1]
    i, j = int(np.argmin(abs(last.bounds - 4.0))), int(np.argmin(abs(last.freqs - 8.0)))
    assert last.rel_error == pytest.approx(last.rel_error_grid[i, j], rel=1e-6)
    assert last.slice_error == pytest.approx(last.rel_error_grid[:, j], rel=1e-6)
    assert last.metrics["rel_error"] == last.rel_error
    assert last.metrics["rel_error_by_width"][str(last.width)] == pytest.approx(last.rel_error, rel=1e-6)
    # the ridge sweep (SVD) at this run's ρ agrees with the cell's QR fit
    here = list(last.ridges).index(last.ridge)
    assert np.log10(last.ridge_error[here]) == pytest.approx(np.log10(last.rel_error), abs=0.02)
    assert np.allclose(last.fit - last.target, last.fit - np.sin(np.pi * 8 * last.x_test))


def test_relu_features_are_blind_to_the_weight_bound():
    """ReLU is positively homogeneous: features scale with λ and the relative ridge absorbs it,
    so every row of the map is the same fit (an exact oracle: no band edge)."""
    # (ridge 1e-4: a well-conditioned fit, so rounding in λ z is not amplified)
    grid = bl.error_grid([0.3, 3.0, 30.0], [2.0, 16.0], width=80, n_train=200, activation="relu", ridge=1e-4)[0]
    assert np.allclose(grid, grid[0], rtol=1e-8)
    assert not np.allclose(grid[:, 0], bl.error_grid([0.3, 3.0, 30.0], [2.0], width=80, n_train=200,
                                                    ridge=1e-4)[0, :, 0], rtol=1e-2)  # tanh is not
    last = frames_of(activation="relu")[-1]
    assert last.metrics["band_edge"] is None and "homogeneous" in last.notice


def test_the_labs_band_edge_separates_the_grid():
    """The lab's edge (not the paper's): at moderate λ cells well beyond the edge fail and cells
    well inside it fit."""
    bounds, freqs = bl.log_grid(1, 8, 7), bl.log_grid(1, 64, 13)
    err = bl.error_grid(bounds, freqs, width=400)[0]
    edge = bl.band_edge(bounds, "tanh", 1e-10)[:, None]
    ratio = freqs[None, :] / edge
    assert (err[ratio >= 1.25] >= 0.5).all()
    assert (err[ratio <= 0.5] <= 1e-2).all()


def test_the_floor_moves_with_the_ridge():
    """At a cell inside the band a lower ridge gives a lower error (the floor is the ridge's),
    and at every ρ the energy outside the band stays below the achieved error."""
    ridges = bl.Params.param.ridge.objects
    err = bl.make_problem(list(SEEDS), width=400, n_train=600, law="uniform", activation="tanh",
                          ridge=1e-10).ridge_errors(4.0, [8.0], ridges)[:, :, 0].numpy()  # (S, R)
    assert (np.diff(np.log10(err), axis=1) > 0).all(), err  # ρ ascending: the error rises
    assert (err[:, 0] < 1e-4).all() and (err[:, -1] > 0.5).all()
    outside = np.array([bl.out_of_band([8.0], [4.0], "tanh", r)[0, 0] for r in ridges])
    assert (outside <= err).all()


def test_heavy_tails_reach_beyond_the_band():
    """λ = 0.5, k = 8, three times the uniform band edge (2.3): uniform weights fail, Cauchy
    weights of the same scale reach it (the distribution matters, not only its scale)."""
    uniform = bl.error_grid([0.5], [8.0], seeds=SEEDS, law="uniform")[:, 0, 0]
    cauchy = bl.error_grid([0.5], [8.0], seeds=SEEDS, law="cauchy")[:, 0, 0]
    assert (uniform > 0.5).all() and (cauchy < 1e-1).all(), (uniform, cauchy)
    assert "not bandlimited" in frames_of(weight_law="cauchy")[-1].notice


def test_a_non_finite_fit_stops_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(bl, "ridge_solve", lambda H, Y, ridge: torch.full(
        (H.shape[0], H.shape[-1], Y.shape[-1]), float("nan"), dtype=H.dtype))
    with pytest.raises(DivergenceError, match="raise ridge"):
        frames_of()

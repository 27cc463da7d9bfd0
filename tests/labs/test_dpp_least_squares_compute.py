"""Unit tests for the DPP least-squares lab's computation
(paperscope.labs.dpp_least_squares).

Samplers are checked against exact oracles: the projection DPP's one-point intensity k_m/m and
the exact variance of its linear statistics, the count of exactly m points, E G = I, and the law
of volume-rescaled sampling (its defining density det G · Π ρ_m, by importance weighting; and,
on a discrete ground set, by enumerating every tuple). Every statistical test uses a fixed seed
and a margin of several standard errors, so it is deterministic and would pass for almost any
seed. The (m + 1) identity and the (m + 1) bound of volume sampling at n ≥ m are checked exactly
by enumeration, the identity's conditional (Rao–Blackwell) estimate against quadrature; their
claim forms are declared in ``paperscope.claims.dpp_least_squares``.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from paperscope.labs import dpp_least_squares as dl

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bin_probabilities(edges: np.ndarray, density, nodes: int = 40) -> np.ndarray:
    """∫ density dx over each bin by Gauss–Legendre (exact for polynomials of degree < 80)."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        x = (b - a) / 2 * t + (a + b) / 2
        out.append((b - a) / 2 * (w * density(x)).sum())
    return np.array(out)


def rho_dx(m: int):
    """ρ_m as a density w.r.t. dx: k_m / (2m)."""
    return lambda x: dl.christoffel(torch.tensor(x, dtype=F64), m).numpy() / (2 * m)


def interval_moments(a: float, m: int) -> np.ndarray:
    """M_A = ∫_{[-1, a]} φ φᵀ dμ, exact (Gauss–Legendre with m + 1 nodes on [-1, a])."""
    t, w = np.polynomial.legendre.leggauss(m + 1)
    x = (a + 1) / 2 * t + (a - 1) / 2
    Phi = dl.legendre_features(torch.tensor(x, dtype=F64), m).numpy()
    return Phi.T @ (((a + 1) / 2 * w / 2)[:, None] * Phi)


# --- basis, bound, targets, solver ----------------------------------------------------------


def test_features_are_the_orthonormal_legendre_basis():
    m = 40
    xq, wq = dl.quadrature()
    Phi = dl.legendre_features(xq, m)
    assert torch.allclose(Phi.T @ (wq[:, None] * Phi), torch.eye(m, dtype=F64), atol=1e-12)
    x = np.linspace(-1, 1, 11)
    ref = np.stack([math.sqrt(2 * j + 1) * np.polynomial.legendre.legval(x, np.eye(12)[j])
                    for j in range(12)], -1)
    assert np.allclose(dl.legendre_features(torch.tensor(x), 12).numpy(), ref, atol=1e-13)
    assert dl.christoffel(torch.tensor([1.0, -1.0], dtype=F64), m).tolist() == pytest.approx([m * m] * 2)


def test_rejection_bound_holds_and_is_not_loose():
    """C_m ≥ sup k_m(x) π √(1 − x²)/2 (Lorch's inequality), on a dense grid near the ends too."""
    theta = torch.linspace(1e-7, math.pi - 1e-7, 200_001, dtype=F64)
    k = (dl.legendre_features(torch.cos(theta), 40) ** 2).cumsum(-1)  # k[:, m - 1] = k_m
    for m in range(1, 41):
        top = float((k[:, m - 1] * math.pi * torch.sin(theta) / 2).max())
        assert top <= dl.rejection_bound(m) * (1 + 1e-12), m
        assert top >= 0.65 * dl.rejection_bound(m), m  # acceptance stays above ~2/3 of ideal


@pytest.mark.parametrize("target", dl.TARGETS)
def test_best_approximation_by_parseval_matches_direct_quadrature(target):
    f, _ = dl.target_fn(target, 7.0)
    m = 8
    c_star, best2, norm2 = dl.best_approximation(f, m)
    # independent check: a fine midpoint rule of |f − P_m f|² on 200 000 cells
    x = torch.linspace(-1, 1, 200_001, dtype=F64)
    x = (x[1:] + x[:-1]) / 2
    resid = f(x) - dl.legendre_features(x, m) @ c_star
    assert best2 == pytest.approx(float((resid ** 2).mean()), rel=1e-6)
    assert norm2 == pytest.approx(float((f(x) ** 2).mean()), rel=1e-6)
    assert best2 == pytest.approx(norm2 - float(c_star @ c_star), rel=1e-9)


def test_polynomial_targets_are_reproduced():
    c, best2, _ = dl.best_approximation(lambda x: 1 + x ** 3, 5)
    assert best2 < 1e-26
    X = dl.sample_rho(40, 5, gen(0)).reshape(4, 10)
    c_hat, _ = dl.wls(X, 1 + X ** 3, 5)
    assert torch.allclose(c_hat, c.expand(4, 5), atol=1e-12)


def test_wls_solve_matches_numpy_lstsq_and_the_gram_norm():
    rng = np.random.default_rng(0)
    B, n, m = 5, 12, 4
    Phi, w, y = rng.normal(size=(B, n, m)), rng.uniform(0.2, 3, (B, n)), rng.normal(size=(B, n))
    c, gi = dl.wls_solve(torch.tensor(Phi), torch.tensor(w), torch.tensor(y))
    for b in range(B):
        s = np.sqrt(w[b] / n)
        ref = np.linalg.lstsq(s[:, None] * Phi[b], s * y[b], rcond=None)[0]
        G = (w[b][:, None] * Phi[b]).T @ Phi[b] / n
        assert np.allclose(c[b].numpy(), ref, atol=1e-12)
        assert float(gi[b]) == pytest.approx(np.linalg.norm(G - np.eye(m), 2), rel=1e-12)


# --- exact oracles on a discrete ground set (enumeration) -----------------------------------


def _discrete(N=7, m=3, seed=0):
    """A discrete μ on N points with a μ-orthonormal polynomial basis ψ and a target f."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-1, 1, N))
    mu = rng.uniform(0.5, 1.5, N)
    mu /= mu.sum()
    Phi = np.stack([t ** j for j in range(m)], 1)
    _, R = np.linalg.qr(np.sqrt(mu)[:, None] * Phi)
    Psi = Phi @ np.linalg.inv(R)  # Σ_i μ_i ψ_i ψ_iᵀ = I
    f = np.cos(3 * t) + t ** 4
    return t, mu, Psi, f


def _err2(S, mu, Psi, f, w):
    S = list(S)
    c, _ = dl.wls_solve(torch.tensor(Psi[S])[None], torch.tensor(w[S])[None], torch.tensor(f[S])[None])
    return float((mu * (f - Psi @ c[0].numpy()) ** 2).sum())


def test_dpp_interpolation_identity_is_exact_by_enumeration():
    """E‖f − û‖² = (m + 1)‖f − P_m f‖² for the projection DPP with n = m (every design summed)."""
    for seed, (N, m) in enumerate([(7, 3), (8, 4), (6, 2)]):
        _, mu, Psi, f = _discrete(N, m, seed)
        w = m / (Psi ** 2).sum(1)
        best2 = float((mu * (f - Psi @ (Psi.T @ (mu * f))) ** 2).sum())
        total = expected = 0.0
        for S in itertools.combinations(range(N), m):
            p = np.linalg.det(Psi[list(S)]) ** 2 * np.prod(mu[list(S)])  # P(S) of the DPP
            total += p
            expected += p * _err2(S, mu, Psi, f, w)
        assert total == pytest.approx(1.0, abs=1e-12)
        assert expected / best2 == pytest.approx(m + 1, rel=1e-10)


@pytest.mark.parametrize("k", [1, 2])
def test_conditional_error_ratio_integrates_the_last_points_by_quadrature(k):
    """(k + 1)(1 + |Φ_A⁺ g_A|²/best²) equals the chain rule's conditional mean of err²/best² over
    the last k points (density ∝ det Φ²), by tensor Gauss–Legendre quadrature; by Cramer's rule
    det Φ² |c − c*|² = Σ_j det Φ_{j←g}², smooth where the design is singular."""
    m = 4
    setup = dl.make_setup(dl.Params(m=m, target="runge", device="cpu"))
    A = torch.tensor([-0.7, 0.2, 0.9][: m - k], dtype=F64)
    t, wt = np.polynomial.legendre.leggauss(120)  # Runge's poles at ±i/5: ~1e-20 quadrature error
    xq, wq = torch.tensor(t), torch.tensor(wt / 2)  # μ = dx/2
    grids = torch.meshgrid(*[xq] * k, indexing="ij")
    free = torch.stack([t.reshape(-1) for t in grids], -1)  # (Q^k, k)
    weight = torch.stack([t.reshape(-1) for t in torch.meshgrid(*[wq] * k, indexing="ij")], -1).prod(-1)
    X = torch.cat([A.expand(len(free), m - k), free], -1)  # (Q^k, m): the kept points first
    Phi = dl.legendre_features(X, m)
    g = setup.f(X) - Phi @ setup.c_star
    cramer = sum(torch.linalg.det(torch.cat([Phi[..., :j], g[..., None], Phi[..., j + 1:]], -1)) ** 2
                 for j in range(m))
    det2 = torch.linalg.det(Phi) ** 2
    oracle = float((weight * (det2 + cramer / setup.best2)).sum() / (weight * det2).sum())
    got = dl.conditional_error_ratio(X[:1], setup, integrated=k)
    assert float(got) == pytest.approx(oracle, rel=1e-9)


def test_conditional_error_ratio_ends_are_the_plain_ratio_and_the_identity():
    m = 6
    setup = dl.make_setup(dl.Params(m=m, device="cpu"))
    X = dl.sample_dpp(5, m, gen(3))
    c, _ = dl.wls(X, setup.f(X), m)
    assert torch.allclose(dl.conditional_error_ratio(X, setup, 0), dl._err_ratio(c, setup), rtol=1e-9)
    assert dl.conditional_error_ratio(X, setup, m).tolist() == [m + 1.0] * 5


@pytest.mark.parametrize("n", [4, 5])
def test_volume_sampling_is_a_dpp_plus_iid_points_by_enumeration(n):
    """det G · Π ρ_m over n-tuples has the law of (DPP of m points) ∪ (n − m i.i.d. ρ_m points),
    and its normaliser is E_iid det G = n!/((n − m)! nᵐ) (Cauchy–Binet)."""
    _, mu, Psi, _ = _discrete(6, 3, 1)
    N, m = Psi.shape
    k = (Psi ** 2).sum(1)
    rho, w = mu * k / m, m / k
    vol, decomp, Z = {}, {}, 0.0
    for T in itertools.product(range(N), repeat=n):
        T = list(T)
        G = (w[T][:, None] * Psi[T]).T @ Psi[T] / n
        p = np.linalg.det(G) * np.prod(rho[T])
        Z += p
        key = tuple(sorted(T))
        vol[key] = vol.get(key, 0.0) + p
    for S in itertools.product(range(N), repeat=m):  # the ordered DPP: det K_S Π μ / m!
        pS = np.linalg.det(Psi[list(S)]) ** 2 * np.prod(mu[list(S)]) / math.factorial(m)
        for T in itertools.product(range(N), repeat=n - m):
            key = tuple(sorted(S + T))
            decomp[key] = decomp.get(key, 0.0) + pS * np.prod(rho[list(T)])
    assert Z == pytest.approx(math.factorial(n) / math.factorial(n - m) / n ** m, rel=1e-12)
    assert max(abs(vol.get(s, 0.0) / Z - decomp.get(s, 0.0)) for s in set(vol) | set(decomp)) < 1e-14


@pytest.mark.parametrize("n", [3, 4, 5])
def test_volume_sampling_is_quasi_optimal_with_constant_m_plus_1_by_enumeration(n):
    """E‖f − û‖² ≤ (m + 1)‖f − P_m f‖² for volume-rescaled sampling at every n ≥ m, unconditioned
    (û is a det²-weighted mixture of interpolants: Jensen), with equality at n = m."""
    _, mu, Psi, f = _discrete(6, 3, 2)
    N, m = Psi.shape
    k = (Psi ** 2).sum(1)
    rho, w = mu * k / m, m / k
    T = np.array(list(itertools.product(range(N), repeat=n)))  # (N^n, n) every ordered design
    A = np.sqrt(w[T])[..., None] * Psi[T]  # (N^n, n, m)
    p = np.linalg.det(A.transpose(0, 2, 1) @ A) * np.prod(rho[T], 1)  # ∝ det G · Π ρ_m
    keep = p > 1e-14 * p.max()  # singular designs have probability 0
    c, _ = dl.wls_solve(torch.tensor(Psi[T][keep]), torch.tensor(w[T][keep]), torch.tensor(f[T][keep]))
    err2 = (mu * (f - c.numpy() @ Psi.T) ** 2).sum(1)
    best2 = float((mu * (f - Psi @ (Psi.T @ (mu * f))) ** 2).sum())
    ratio = float((p[keep] * err2).sum() / p.sum()) / best2
    assert 1 < ratio <= (m + 1) * (1 + 1e-10)
    if n == m:
        assert ratio == pytest.approx(m + 1, rel=1e-10)


# --- the continuous samplers ----------------------------------------------------------------


def test_dpp_has_exactly_m_distinct_points_with_a_nonsingular_design():
    for m in (1, 2, 7, 25):
        X = dl.sample_dpp(64, m, gen(m))
        assert X.shape == (64, m) and bool(((X >= -1) & (X <= 1)).all())
        gaps = X.sort(1).values.diff(dim=1)
        assert m == 1 or float(gaps.min()) > 0
        dets = torch.linalg.slogdet(dl.legendre_features(X, m)).logabsdet
        assert bool(torch.isfinite(dets).all())


@pytest.mark.parametrize("kind", ["dpp", "rho"])
def test_one_point_intensity_is_the_normalised_inverse_christoffel_function(kind):
    """Pooled points of a projection DPP (or i.i.d. ρ_m) fall in bins with probability ∫ k_m/m dμ."""
    m, B = 6, 3000
    X = dl.sample_dpp(B, m, gen(1)) if kind == "dpp" else dl.sample_rho(B * m, m, gen(1))
    edges = np.linspace(-1, 1, 13)
    expected = bin_probabilities(edges, rho_dx(m)) * B * m
    assert expected.sum() == pytest.approx(B * m, rel=1e-12)
    counts = np.histogram(X.numpy().ravel(), edges)[0]
    # DPP bin counts vary less than Poisson counts: sqrt(expected) is a conservative scale
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 4.5, z


def test_dpp_counts_have_the_exact_projection_dpp_variance():
    """Var N_A = tr M_A − ‖M_A‖_F² for A = [−1, a] (projection DPP), far below the binomial
    variance m p (1 − p) of m i.i.d. ρ_m points: the repulsion, measured."""
    m, B = 8, 6000
    X = dl.sample_dpp(B, m, gen(2)).numpy()
    Xi = dl.sample_rho(B * m, m, gen(3)).numpy().reshape(B, m)
    for a in (-0.6, 0.0, 0.3):
        M = interval_moments(a, m)
        mean, var = np.trace(M), np.trace(M) - (M * M).sum()
        p = mean / m
        var_iid = m * p * (1 - p)
        assert var < 0.5 * var_iid  # the oracle tells the two apart
        for sample, v in ((X, var), (Xi, var_iid)):
            N = (sample <= a).sum(1).astype(float)
            se_mean = math.sqrt(v / B)
            se_var = math.sqrt(max(((N - N.mean()) ** 4).mean() - N.var() ** 2, 1e-12) / B)
            assert abs(N.mean() - mean) < 5 * se_mean
            assert abs(N.var(ddof=1) - v) < 5 * se_var, (a, N.var(ddof=1), v, se_var)


def _gram(X: torch.Tensor, m: int) -> torch.Tensor:
    Phi = dl.legendre_features(X, m)
    w = m / (Phi * Phi).sum(-1)
    return (w.unsqueeze(-1) * Phi).transpose(1, 2) @ Phi / X.shape[1]  # (B, m, m)


@pytest.mark.parametrize("sampler", ["iid_optimal", "dpp", "dpp_repeated", "volume"])
def test_weighted_gram_matrix_is_unbiased(sampler):
    """E G = I for i.i.d. optimal sampling, one DPP, repeated DPPs and volume sampling."""
    m, r, B = 5, 3, 4000
    setup = dl.make_setup(dl.Params(m=m, device="cpu"))
    out = dl.simulate_block(setup, B, gen(4), samplers=(sampler,), ratios=(1 if sampler == "dpp" else r,))
    (X, _, _), = out.values()
    G = _gram(X, m)
    se = G.std(0) / math.sqrt(B)
    z = (G.mean(0) - torch.eye(m, dtype=F64)) / se.clamp_min(1e-15)
    assert float(z.abs().max()) < 5.0


def test_volume_sampler_matches_its_defining_density():
    """E_vol h = E_iid[h det G] / E_iid[det G] (importance weighting i.i.d. ρ_m designs), for
    h = λ_min(G) and the mean gap between sorted points; and E_iid det G = n!/((n − m)! nᵐ)."""
    m, r, B = 3, 2, 20_000
    n = r * m
    setup = dl.make_setup(dl.Params(m=m, device="cpu"))
    (Xv, _, _), = dl.simulate_block(setup, B, gen(5), samplers=("volume",), ratios=(r,)).values()
    Xi = dl.sample_rho(4 * B * n, m, gen(8)).reshape(4 * B, n)

    def stats(X):
        G = _gram(X, m)
        lam = torch.linalg.eigvalsh(G)[:, 0]
        gap = X.sort(1).values.diff(dim=1).mean(1)
        return torch.stack([lam, gap], 1).numpy(), torch.linalg.det(G).numpy()

    hv, _ = stats(Xv)
    hi, det = stats(Xi)
    assert det.mean() == pytest.approx(math.factorial(n) / math.factorial(n - m) / n ** m,
                                       abs=5 * det.std() / math.sqrt(len(det)))
    w = det / det.mean()
    is_mean = (w[:, None] * hi).mean(0)
    is_se = np.sqrt(((w[:, None] * (hi - is_mean)) ** 2).mean(0) / len(w))  # delta method
    se = np.sqrt(hv.var(0) / B + is_se ** 2)
    assert np.all(np.abs(hv.mean(0) - is_mean) < 5 * se), (hv.mean(0), is_mean, se)
    iid_mean = hi.mean(0)  # the oracle tells volume sampling from plain i.i.d.
    assert np.all(np.abs(iid_mean - is_mean) > 5 * se)


def test_lab_volume_cells_are_a_dpp_then_iid_points():
    """The lab's volume design at n = r m: its first m points are one DPP draw, the rest i.i.d."""
    m, r, B = 4, 3, 3000
    setup = dl.make_setup(dl.Params(m=m, device="cpu"))
    (X, _, _), = dl.simulate_block(setup, B, gen(9), samplers=("volume",), ratios=(r,)).values()
    head, tail = X[:, :m].numpy(), X[:, m:].numpy()
    M = interval_moments(0.0, m)
    var_dpp = np.trace(M) - (M * M).sum()
    p = np.trace(M) / m
    for block, v in ((head, var_dpp), (tail[:, :m], m * p * (1 - p))):
        N = (block <= 0).sum(1).astype(float)
        assert abs(N.var(ddof=1) - v) < 0.15 * v


def test_shared_draws_at_n_equal_m():
    """At n = m dpp, dpp_repeated and volume are the same law; the lab solves the draws once."""
    setup = dl.make_setup(dl.Params(m=4, device="cpu"))
    out = dl.simulate_block(setup, 10, gen(10), ratios=(1,))
    for s in ("dpp_repeated", "volume"):
        assert out[(s, 1)][0] is out[("dpp", 1)][0]
        assert torch.equal(out[(s, 1)][1], out[("dpp", 1)][1])


# --- the run --------------------------------------------------------------------------------


def frames_of(**overrides):
    return list(dl.run(dl.Params.preset("quick", **{"device": "cpu", **overrides})))


def test_run_streams_frames_and_ends_with_the_metrics():
    frames = frames_of()
    last = frames[-1]
    assert len(frames) >= 3 and [f.step for f in frames] == sorted(f.step for f in frames)
    assert last.step == last.total_steps == 60 and all(f.metrics is None for f in frames[:-1])
    for name in ("error_ratio", "stability_fraction", "error_ratio_mom", "error_ratio_conditioned",
                 "median_err_ratio", "q90_err_ratio", "n", "m", "best_error"):
        assert np.isfinite(last.metrics[name]), name
    assert last.metrics["n"] == 30 and 0 <= last.metrics["stability_fraction"] <= 1
    assert set(last.metrics["sweep"]) == set(dl.SAMPLERS)
    assert [row["n_over_m"] for row in last.metrics["sweep"]["dpp"]] == [1]
    assert last.hist_density.sum() * (last.hist_x[1] - last.hist_x[0]) == pytest.approx(1.0)
    assert last.draw.shape == (30,) and last.draw_other.shape == (30,)
    assert last.ratios.tolist() == [1, 2, 3, 4, 5, 6, 8]


def test_run_is_reproducible_and_reps_extend_the_same_draws():
    a = frames_of()[-1].metrics
    b = frames_of()[-1].metrics
    assert a == b
    c = frames_of(seed=1)[-1].metrics
    assert c["error_ratio"] != a["error_ratio"]
    # blocks have their own random streams: more reps add blocks and keep the earlier draws
    per = dl.block_sizes(dl.Params(m=6, reps=5000))[0]
    short = dl.simulate(dl.Params(m=6, reps=per, device="cpu"), ("iid_optimal",), (2,))
    long = dl.simulate(dl.Params(m=6, reps=2 * per, device="cpu"), ("iid_optimal",), (2,))
    assert np.array_equal(short[("iid_optimal", 2)][1], long[("iid_optimal", 2)][1][:per])


def test_headline_metrics_are_those_of_the_chosen_cell():
    last = frames_of(sampler="volume", oversampling=4, m=6)[-1]
    row = next(r for r in last.metrics["sweep"]["volume"] if r["n_over_m"] == 4)
    assert last.metrics["error_ratio"] == row["error_ratio"] and last.metrics["n"] == 24
    dpp = frames_of(sampler="dpp", oversampling=4, m=6)[-1]
    assert dpp.metrics["n"] == 6 and "oversampling applies to the other samplers" in dpp.notice
    assert dpp.metrics["error_ratio"] == dpp.metrics["sweep"]["dpp"][0]["error_ratio"]


def test_round_off_floor_is_announced():
    last = frames_of(target="exp", m=16, reps=10)[-1]
    assert "round-off" in last.notice
    assert frames_of(target="exp", m=8, reps=10)[-1].notice == ""


def test_the_i_i_d_comparison_draw_of_iid_optimal_is_a_dpp():
    last = frames_of(sampler="iid_optimal", reps=10)[-1]
    assert last.other == "dpp_repeated"
    assert frames_of(sampler="iid_optimal", oversampling=1, reps=10)[-1].other == "dpp"

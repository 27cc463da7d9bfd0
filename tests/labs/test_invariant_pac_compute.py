"""Unit tests for the invariant-PAC lab's computation (paperscope.labs.invariant_pac).

Oracles: covariances built directly as Σ(t) = M D(t) Mᵀ in float64 numpy (the affine
coefficients must reproduce every r_t), the SEM's own edge weights (the causal OLS), autograd
(the closed-form Jacobian and the IRMv1 penalty), and a linear program that decides whether a
w invariant on the m training interventions but failing elsewhere exists at all (the adversary
must fail exactly where it does). The claims are declared in ``paperscope.claims.invariant_pac``
(checked by tests/test_claims.py).
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from paperscope.labs import invariant_pac as ip

F64 = torch.float64
CPU = torch.device("cpu")
EXACT_STEPS = 400  # the exact-invariance fixture: enough steps for every adversary to converge


def last_frame(**overrides):
    """The last frame of a run at the quick size with ``overrides``."""
    return list(ip.run(ip.Params(**{"device": "cpu", **ip.Params.QUICK, **overrides})))[-1]


@pytest.fixture(scope="module")
def exact():
    """One exact-invariance run (ε = 0) at the quick size, shared by several tests."""
    return last_frame(tolerance=0.0, extra_nodes=6, reps=3, steps=EXACT_STEPS)


@pytest.fixture(scope="module")
def setup():
    params = ip.Params(device="cpu", reps=2, extra_nodes=5, sites=4)
    return ip.build(params, CPU), params


# --- the SEM and the affine structure --------------------------------------------------------------


def sigma(M: np.ndarray, t: np.ndarray, sites) -> np.ndarray:
    """Σ(t) = M D(t) Mᵀ, D = 1 except t_j at the sites."""
    D = np.ones(M.shape[0])
    D[list(sites)] = t
    return M @ np.diag(D) @ M.T


def test_violation_matches_covariances_built_directly(setup):
    """r_t = Cov_t(wᵀX, Y − wᵀX)/Var_t(wᵀX) from Σ(t), for random w and t, graph with extra nodes."""
    s, params = setup
    p = s.problem
    rng = np.random.default_rng(0)
    rows = torch.tensor([len(p.adversarial) - 1, len(p.adversarial) // 2 + 1])  # rows of the extra graph
    sub = p.rows(rows)
    w = torch.tensor(rng.normal(size=(2, sub.mask.shape[1])), dtype=F64) * sub.mask
    T = torch.tensor(rng.uniform(0.2, 4, size=(2, 7, params.sites)), dtype=F64)
    r = ip.violation(ip.affine(ip.loadings(w, sub), sub), T).numpy()
    for a in range(2):
        M = np.vstack([sub.P[a].numpy(), sub.mY[a].numpy()])  # rows X..., Y
        d = M.shape[0] - 1
        for e in range(7):
            S = sigma(M, T[a, e].numpy(), ip.SITE_ORDER[:params.sites])
            wa = w[a].numpy()
            cov_xy, var = wa @ S[:d, d], wa @ S[:d, :d] @ wa
            np.testing.assert_allclose(r[a, e], (cov_xy - var) / var, rtol=1e-11, atol=1e-12)


def test_mixing_inverts_the_sem_and_extra_nodes_are_irrelevant():
    gen = torch.Generator().manual_seed(3)
    B = ip.sem_weights(3, 7, gen, CPU)
    M = ip.mixing(B)
    eye = torch.eye(B.shape[-1], dtype=F64)
    torch.testing.assert_close((eye - B) @ M, eye.expand_as(B), rtol=0, atol=1e-12)
    y = B.shape[-1] - 1
    extra = list(range(ip.BASE_COVARIATES, y))
    assert float(M[:, y, extra].abs().max()) < 1e-14  # no extra node is an ancestor of Y (round-off)
    assert (B[:, y][:, [3, 4, 5, 6, 7]] == 0).all()  # only X0, X1, X2 enter Y
    w = B[:, y, list(ip.CAUSES)].abs()
    assert ((w >= 0.5) & (w <= 1.5)).all()


def test_site_coefficients_are_minus_u_squared_off_the_ancestors_of_y(setup):
    """For a site that is not an ancestor of Y, c_j = −u_j² ≤ 0: the sign that makes the
    transition come at m ≈ s."""
    s, params = setup
    p = s.problem
    w = torch.randn(len(p.adversarial), p.mask.shape[1], dtype=F64, generator=torch.Generator().manual_seed(1))
    u = ip.loadings(w, p)
    k = ip.affine(u, p)
    torch.testing.assert_close(k.c, -(u[:, p.site_idx] ** 2), rtol=0, atol=1e-12)  # sites X3..X6


def test_causal_predictor_recovers_the_edge_weights_and_is_invariant(setup):
    s, params = setup
    gen = torch_gen = torch.Generator().manual_seed(7)
    B = ip.sem_weights(2, params.extra_nodes, torch_gen, CPU)
    M = ip.mixing(B)
    site_idx = torch.tensor(ip.SITE_ORDER[:4])
    t = ip.environments(2, 1, 4, 4.0, gen, CPU)[:, 0]
    w = ip.causal_predictor(M, t, site_idx)
    y = B.shape[-1] - 1
    torch.testing.assert_close(w[:, list(ip.CAUSES)], B[:, y, list(ip.CAUSES)], rtol=0, atol=1e-12)
    T = ip.environments(2, 500, 4, 10.0, gen, CPU)
    r = ip.violation(ip.coefficients(w, M, site_idx), T)
    assert float(r.abs().max()) < 1e-12
    assert s.causal_residual < 1e-10


def test_pac_bound_closed_form():
    got = ip.pac_bound(np.array([10, 100, 1000]), sites=4)
    h = 5
    want = [min(1.0, 2 / m * (h * math.log2(2 * math.e * m / h) + math.log2(20))) for m in (10, 100, 1000)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == 1.0 and got[2] < got[1] < 1.0


def test_sweep_contains_three_s_and_the_chosen_m():
    ms = ip.sweep_ms(4, 17)
    assert {1, 3, 12, 14, 17, 30} <= set(ms.tolist()) and ms.max() == ip.M_MAX
    assert (np.diff(ms) > 0).all()


def test_transition_is_the_first_m_with_median_at_most_five_percent():
    ms = np.array([1, 2, 3, 4])
    fail = np.array([[0.9, 0.9, 0.9], [0.0, 0.5, 0.6], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    assert ip._median_transition(ms, fail) == 3
    assert ip._median_transition(ms, fail[:2]) is None


# --- the learners ----------------------------------------------------------------------------------


def test_closed_form_jacobian_matches_autograd(setup):
    s, params = setup
    p = s.problem.rows(s.problem.adversarial)
    theta = torch.randn(len(p.adversarial), p.mask.shape[1], dtype=F64, generator=torch.Generator().manual_seed(2))
    theta = theta * p.mask
    J = ip.excess_jacobian(theta, p)
    for a in (0, 5, len(theta) - 1):
        sub = p.rows(torch.tensor([a]))
        auto = torch.autograd.functional.jacobian(lambda th, sub=sub: ip.scale_free(th, sub)[1][0] - 1,
                                                  theta[a:a + 1])[:, 0]
        active = sub.active[0]
        torch.testing.assert_close(J[a][active], auto[active], rtol=1e-9, atol=1e-10)


def test_irm_penalty_is_the_squared_derivative_of_the_risk_along_the_scale(setup):
    """IRMv1's ‖∂_c R_e(c w)|_{c=1}‖² equals 4 g_e(w)², with R_e = E_e(Y − wᵀX)² from Σ(t)."""
    s, params = setup
    p = s.problem.rows(torch.tensor([0]))
    w = torch.randn(1, p.mask.shape[1], dtype=F64, generator=torch.Generator().manual_seed(4)) * p.mask
    M = np.vstack([p.P[0].numpy(), p.mY[0].numpy()])
    d = M.shape[0] - 1
    t = p.T_train[0, 0].numpy()
    S = torch.tensor(sigma(M, t, ip.SITE_ORDER[:params.sites]))
    c = torch.ones((), dtype=F64, requires_grad=True)
    a = torch.cat([c * w[0], torch.tensor([-1.0], dtype=F64)])
    (dR,) = torch.autograd.grad(a @ S @ a, c)  # R_e(c w) = E (c wᵀX − Y)²
    g = ip.violation_numerator(ip.affine(ip.loadings(w, p), p), p.T_train[:, :1])[0, 0]
    torch.testing.assert_close(dR ** 2, 4 * g ** 2, rtol=1e-10, atol=1e-12)
    # and the risk term of irm_loss at m = 1 with λ = 0 is that R_e
    one = ip.dataclasses.replace(p, irm_lambda=0.0, active=torch.arange(ip.M_MAX)[None] < 1)
    risk = float(w[0] @ S[:d, :d] @ w[0] - 2 * w[0] @ S[:d, d] + S[d, d])
    assert math.isclose(float(ip.irm_loss(w, one)[0]), risk, rel_tol=1e-10)


def lp_feasible(T: np.ndarray) -> bool:
    """Is there c ≤ 0, c ≠ 0 (normalised Σc = −1) with c·(t_e − t_1) = 0 for every training t_e? Then
    c₀ + Σ_j t_j c_j vanishes on the training interventions (exact invariance there) without
    vanishing everywhere; otherwise only c = 0, an invariant w, satisfies the constraints."""
    m, s = T.shape
    A = np.vstack([T[1:] - T[0], -np.ones((1, s))])
    b = np.r_[np.zeros(m - 1), 1.0]
    return linprog(np.zeros(s), A_eq=A, b_eq=b, bounds=[(None, 0)] * s).status == 0


def test_the_adversary_fails_where_and_only_where_the_lp_says_it_can(exact):
    """ε = 0, s = 4 (every site a non-ancestor of Y): for each repetition and m ≤ s + 1, a
    non-invariant w consistent with the training interventions exists iff the LP is feasible.
    Where it does not, the adversary never fails (soundness, exact); where it does, the
    adversary finds a failing w in most fits (a local optimiser may miss a narrow set at m = s)."""
    s = exact.sites
    params = ip.Params(**{**ip.Params.QUICK, "reps": 3}, tolerance=0.0, extra_nodes=6, device="cpu")  # as exact
    T_train = ip.build(params, CPU).T_train_rep.numpy()
    li = ip.LEARNERS.index("adversarial")
    found = []
    for rep in range(T_train.shape[0]):
        for mi, m in enumerate(exact.ms):
            if m > s + 1:
                break
            feasible = lp_feasible(T_train[rep, :m])
            for g in range(2):
                fail = exact.fail[g, li, mi, rep]  # NaN: an adversary left out (tested below)
                if np.isnan(fail):
                    continue
                if feasible:
                    found.append(fail > 0.01)
                else:
                    assert fail <= 0.01, (rep, m, g, fail)
    assert len(found) >= 6 and np.mean(found) >= 0.8  # 8 LP-feasible fits at this seed


def test_adversaries_that_miss_their_constraints_are_left_out(exact):
    """No failure can come from an unmet training constraint: a fit whose violation exceeds the
    tolerance has no fail fraction (NaN), few fits do, and m ≥ s + 1 (only invariant w are
    feasible) never fails."""
    li = ip.LEARNERS.index("adversarial")
    fail, viol = exact.fail[:, li], exact.train_violation[:, li]
    np.testing.assert_array_equal(np.isnan(fail), viol > ip.FEASIBLE_TOL)
    assert np.isnan(fail).mean() <= 0.05
    later = fail[:, exact.ms >= exact.sites + 1]
    assert (later[np.isfinite(later)] <= 0.01).all()


def test_tolerance_loosens_the_constraints_but_they_hold():
    """ε = 0.05: training violations stay within ε (up to the tolerance) after the projection."""
    f = last_frame(tolerance=0.05, extra_nodes=0, reps=2)
    li = ip.LEARNERS.index("adversarial")
    assert f.train_violation[:, li].max() <= ip.FEASIBLE_TOL
    assert f.metrics["by_method"]["adversarial"]["infeasible_fraction"] == 0.0


# --- the run -------------------------------------------------------------------------------------


def test_run_streams_frames_and_reports_the_public_metrics(exact):
    m = exact.metrics
    for name in ("test_fail_fraction", "transition_m", "causal_residual"):
        assert name in m
    assert set(m["by_method"]) == set(ip.LEARNERS)
    assert m["causal_residual"] < 1e-10
    assert exact.fail.shape == (2, 2, len(exact.ms), 3)
    assert exact.c_sorted.shape == (3, len(exact.c_quantiles))
    np.testing.assert_allclose(exact.c_sorted[2], 1.0, atol=1e-10)  # the causal predictor: c_t ≡ 1


def test_same_seed_same_numbers_and_repetitions_do_not_depend_on_reps():
    a = last_frame(reps=1, extra_nodes=0, steps=60, seed=3)
    b = last_frame(reps=1, extra_nodes=0, steps=60, seed=3)
    np.testing.assert_array_equal(a.fail, b.fail)
    c = ip.build(ip.Params(reps=2, seed=3, extra_nodes=0, device="cpu"), CPU)
    d = ip.build(ip.Params(reps=1, seed=3, extra_nodes=0, device="cpu"), CPU)
    torch.testing.assert_close(c.T_train_rep[:1], d.T_train_rep)


def test_one_site_and_wide_interventions_run():
    f = last_frame(sites=1, t_max=10.0, extra_nodes=0, reps=1, train_envs=2)
    assert f.heat.shape[1:] == (ip.HEAT_GRID, ip.HEAT_GRID) and np.isfinite(f.heat).all()
    assert f.metrics["transition_m"] is not None

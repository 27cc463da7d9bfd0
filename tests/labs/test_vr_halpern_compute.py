"""Unit tests for the VR-Halpern lab's computation (paperscope.labs.vr_halpern).

The batched, vectorised loops are checked against independent per-seed numpy references that
evaluate every component operator explicitly (no cancellation shortcuts, no mean matrix), and
against closed forms (the resolvent of a linear operator, power laws). The paper's claims are
declared in ``paperscope.claims.vr_halpern`` (checked by tests/test_claims.py).
"""

import math

import numpy as np
import pytest
import torch

from paperscope.core.errors import DivergenceError, ParamError
from paperscope.labs import vr_halpern as vh


def small_problem(R=2, n=7, d=3, seed=0, s_min=0.1, h=1.0):
    return vh.make_problem(seed, R, n, d, s_min, h, "cpu")


def as_np(t):
    return t.detach().cpu().numpy()


# --- the game --------------------------------------------------------------------------------


def test_problem_is_a_monotone_finite_sum_with_the_declared_spectrum():
    p = small_problem(R=2, n=9, d=5, s_min=0.01)
    M = as_np(p.M)  # (R, n, D, D)
    assert np.allclose(M, -np.swapaxes(M, -1, -2))  # each F_i is monotone (skew): <M_i z, z> = 0
    # The mean of the components is the mean operator, and u* solves F(u*) = 0.
    Fi = as_np(p.F_components(p.u_star))  # (R, n, D)
    assert np.allclose(Fi.mean(1), as_np(p.F(p.u_star)), atol=1e-12)
    assert np.abs(as_np(p.F(p.u_star))).max() < 1e-10
    assert np.allclose(M.mean(1), as_np(p.Mbar), atol=1e-14)
    # B̄ = U diag(s) W^T: singular values geometric from 1 down to s_min; L = ‖M̄‖ = 1.
    d = 5
    for r in range(2):
        sv = np.linalg.svd(as_np(p.Mbar[r])[:d, d:], compute_uv=False)
        assert np.allclose(sv, np.logspace(0, -2, d), rtol=1e-10)
    assert np.allclose(as_np(p.L), 1.0)
    # L̂² = (1/n) Σ ‖M_i‖², brute force over the full skew matrices.
    L_hat = np.sqrt(np.mean([[np.linalg.norm(M[r, i], 2) ** 2 for i in range(9)] for r in range(2)], 1))
    assert np.allclose(as_np(p.L_hat), L_hat, rtol=1e-12)
    assert (L_hat > 1).all()  # heterogeneous components: L̂ > L


def test_components_are_heterogeneous_only_when_asked():
    p = small_problem(h=0.0)
    assert np.allclose(as_np(p.M), as_np(p.Mbar)[:, None], atol=1e-14)
    assert np.allclose(as_np(p.L_hat), as_np(p.L))


def test_repeat_r_is_the_same_game_whatever_the_batch():
    batch = small_problem(R=3, seed=4)
    alone = small_problem(R=1, seed=6)
    assert torch.equal(batch.M[2], alone.M[0]) and torch.equal(batch.q[2], alone.q[0])


def test_too_large_a_problem_is_refused():
    with pytest.raises(ParamError, match="lower n, dim or repeats"):
        vh.make_problem(0, 16, 4000, 100, 0.01, 1.0, "cpu")


def test_the_plotted_plane_is_a_singular_pair():
    d, s_min = 6, 1e-2
    p = vh.make_problem(0, 1, 5, d, s_min, 1.0, "cpu")
    j, s_j = vh.plane_index(d, s_min), vh.plane_value(d, s_min)
    assert s_j == pytest.approx(np.logspace(0, -2, d)[j]) and 0.05 < s_j < 0.2
    ux, wy = as_np(p.slow[0, 0])[:d], as_np(p.slow[0, 1])[d:]
    Bbar = as_np(p.Mbar[0])[:d, d:]
    assert np.allclose(Bbar @ wy, s_j * ux) and np.allclose(Bbar.T @ ux, s_j * wy)


# --- EG and EAG against a per-seed reference -------------------------------------------------


def reference_eg_eag(M, q, L, iters, anchor, step=None):
    """EG (anchor=False) or EAG for one seed, F evaluated as the mean of all n components;
    η = step / L (default: the theory's 1/2 for EG, 1/8 for EAG)."""
    def F(u):
        return np.mean([Mi @ u + q for Mi in M], axis=0)

    eta = (step if step is not None else (1 / 8 if anchor else 1 / 2)) / L
    u0 = np.zeros(q.shape)
    u, res = u0.copy(), [np.linalg.norm(F(u0))]
    for k in range(iters):
        u_bar = u + (1 / (k + 2)) * (u0 - u) if anchor else u
        u_half = u_bar - eta * F(u)
        u = u_bar - eta * F(u_half)
        res.append(np.linalg.norm(F(u)))
    return np.array(res)


def test_eg_and_eag_lanes_match_a_per_seed_reference():
    p = small_problem(R=2, n=6, d=4, s_min=0.05)
    det = vh.Deterministic(p)
    det.steps(5)
    det.steps(20)  # in two chunks: chunking changes nothing
    calls, res, traj = det.history()
    assert np.array_equal(calls, 2 * 6 * np.arange(26))  # 2n oracle calls per iteration
    for r in range(2):
        M, q, L = as_np(p.M[r]), as_np(p.q[r]), float(p.L[r])
        assert np.allclose(res[:, r], reference_eg_eag(M, q, L, 25, anchor=False), rtol=1e-10)
        assert np.allclose(res[:, 2 + r], reference_eg_eag(M, q, L, 25, anchor=True), rtol=1e-10)
    assert traj.shape == (26, 2, 2)


def test_eg_and_eag_step_constants_are_their_eta_times_L():
    p = small_problem(R=2, n=5, d=3, s_min=0.05)
    det = vh.Deterministic(p, eg_step=0.9, eag_step=torch.tensor([0.3, 1.0], dtype=torch.float64))  # per repeat
    det.steps(15)
    _, res, _ = det.history()
    for r, eag in enumerate([0.3, 1.0]):
        M, q, L = as_np(p.M[r]), as_np(p.q[r]), float(p.L[r])
        assert np.allclose(res[:, r], reference_eg_eag(M, q, L, 15, anchor=False, step=0.9), rtol=1e-10)
        assert np.allclose(res[:, 2 + r], reference_eg_eag(M, q, L, 15, anchor=True, step=eag), rtol=1e-10)


# --- the variance-reduced loop against a per-seed reference ----------------------------------


def reference_vr(M, q, eta, tau, a, idx, coin, T, inner, L_hat):
    """Loopless VR extragradient on G(v) = a v - b + η F(v), one seed, G_i evaluated in full.

    With ``a = 1`` every ``m_k`` iterations an outer Halpern step re-anchors b. Returns the
    final v, the oracle calls, and the (calls, ‖F(ṽ_k)‖) of every outer step.
    """
    n = M.shape[0]

    def Fi(i, v):
        return M[i] @ v + q

    def F(v):  # a full pass: n calls
        return np.mean([Fi(i, v) for i in range(n)], axis=0)

    u0 = np.zeros(q.shape)
    v, w, b = u0.copy(), u0.copy(), u0.copy()
    Gw, calls = a * w - b + eta * F(w), n
    p = 1 / n
    k, next_outer, outer = 0, vh.inner_iterations(0, n, inner), []
    for t in range(T):
        i = idx[t]
        v_bar = (1 - p) * v + p * w
        v_half = v_bar - tau * Gw
        Gi_half = a * v_half - b + eta * Fi(i, v_half)
        Gi_w = a * w - b + eta * Fi(i, w)
        v = v_bar - tau * (Gw + Gi_half - Gi_w)
        calls += 2
        if coin[t]:
            w = v.copy()
            Gw, calls = a * w - b + eta * F(w), calls + n
        if a == 1 and t + 1 == next_outer:
            outer.append((calls, np.linalg.norm(F(v))))
            lam = 1 / (k + 2)
            b = lam * u0 + (1 - lam) * v
            Gw = a * w - b + eta * F(w)  # G changed with b (the reference re-evaluates in full)
            k += 1
            next_outer = t + 1 + vh.inner_iterations(k, n, inner)
    return v, calls, outer


def test_vr_lanes_match_a_per_seed_reference():
    R, n, c, inner, T = 2, 5, 2.0, 0.5, 300
    p = small_problem(R=R, n=n, d=3, seed=1)
    vr = vh.VarianceReduced(p, seed=1, c=c, inner=inner)
    # The same random draws the batched loop will use (the class draws them in fixed blocks).
    draws = vh.LaneRandom([1, 2, 1, 2], [vh.STREAM_VR_EG] * 2 + [vh.STREAM_VR_HALPERN] * 2, n)
    idx, coin = draws.take(T)
    for chunk in (1, 17, 64, 3, 300):  # uneven chunks, stopping at every outer step
        while vr.t < T and chunk > 0:
            before = vr.t
            vr.run(min(chunk, T - vr.t))
            chunk -= vr.t - before
    assert vr.t == T
    eta_h = as_np(vh.resolvent_step(p, c))
    for lane in range(2 * R):
        r, halpern = lane % R, lane >= R
        M, q, L_hat = as_np(p.M[r]), as_np(p.q[r]), float(p.L_hat[r])
        eta = eta_h[r] if halpern else 1.0
        L_G = math.sqrt(1 + eta**2 * L_hat**2) if halpern else L_hat
        tau = 0.99 * math.sqrt(1 / n) / L_G
        v, calls, outer = reference_vr(M, q, eta, tau, 1.0 if halpern else 0.0, idx[lane], coin[lane],
                                       T, inner, L_hat)
        solver = vr.halpern.inner if halpern else vr.eg
        assert np.allclose(as_np(solver.v[r]), v, rtol=1e-9, atol=1e-12)
        assert vr.calls[lane] == solver.calls[r] == calls  # every F_i call counted, full passes too
        if halpern:
            h_calls, h_res, _ = vr.history()[1]
            assert len(outer) == vr.halpern.k >= 2
            assert np.allclose(h_calls[1:, r], [c_ for c_, _ in outer])
            assert np.allclose(h_res[1:, r], [res for _, res in outer], rtol=1e-9)


def test_the_inner_solver_converges_to_the_exact_resolvent():
    """Without outer steps, VR-Halpern's inner solver solves v + η F(v) = u_0 = 0 (linearly)."""
    n, c = 8, 1.0
    p = small_problem(R=2, n=n, d=3, s_min=0.3)
    vr = vh.VarianceReduced(p, seed=0, c=c, inner=1e6)  # m_0 is huge: one long inner solve
    vr.run(6000)
    assert vr.halpern.k == 0
    eta = as_np(vh.resolvent_step(p, c))
    for r in range(2):
        A = np.eye(6) + eta[r] * as_np(p.Mbar[r])
        J = np.linalg.solve(A, -eta[r] * as_np(p.q[r]))  # J_{ηF}(0) in closed form
        assert np.linalg.norm(as_np(vr.halpern.inner.v[r]) - J) < 1e-8 * np.linalg.norm(J)


def test_loopless_vr_eg_on_g_finds_the_resolvent_at_any_anchor():
    """The one solver class on G(v) = v - u + η F(v), u random: its zero J_{ηF}(u), by torch.linalg.solve."""
    n, R, D = 6, 3, 8
    p = small_problem(R=R, n=n, d=D // 2, s_min=0.2, h=2.0)
    u = torch.randn(R, D, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eta = torch.tensor([[0.5], [2.0], [5.0]], dtype=torch.float64)
    G = vh.ResolventSum(vh.GameSum(p), u, eta)
    L_G = torch.sqrt(1 + eta[:, 0] ** 2 * p.L_hat ** 2)
    solver = vh.LooplessVREG(G, 0.99 * math.sqrt(1 / n) / L_G, torch.zeros(R, D, dtype=torch.float64),
                             vh.seed_streams(0, R, vh.STREAM_VR_HALPERN, n))
    solver.run(20000)
    # J_{ηF}(u) solves (I + η M̄) v = u - η q.
    A = torch.eye(D, dtype=torch.float64) + eta[:, :, None] * p.Mbar
    J = torch.linalg.solve(A, u - eta * p.q)
    err = (solver.v - J).norm(dim=-1) / J.norm(dim=-1)
    assert (err < 1e-8).all(), err
    assert (G.mean(solver.v).norm(dim=-1) < 1e-8).all()  # G(ṽ) ≈ 0
    # The snapshot's G(w) the solver carries is G at its w, to rounding.
    assert torch.allclose(solver.Gw, G.mean(solver.w), atol=1e-12)


def test_an_outer_step_is_the_anchored_halpern_update():
    """u_{k+1} = λ_k u_0 + (1 - λ_k) ṽ_k with λ_k = 1/(k+2); re-anchoring costs no oracle calls
    and leaves the snapshot's G_{k+1}(w) consistent."""
    n, R = 5, 2
    p = small_problem(R=R, n=n, d=3)
    alg = vh.VRHalpern(p, seed=2, c=2.0, a=0.5)
    for k in range(4):
        alg.run(alg.m_k - alg.t_k - 1)  # one inner iteration short of the outer step
        assert alg.k == k
        alg.inner.run(1)  # the last inner iteration by hand, so ṽ_k can be read before the update
        v_tilde, calls = alg.inner.v.clone(), alg.inner.calls.copy()
        alg.outer_step()
        lam = 1 / (k + 2)
        assert torch.allclose(alg.u, lam * alg.u0 + (1 - lam) * v_tilde, rtol=0, atol=1e-15)
        assert alg.k == k + 1 and np.array_equal(alg.inner.calls, calls)
        assert torch.equal(alg.inner.G.u_k, alg.u)
        assert torch.allclose(alg.inner.Gw, alg.inner.G.mean(alg.inner.w), atol=1e-12)
        # The certificate recorded at the step is ‖F(ṽ_k)‖ with the calls spent so far.
        hist_calls, hist_res, _ = alg.certificates.history()
        assert np.array_equal(hist_calls[-1], calls)
        assert np.allclose(hist_res[-1], as_np(p.F(v_tilde).norm(dim=-1)), rtol=1e-14)
    assert len(alg.certificates.history()[0]) == 5  # u_0 and four outer steps


def test_inner_iteration_schedule():
    assert vh.inner_iterations(0, 100, 2.0) == math.ceil(200 * (1 + math.log(2)))
    assert vh.inner_iterations(10, 50, 0.5) == math.ceil(25 * (1 + math.log(12)))
    assert vh.inner_iterations(0, 2, 0.01) == 1


# --- summaries -------------------------------------------------------------------------------


def test_hold_gives_the_last_certificate_within_a_budget():
    calls = np.array([0.0, 10, 25, 40])
    vals = np.array([5.0, 4, 3, 2])
    assert list(vh.hold(calls, vals, np.array([0, 9, 10, 39, 40, 100]))) == [5, 5, 4, 3, 2, 2]
    held = vh.held_curves(np.stack([calls, calls], 1), np.stack([vals, vals], 1),
                          np.array([5.0, 30]), np.array([40.0, 20]))
    assert held[0].tolist() == [5, 5] and held[1, 0] == 3 and np.isnan(held[1, 1])


def test_loglog_slope_recovers_a_power_law():
    x = np.geomspace(1, 1000, 50)
    assert vh.loglog_slope(x, 3 * x**-0.7) == pytest.approx(-0.7)
    assert math.isnan(vh.loglog_slope(x[:2], x[:2]))
    assert vh.geometric_mean(np.array([[1.0, 100.0]]), 1)[0] == pytest.approx(10.0)


def test_calls_to_reach_is_the_first_certificate_at_or_below_epsilon():
    calls = np.array([[0.0, 0], [10, 12], [20, 24], [30, 36]])
    res = np.array([[5.0, 5], [0.9, 2], [1.5, 3], [0.5, 4]])  # not monotone: the first hit counts
    assert vh.calls_to_reach(calls, res, 1.0).tolist() == [10, np.inf]
    assert vh.calls_to_reach(calls, res, 5.0).tolist() == [0, 0]
    assert vh.residual_at(calls, res, 25).tolist() == [1.5, 3]  # the last record within 25 calls


# --- one method alone (tuning) -----------------------------------------------------------------


def test_a_tiled_problem_repeats_the_games_lane_by_lane():
    p = small_problem(R=2, n=4, d=3, seed=3)
    t = p.tile(3)
    assert t.R == 6 and t.repeats == [0, 1, 0, 1, 0, 1]
    assert torch.equal(t.M[4], p.M[0]) and torch.equal(t.q[5], p.q[1]) and torch.equal(t.L_hat[3], p.L_hat[1])


@pytest.mark.parametrize("method, m", [(name, m) for m, name in enumerate(vh.METHODS)])
def test_trace_alone_gives_the_runs_records_at_the_same_steps(method, m):
    """A method run alone (as tuning runs it), at the step the app ran with, ends where the
    app's run of all four methods ends; a batch of steps equals each step run alone."""
    steps = {"eg": 0.8, "halpern": 0.5, "vr_eg": 0.7, "vr_halpern": 2.0}
    params = vh.Params.preset("quick", device="cpu", n=12, passes=30.0, repeats=2, seed=4,
                              eg_step=steps["eg"], eag_step=steps["halpern"], vr_eg_step=steps["vr_eg"],
                              step=steps["vr_halpern"])
    *_, last = vh.run(params)
    problem = vh.make_problem(4, 2, 12, params.dim, params.s_min, params.heterogeneity, "cpu")
    budget = 30 * 12
    calls, res = vh.trace(problem, 4, method, [steps[method] / 2, steps[method]], 30.0)
    assert calls.shape[1:] == (2, 2)
    assert np.allclose(vh.residual_at(calls[:, 1], res[:, 1], budget), last.final[m], rtol=1e-12)
    alone_calls, alone_res = vh.trace(problem, 4, method, steps[method] / 2, 30.0)
    assert np.allclose(alone_res[:, 0], res[: len(alone_res), 0], rtol=1e-12)
    assert np.array_equal(alone_calls[:, 0], calls[: len(alone_calls), 0])


def test_trace_stops_at_epsilon_and_a_race_at_the_first_step_there():
    problem = small_problem(R=2, n=10, d=4, s_min=0.1)
    full_calls, full_res = vh.trace(problem, 0, "vr_halpern", [0.5, 4.0], 300.0)
    half = [vh.residual_at(full_calls[:, g], full_res[:, g], 1500).max() for g in range(2)]
    eps = 1.01 * max(half)  # reached by every lane within half the budget
    need = np.stack([vh.calls_to_reach(full_calls[:, g], full_res[:, g], eps) for g in range(2)])
    assert np.isfinite(need).all()
    calls, res = vh.trace(problem, 0, "vr_halpern", [0.5, 4.0], 300.0, epsilon=eps)
    got = np.stack([vh.calls_to_reach(calls[:, g], res[:, g], eps) for g in range(2)])
    assert np.array_equal(got, need) and len(calls) < len(full_calls)  # stopped early, same answer
    winner = int(np.argmin(need.max(1)))
    calls, res = vh.trace(problem, 0, "vr_halpern", [0.5, 4.0], 300.0, epsilon=eps, race=True)
    assert np.array_equal(vh.calls_to_reach(calls[:, winner], res[:, winner], eps), need[winner])
    assert calls[-1].max() < need[1 - winner].max()  # stopped before the other step got there


def test_a_diverging_step_reads_inf_and_stops_the_trace():
    problem = small_problem(R=2, n=6, d=3, s_min=0.1)
    calls, res = vh.trace(problem, 0, "eg", [0.5, 3.0], 200.0)  # EG needs η·L < 1
    assert np.isfinite(res[:, 0]).all() and (res[-1, 0] < res[0, 0]).all()
    assert (res[-1, 1] > 1e10 * res[0, 1]).all()  # no error raised: a tuning outcome
    calls, res = vh.trace(problem, 0, "eg", [3.0, 4.0], 2000.0)
    assert calls[-1, 0, 0] < 2000 * 6  # every lane blew up: stopped long before the budget


def test_the_claims_tune_every_method_on_the_same_relative_grid():
    from paperscope.claims import vr_halpern as claims
    grids = {m: claims.step_grid(m, (0.25, 16.0)) for m in vh.METHODS}
    for m, g in grids.items():
        assert np.allclose(g / claims.DEFAULT_STEPS[m], grids["eg"] / vh.EG_FACTOR)
        assert np.allclose(g[1:] / g[:-1], math.sqrt(2)) and g[0] == pytest.approx(claims.DEFAULT_STEPS[m] / 4)
        assert claims.DEFAULT_STEPS[m] in g and g[-1] == pytest.approx(16 * claims.DEFAULT_STEPS[m])


# --- runs ------------------------------------------------------------------------------------


def frames_of(**overrides):
    return list(vh.run(vh.Params.preset("quick", **{"device": "cpu", **overrides})))


def test_a_run_streams_complete_frames_and_ends_with_the_metrics():
    frames = frames_of(passes=40, n=20)
    last = frames[-1]
    assert last.step == last.total_steps == 40 * 20 and last.done
    assert all(not f.done for f in frames[:-1]) and len(frames) >= 2
    m = last.metrics
    assert m["method"] == "vr_halpern" and set(m["by_method"]) == set(vh.METHODS)
    assert m["residual"] == m["by_method"]["vr_halpern"]["residual"]
    assert 0 < m["oracle_calls"] <= m["budget_calls"] == 800
    assert m["by_method"]["eg"]["oracle_calls"] == 800  # 20 EG steps of 2n calls
    assert last.residual.shape == (len(last.epochs), 4) and np.isfinite(last.residual).all()
    assert last.final.shape == (4, 2) and len(last.paths()) == 4
    # Calls to reach ε: the first certificate at or below ε within the budget, per seed.
    assert last.calls_to_epsilon.shape == (4, 2) and last.epsilon == 0.1
    assert ((last.calls_to_epsilon <= 800) | np.isinf(last.calls_to_epsilon)).all()
    assert sum(len(t) for t in last.paths()) == len(last.trajectory)
    # The curve at the budget is the per-seed final value, averaged geometrically.
    assert np.allclose(last.residual[-1], vh.geometric_mean(last.final, 1))
    # The selected method changes only which numbers the headline reports.
    other = frames_of(passes=40, n=20, method="eg")[-1]
    assert np.array_equal(other.final, last.final) and other.metrics["residual"] == m["by_method"]["eg"]["residual"]


def test_batched_seeds_equal_single_runs():
    batch = frames_of(passes=30, n=12, repeats=3, seed=5)[-1]
    for r in range(3):
        alone = frames_of(passes=30, n=12, repeats=1, seed=5 + r)[-1]
        assert np.allclose(batch.final[:, r], alone.final[:, 0], rtol=1e-12)
        assert np.array_equal(batch.final_calls[:, r], alone.final_calls[:, 0])


def test_a_blown_up_problem_stops_with_a_clear_error(monkeypatch):
    real = vh.make_problem

    def broken(*args):
        p = real(*args)
        p.q = p.q * float("nan")
        return p
    monkeypatch.setattr(vh, "make_problem", broken)
    with pytest.raises(DivergenceError, match="residual became NaN/inf"):
        frames_of(passes=10, n=10)

"""Compute tests of the dual-function lab against oracles: a float64 ridge solved one α at a
time, the rational degree of a margin (Cramer's rule), a brute-force fine grid for the exact
jump count, the 2·H·n_val bound, and the left-most argmax of the tuning step.
(App tests: test_hyperparam_tuning.py.)"""

import numpy as np
import pytest
import torch

from paperscope.labs import hyperparam_tuning as ht


def small_task(H=8, n=40, n_val=30, seed=0, pair="relu-linear", ridge=1e-2):
    gen = torch.Generator().manual_seed(seed)
    tasks = ht.draw_tasks(1, n, n_val, 0.1, gen, "cpu")
    W, b = ht.first_layer(H, gen, "cpu")
    return tasks, W, b, ht.make_dual(tasks, W, b, pair, ridge)


def ridge_margins_reference(tasks, W, b, pair, ridge, alphas) -> np.ndarray:
    """φ_α(x_j)ᵀβ(α), β solved directly in numpy for each α: ``(K, n_val)``."""
    X, y, Xv = (t[0].numpy() for t in (tasks.X, tasks.y, tasks.Xv))
    W, b = W.numpy(), b.numpy()
    act = {"relu-linear": lambda z: z, "relu-tanh": np.tanh}[pair]
    out = []
    for a in alphas:
        def sigma(z, a=a):
            return a * np.maximum(z, 0) + (1 - a) * act(z)

        Phi, Phiv = sigma(X @ W + b), sigma(Xv @ W + b)
        beta = np.linalg.solve(Phi.T @ Phi + ridge * len(X) * np.eye(W.shape[1]), Phi.T @ y)
        out.append(Phiv @ beta)
    return np.array(out)


@pytest.mark.parametrize("pair", ht.PAIRS)
def test_batched_margins_match_a_direct_ridge_solve(pair):
    tasks, W, b, dual = small_task(pair=pair)
    alphas = np.linspace(0, 1, 11)
    got = ht.margins(dual, torch.tensor(alphas))[0].numpy()
    np.testing.assert_allclose(got, ridge_margins_reference(tasks, W, b, pair, 1e-2, alphas), rtol=1e-9, atol=1e-12)


def test_margins_take_a_different_alpha_grid_per_task():
    gen = torch.Generator().manual_seed(1)
    tasks = ht.draw_tasks(2, 30, 10, 0.0, gen, "cpu")
    W, b = ht.first_layer(6, gen, "cpu")
    dual = ht.make_dual(tasks, W, b, "relu-tanh", 1e-2)
    grid = torch.tensor([[0.1, 0.7], [0.3, 0.9]], dtype=torch.float64)
    both = ht.margins(dual, grid)
    for t in range(2):
        one = ht.Dual(*(x[t:t + 1] for x in dual[:-1]), shift=dual.shift)
        np.testing.assert_allclose(both[t].numpy(), ht.margins(one, grid[t])[0].numpy(), rtol=1e-12)


def test_a_margin_is_a_rational_function_of_degree_2H_over_det_G():
    """m(α)·det G(α) is a polynomial of degree ≤ 2H: a degree-2H fit through 2H + 1 points
    predicts it everywhere else (H = 2, so the fit is well conditioned)."""
    H = 2
    tasks, W, b, dual = small_task(H=H, n=20, n_val=5, seed=3)
    alphas = np.linspace(0, 1, 41)
    m = ht.margins(dual, torch.tensor(alphas))[0].numpy()  # (K, n_val)
    a = torch.tensor(alphas)[:, None, None]
    G = dual.P + a * dual.Q + a * a * dual.R + dual.shift * torch.eye(H, dtype=torch.float64)
    numerator = m * torch.linalg.det(G).numpy()[:, None]
    nodes = np.linspace(0, 1, 2 * H + 1) * 40
    for j in range(m.shape[1]):
        fit = np.polynomial.Polynomial.fit(alphas[nodes.astype(int)], numerator[nodes.astype(int), j], 2 * H)
        np.testing.assert_allclose(fit(alphas), numerator[:, j], rtol=1e-7, atol=1e-9 * np.abs(numerator[:, j]).max())


def brute_force_jumps(dual, lo=0.0, hi=1.0, points=20001) -> tuple[int, np.ndarray]:
    """Sign changes of every margin on a fine grid, solved in chunks: (count, locations)."""
    alphas = torch.linspace(lo, hi, points, dtype=torch.float64)
    M = torch.cat([ht.margins(dual, chunk)[0] for chunk in alphas.split(2000)])
    change = torch.sign(M[1:]) != torch.sign(M[:-1])
    where = torch.nonzero(change)[:, 0]
    return int(change.sum()), ((alphas[where] + alphas[where + 1]) / 2).numpy()


@pytest.mark.parametrize("pair,ridge,seed", [("relu-linear", 1e-2, 0), ("relu-tanh", 1e-2, 1),
                                             ("relu-linear", 1e-5, 2), ("relu-tanh", 1e-4, 3)])
def test_exact_jump_count_matches_a_brute_force_fine_grid(pair, ridge, seed):
    """The count on a 101-point grid refined where needed equals the sign changes on a grid
    200x finer, and every jump sits where the fine grid finds one."""
    tasks, W, b, dual = small_task(H=16, n=60, n_val=60, seed=seed, pair=pair, ridge=ridge)
    alpha = torch.linspace(0, 1, 101, dtype=torch.float64)
    M = ht.margins(dual, alpha)[0]
    at, point, after = ht.count_jumps(ht.task_margins(dual, 0), alpha, M)
    count, fine = brute_force_jumps(dual)
    assert count > 0
    assert len(at) == count
    np.testing.assert_allclose(np.sort(at), np.sort(fine), atol=2e-4)
    coarse = int((torch.sign(M[1:]) != torch.sign(M[:-1])).sum())
    assert coarse <= count  # the grid alone may miss pairs of roots, never invent one


def test_a_hidden_pair_of_roots_between_grid_points_is_found():
    """A margin dipping below zero and back between two grid points has no sign change on the
    grid; the refinement must still count both roots. Shift one margin to make such a dip."""
    tasks, W, b, dual = small_task(H=8, n=40, n_val=30, seed=4)
    alpha = torch.linspace(0, 1, 11, dtype=torch.float64)
    fine = torch.linspace(0, 1, 20001, dtype=torch.float64)
    m = ht.margins(dual, fine)[0]  # (F, n_val)
    # a validation point whose margin has an interior minimum: move its margin so the
    # minimum lies just below zero, with both roots inside one grid interval
    lowest = m.argmin(0)  # (n_val,) where each margin is smallest
    interior = torch.nonzero((lowest > 0) & (lowest < len(fine) - 1))[:, 0]
    assert len(interior), "the test needs a margin whose minimum is inside (0, 1)"
    j = int(interior[0])
    k = int(lowest[j])
    offset = float(m[k, j]) + 1e-7 * float(m[:, j].abs().max())

    def margin_at(a):  # the task's margins with point j moved down by ``offset``
        out = ht.task_margins(dual, 0)(a)
        out[:, j] -= offset
        return out

    coarse = margin_at(alpha)[:, j]
    assert not (torch.sign(coarse[1:]) != torch.sign(coarse[:-1])).any()  # the grid sees no jump
    at, point, _ = ht.count_jumps(margin_at, alpha, margin_at(alpha), levels=3)
    truth = m.clone()
    truth[:, j] -= offset
    expected = int((torch.sign(truth[1:, j]) != torch.sign(truth[:-1, j])).sum())
    assert expected >= 2
    assert int((point == j).sum()) == expected


@pytest.mark.parametrize("H,n_val", [(4, 40), (8, 80)])
def test_jumps_stay_under_the_bound_2H_nval(H, n_val):
    for seed in range(3):
        tasks, W, b, dual = small_task(H=H, n=30, n_val=n_val, seed=seed, ridge=1e-6)
        alpha = torch.linspace(0, 1, 201, dtype=torch.float64)
        at, point, _ = ht.count_jumps(ht.task_margins(dual, 0), alpha, ht.margins(dual, alpha)[0])
        assert len(at) <= 2 * H * n_val
        assert max(np.bincount(point, minlength=n_val)) <= 2 * H  # each point: at most 2H roots


def test_features_are_linear_in_alpha():
    Z = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for pair, sigma0 in (("relu-linear", lambda z: z), ("relu-tanh", torch.tanh)):
        A, B = ht.activation_parts(Z, pair)
        for a in (0.0, 0.3, 1.0):
            np.testing.assert_allclose(A + a * B, a * torch.relu(Z) + (1 - a) * sigma0(Z), atol=1e-15)


def test_left_most_argmax_breaks_ties_to_the_smallest_alpha():
    u = np.array([[0.1, 0.5, 0.5, 0.2], [0.7, 0.7, 0.7, 0.7]])
    assert ht.left_argmax(u).tolist() == [1, 0]


def test_learning_curve_on_identical_tasks_has_no_gap():
    """When every task has the same u, the tuned α is the best α and the gap is zero."""
    u = np.tile(np.array([0.2, 0.9, 0.9, 0.1]), (8, 1))
    curve = ht.learning_curve(u, u[:3], ht.task_counts(4), 5, np.random.default_rng(0))
    assert np.all(curve["gap"] == 0) and np.all(curve["excess"] == 0)
    assert np.all(curve["alpha_index"] == 1)


def test_learning_curve_subsets_are_distinct_tasks():
    """Subsets are drawn without replacement: with N = M every repetition sees the whole pool."""
    rng = np.random.default_rng(1)
    u = rng.random((6, 5))
    fresh = rng.random((4, 5))
    curve = ht.learning_curve(u, fresh, np.array([6]), 3, rng)
    k = ht.left_argmax(u.mean(0))
    np.testing.assert_allclose(curve["gap"][0], u.mean(0)[k] - fresh.mean(0)[k])


def test_task_counts_are_powers_of_two_up_to_tasks():
    assert ht.task_counts(32).tolist() == [1, 2, 4, 8, 16, 32]
    assert ht.task_counts(20).tolist() == [1, 2, 4, 8, 16, 20]
    assert ht.task_counts(1).tolist() == [1]


def test_a_quick_run_fills_its_frame_and_metrics():
    frames = list(ht.run(ht.Params.preset("quick", device="cpu")))
    first, last = frames[0], frames[-1]
    assert first.u_shown.shape[0] == 0 and last.u_shown.shape == (ht.SHOWN, last.alpha.size)
    m = last.metrics
    assert m["jump_bound"] == 2 * 32 * 100
    assert len(m["jumps_per_task"]) == ht.COUNTED and m["jumps_max"] <= m["jump_bound"]
    assert m["curve"]["N"][-1] == m["tasks"] == 16
    assert 0 <= m["generalization_gap"] < 0.2 and m["excess"] >= 0
    # the shown tasks' jumps: one per sign change, each moving u by ±1/n_val
    shown = last.jump_task == 0
    steps = np.diff(last.u_shown[0])
    assert np.isclose(last.jump_size[shown].sum(), last.u_shown[0, -1] - last.u_shown[0, 0])
    assert np.abs(steps).sum() <= np.abs(last.jump_size[shown]).sum() + 1e-12


def test_runs_are_reproducible_from_the_seed():
    a = ht.final_frame({**ht.Params.QUICK, "tasks": 4, "fresh_tasks": 10})
    b = ht.final_frame({**ht.Params.QUICK, "tasks": 4, "fresh_tasks": 10})
    np.testing.assert_array_equal(a.gap, b.gap)
    np.testing.assert_array_equal(a.jumps, b.jumps)


def test_results_do_not_depend_on_the_chunking(monkeypatch):
    """Each task draws from its own stream, so smaller solve chunks give the same run."""
    sizes = {**ht.Params.QUICK, "tasks": 4, "fresh_tasks": 10}
    a = ht.final_frame(sizes)
    monkeypatch.setattr(ht, "GRID_ELEMS", 101 * 32 * 32)  # one task per chunk
    b = ht.final_frame(sizes)
    np.testing.assert_array_equal(a.jumps, b.jumps)
    np.testing.assert_allclose(a.u_pool, b.u_pool, rtol=0, atol=0)
    np.testing.assert_allclose(a.gap, b.gap, rtol=0, atol=0)

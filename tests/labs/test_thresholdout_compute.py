"""Unit tests for the reusable-holdout lab's computation (paperscope.labs.thresholdout).

Oracles: a one-query-at-a-time Thresholdout with the pseudocode's budget rule, and a float64
numpy port of the authors' ``runClassifier`` (one matrix-vector product per k); the fast
conditional sampler is checked exactly (its columns reproduce the drawn correlations) and in
distribution against the authors' full matrices. The claims are declared in
``paperscope.claims.thresholdout`` (checked by tests/test_claims.py).
"""

import json
import math

import numpy as np
import pytest
import torch

from paperscope.core.errors import DivergenceError, ParamError
from paperscope.labs import thresholdout as th

F64 = torch.float64
CPU = torch.device("cpu")


def last_frame(**overrides):
    return list(th.run(th.Params(**{"device": "cpu", **overrides})))[-1]


# --- oracles ----------------------------------------------------------------------------------


def reference_thresholdout(train, holdout, T, eta, xi, budget, gamma=None):
    """Thresholdout, one query at a time, as the paper's pseudocode reads: T̂ = T + γ_0, redrawn
    (the next γ) only after an over-threshold answer; ⊥ (NaN) once the budget is spent.
    ``gamma=None``: T̂ = T throughout (the authors' Gaussian code, all noise in η)."""
    answers, over = [], []
    B, j = budget, 0
    T_hat = T + (0.0 if gamma is None else gamma[0])
    for t, h, e, x in zip(train, holdout, eta, xi):
        if B < 1:
            answers.append(math.nan)
            over.append(False)
        elif abs(h - t) > T_hat + e:
            B -= 1
            answers.append(h + x)
            over.append(True)
            if gamma is not None:
                j += 1
                T_hat = T + gamma[j]
        else:
            answers.append(t)
            over.append(False)
    return np.array(answers), np.array(over)


def reference_accuracies(Xs, ys, h_answer, ks):
    """The authors' runClassifier for one repetition (float64 numpy, one matvec per k).

    ``Xs``: the three (n, d) matrices, ``ys``: their labels; returns (3, Q) accuracies and the
    number of kept features."""
    n = len(ys[0])
    c = Xs[0].T @ ys[0] / n
    floor = 1 / np.sqrt(n)
    with np.errstate(invalid="ignore"):  # NaN (⊥) compares False: never kept
        selected = ((c > floor) & (h_answer > floor)) | ((c < -floor) & (h_answer < -floor))
    answers = np.where(selected, c, 0.0)
    ranking = np.abs(answers).argsort()
    acc = np.zeros((3, len(ks)))
    for q, k in enumerate(ks):
        w = np.zeros(len(c))
        top = ranking[-k:]
        w[top] = np.sign(answers[top])
        for s in range(3):
            acc[s, q] = np.count_nonzero(np.sign(Xs[s] @ w) == ys[s]) / n
    return acc, int(selected.sum())


def full_data(R, n, d, signal=0, seed=0):
    """Full matrices in float64 and the analyst's view of them."""
    gen = torch.Generator().manual_seed(seed)
    batch = th.draw_full(R, n, d, signal, gen, CPU, F64)
    # Rebuild the matrices the batch came from (same generator, same order).
    gen = torch.Generator().manual_seed(seed)
    y = th.labels(R, n, gen, CPU, F64)
    X = torch.randn(3, R, d, n, generator=gen, dtype=F64)
    X[:, :, :signal] += (th.SIGNAL_BIAS / math.sqrt(n)) * y.unsqueeze(2)
    return batch, X, y


# --- the mechanism ----------------------------------------------------------------------------


@pytest.mark.parametrize("dist", ["gaussian", "laplace"])
@pytest.mark.parametrize("budget", [math.inf, 0, 1, 7])
def test_thresholdout_matches_the_sequential_algorithm(budget, dist):
    g = torch.Generator().manual_seed(1)
    R, Q = 4, 300
    train = torch.rand(R, Q, generator=g, dtype=F64)
    holdout = train + 0.05 * torch.randn(R, Q, generator=g, dtype=F64)
    noise = th.mechanism_noise((R, Q), 0.01, dist, g, CPU, F64)
    assert (noise.gamma is None) == (dist == "gaussian")
    answers, over = th.thresholdout(train, holdout, 0.04, noise.eta, noise.xi,
                                    torch.full((R,), float(budget), dtype=F64), noise.gamma)
    for r in range(R):
        gamma = None if noise.gamma is None else noise.gamma[r].numpy()
        ref, ref_over = reference_thresholdout(train[r].numpy(), holdout[r].numpy(), 0.04,
                                               noise.eta[r].numpy(), noise.xi[r].numpy(), budget, gamma)
        np.testing.assert_array_equal(answers[r].numpy(), ref)  # NaN positions included
        np.testing.assert_array_equal(over[r].numpy(), ref_over)
        assert over[r].sum() <= budget
    if budget == math.inf:
        assert 0 < int(over.sum()) < R * Q  # both branches exercised


def test_the_threshold_noise_is_redrawn_only_after_an_over_threshold_answer():
    """The paper's sparse-vector rule on a hand-made sequence: after the over-threshold answer
    at query 1, γ_1 = 10 raises T̂ and keeps it raised through the under-threshold answers that
    follow. Redrawing γ at every query (γ_3 = 0 at query 3) or never (γ_0 = 0) would put
    queries 3 and 4 over the threshold."""
    gap = torch.tensor([[0.5, 2.0, 0.5, 2.0, 2.0, 0.5]], dtype=F64)
    train = torch.zeros_like(gap)
    gamma = torch.tensor([[0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=F64)  # γ_0, γ_1, ...
    zero = torch.zeros_like(gap)
    answers, over = th.thresholdout(train, gap, 1.0, zero, zero, torch.tensor([math.inf], dtype=F64), gamma)
    assert over[0].tolist() == [False, True, False, False, False, False]
    np.testing.assert_array_equal(answers[0].numpy(), [0.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    # T̂_i = T + γ_{c_i}: T before the first over answer, T + γ_1 after it, unchanged to the end.
    np.testing.assert_array_equal(th.noisy_threshold(1.0, gamma, over)[0].numpy(), [1, 1, 11, 11, 11, 11])
    # γ_1 = -0.8 instead: T̂ = 0.2 after query 1, so every later query is over and redraws γ.
    gamma[0, 1] = -0.8
    _, over = th.thresholdout(train, gap, 1.0, zero, zero, torch.tensor([math.inf], dtype=F64), gamma)
    assert over[0].tolist() == [False, True, True, True, True, False]  # γ_2 = 0: T̂ = 1 again
    # The γ in force afterwards (where the next batch of queries starts) is γ_{number of overs}.
    noise = th.Noise(gamma, zero, zero)
    assert th.threshold_noise_after(noise, over).item() == gamma[0, 4].item()


@pytest.mark.parametrize("dist", ["gaussian", "laplace"])
def test_noise_scales(dist):
    g = torch.Generator().manual_seed(2)
    gamma, eta, xi = th.mechanism_noise((400_000,), 0.5, dist, g, CPU, F64)
    if dist == "gaussian":  # N(0, σ²) for both, no threshold noise of its own
        assert gamma is None
        assert eta.std().item() == pytest.approx(0.5, rel=0.01) and xi.std().item() == pytest.approx(0.5, rel=0.01)
    else:  # Lap(b): E|x| = b. γ ~ Lap(2σ), one more draw than queries; η ~ Lap(4σ); ξ ~ Lap(σ)
        assert gamma.shape == (400_001,)
        for x, b in ((gamma, 1.0), (eta, 2.0), (xi, 0.5)):
            assert x.abs().mean().item() == pytest.approx(b, rel=0.01)
            assert x.var().item() == pytest.approx(2 * b**2, rel=0.03)
        assert abs(gamma.mean().item()) < 0.01
    assert abs(eta.mean().item()) < 0.01 and abs(xi.mean().item()) < 0.01


def test_laplace_inverse_cdf_has_no_infinities():
    g = torch.Generator().manual_seed(3)
    x = th.laplace((10**6,), 1.0, g, CPU)
    assert torch.isfinite(x).all()
    assert x.abs().mean().item() == pytest.approx(1.0, rel=0.01)


# --- the analyst against the authors' code ----------------------------------------------------


@pytest.mark.parametrize("signal", [0, 15])
def test_analyst_matches_the_authors_classifier(signal):
    R, n, d = 3, 300, 400
    batch, X, y = full_data(R, n, d, signal)
    ks = np.array([1, 5, 20, 40, 80, 400])  # past the kept features, too (weights 0)
    acc, kept = th.analyst(batch, batch.corr[1], ks)
    for r in range(R):
        Xs = [X[s, r].T.numpy() for s in range(3)]
        ys = [y[s, r].numpy() for s in range(3)]
        h = Xs[1].T @ ys[1] / n
        ref, ref_kept = reference_accuracies(Xs, ys, h, ks)
        np.testing.assert_allclose(acc[:, r].numpy(), ref, atol=1e-12)
        assert int(kept[r]) == ref_kept


def test_a_run_chunk_is_the_reference_pipeline():
    """Both mechanisms end to end, with a budget that runs out mid-way for some repetitions."""
    R, n, d = 3, 300, 400
    batch, X, y = full_data(R, n, d, signal=5, seed=4)
    params = th.Params(n=n, d=d, threshold=2.0, noise=1.0, budget=24, noise_dist="laplace")
    ks = th.round_sizes(th.Params(d=d, rounds=6, k_step=8))
    out = th.run_chunk(batch, params, ks, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same noise, drawn in the documented order
    T, sigma = 2.0 / math.sqrt(n), 1.0 / math.sqrt(n)
    gamma1, eta1, xi1 = (a.numpy() for a in th.mechanism_noise((R, d), sigma, "laplace", g, CPU, F64))
    gamma2, eta2, xi2 = (a.numpy() for a in th.mechanism_noise((R, len(ks)), sigma, "laplace", g, CPU, F64))
    locked = 0
    for r in range(R):
        Xs = [X[s, r].T.numpy() for s in range(3)]
        ys = [y[s, r].numpy() for s in range(3)]
        c, h = (Xs[s].T @ ys[s] / n for s in range(2))
        std, _ = reference_accuracies(Xs, ys, h, ks)
        h_thr, over1 = reference_thresholdout(c, h, T, eta1[r], xi1[r], 24, gamma1[r])
        thr, _ = reference_accuracies(Xs, ys, h_thr, ks)
        # One mechanism throughout: the accuracy queries start with the γ in force after the
        # feature queries, and draw the next ones from the second batch.
        gamma = np.concatenate([[gamma1[r][over1.sum()]], gamma2[r][1:]])
        reported, over2 = reference_thresholdout(thr[0], thr[1], T, eta2[r], xi2[r], 24 - over1.sum(), gamma)
        for field, ref in (("train", (std[0], thr[0])), ("fresh", (std[2], thr[2])),
                           ("holdout", (std[1], reported))):
            np.testing.assert_allclose(out[field][r].numpy(), np.stack(ref), atol=1e-12)
        spent = np.cumsum(np.concatenate([[over1.sum()], over2]))
        np.testing.assert_array_equal(out["spent"][r].numpy(), spent)
        locked += np.isnan(reported).sum()
    assert locked > 0  # the budget did run out


def test_no_threshold_and_no_noise_is_the_standard_holdout():
    f = last_frame(n=500, d=500, reps=3, threshold=0.0, noise=0.0)
    for field in ("train", "holdout", "fresh", "n_selected"):
        np.testing.assert_array_equal(getattr(f, field)[:, 0], getattr(f, field)[:, 1])


def test_a_huge_threshold_reports_training_accuracy():
    f = last_frame(n=500, d=500, reps=3, threshold=100.0)
    np.testing.assert_array_equal(f.holdout[:, 1], f.train[:, 1])
    assert (f.spent == 0).all()


# --- the conditional sampler ------------------------------------------------------------------


def test_conditional_columns_reproduce_the_drawn_correlations():
    R, n, d, signal = 3, 500, 300, 10
    batch = th.draw_conditional(R, n, d, signal, torch.Generator().manual_seed(6), CPU, F64)
    for s in range(2):
        corr = torch.einsum("rmn,rn->rm", batch.cols[s], batch.y[s]) / n  # yᵀx_j / n per column
        np.testing.assert_allclose(corr.numpy(), batch.corr[s].gather(1, batch.idx).numpy(), atol=1e-12)
        resid = batch.cols[s] - batch.corr[s].gather(1, batch.idx).unsqueeze(-1) * batch.y[s].unsqueeze(1)
        assert resid.var().item() == pytest.approx(1.0, abs=0.02)  # the orthogonal part is N(0, I - yyᵀ/n)
    assert (batch.corr[0].gather(1, batch.idx).abs() > 1 / math.sqrt(n))[batch.valid].all()
    assert int(batch.valid.sum(1).min()) == int((batch.corr[0].abs() > 1 / math.sqrt(n)).sum(1).min())
    # Fresh signal columns carry their bias towards the label, the others none.
    y_f, fresh = batch.y[2], batch.cols[2]
    bias = (torch.einsum("rmn,rn->rm", fresh, y_f) / n)[batch.valid]
    is_signal = (batch.idx < signal)[batch.valid]
    assert bias[is_signal].mean().item() == pytest.approx(th.SIGNAL_BIAS / math.sqrt(n), abs=0.02)
    assert abs(bias[~is_signal].mean().item()) < 0.01


def test_conditional_and_full_samplers_agree_in_distribution():
    """Mean results over many repetitions: the shortcut against the authors' full matrices."""
    common = {"n": 400, "d": 400, "rounds": 5, "k_step": 4, "reps": 240, "signal": 5}
    a, b = last_frame(sampler="conditional", seed=7, **common), last_frame(sampler="full", seed=8, **common)
    for field in ("train", "holdout", "fresh", "n_selected", "spent"):
        x, z = (getattr(f, field).reshape(common["reps"], -1) for f in (a, b))
        se = np.sqrt(x.var(0) / len(x) + z.var(0) / len(z)) + 1e-9
        assert (np.abs(x.mean(0) - z.mean(0)) < 4.5 * se).all(), field


# --- runs, frames, metrics --------------------------------------------------------------------


def test_frames_and_metrics():
    params = th.Params.preset("quick", device="cpu")
    frames = list(th.run(params))
    assert frames[0].step == 0 and frames[0].train.shape == (0, 2, params.rounds)
    last = frames[-1]
    assert last.step == last.total_steps == params.reps and last.done
    m = last.metrics
    json.dumps(m, allow_nan=False)  # plain JSON numbers
    for name in ("holdout_acc", "fresh_acc", "holdout_minus_fresh", "train_acc"):
        assert m[name] == m[f"thresholdout_{name}"]  # the selected mechanism's
    assert m["holdout_minus_fresh"] == pytest.approx(np.mean(last.holdout[:, 1, -1] - last.fresh[:, 1, -1]))
    assert m["standard_train_acc"] == pytest.approx(last.train[:, 0, -1].mean())
    assert m["k_last"] == params.rounds * params.k_step


def test_mean_sd_matches_numpy_and_skips_locked_answers():
    g = np.random.default_rng(0)
    a = g.normal(size=(7, 5))
    a[2, 1] = a[4, 1] = np.nan
    a[:, 3] = np.nan
    mean, sd = th.mean_sd(a)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(mean, np.nanmean(a, 0))
        np.testing.assert_allclose(sd, np.nanstd(a, 0))
    empty_mean, _ = th.mean_sd(np.zeros((0, 4)))
    assert np.isnan(empty_mean).all()


def test_max_error_so_far_is_the_running_worst_answer():
    reported = np.array([[0.6, 0.5, 0.9, np.nan, 0.5], [np.nan, np.nan, 0.55, 0.4, 0.5]])
    fresh = np.full_like(reported, 0.5)
    expected = np.array([[0.1, 0.1, 0.4, 0.4, 0.4], [np.nan, np.nan, 0.05, 0.1, 0.1]])  # ⊥ skipped
    np.testing.assert_allclose(th.max_error_so_far(reported, fresh), expected)
    f = last_frame(n=500, d=500, reps=4)
    for m, mech in enumerate(th.MECHANISMS):
        worst = np.abs(f.holdout[:, m] - f.fresh[:, m]).max(1)  # no ⊥ without a budget
        assert f.metrics[f"{mech}_max_abs_error"] == pytest.approx(worst.mean())


def test_a_locked_holdout_reports_none_not_nan():
    f = last_frame(n=500, d=500, reps=2, budget=1)
    assert f.metrics["holdout_acc"] is None and f.metrics["answered"] == 0.0
    assert f.metrics["standard_holdout_acc"] is not None
    json.dumps(f.metrics, allow_nan=False)


def test_runs_are_reproducible_and_the_standard_holdout_ignores_thresholdout_knobs():
    a, b = last_frame(n=600, d=600, reps=3), last_frame(n=600, d=600, reps=3)
    np.testing.assert_array_equal(a.holdout, b.holdout)
    c = last_frame(n=600, d=600, reps=3, threshold=1.0, noise=2.0, noise_dist="laplace", budget=30)
    for field in ("train", "holdout", "fresh"):  # same data, so the standard holdout is unchanged
        np.testing.assert_array_equal(getattr(a, field)[:, 0], getattr(c, field)[:, 0])
    assert not np.array_equal(a.holdout[:, 1], c.holdout[:, 1], equal_nan=True)


def test_laplace_noise_spends_more_budget_than_gaussian():
    """The spec's qualitative statement: at the same σ the Laplace version is noisier."""
    g, lap = last_frame(reps=3), last_frame(reps=3, noise_dist="laplace")
    assert lap.spent[:, -1].mean() > 3 * g.spent[:, -1].mean()


def test_k_is_capped_at_d_with_a_notice():
    f = last_frame(n=300, d=40, reps=1, rounds=5, k_step=10)
    assert list(f.ks) == [10, 20, 30, 40, 40] and "capped" in f.notice


def test_a_non_finite_statistic_raises_a_divergence_error(monkeypatch):
    real = th.run_chunk

    def broken(*args):
        out = real(*args)
        return {**out, "train": out["train"] * math.nan}
    monkeypatch.setattr(th, "run_chunk", broken)
    with pytest.raises(DivergenceError, match="training accuracy.*noise"):
        last_frame(n=300, d=300, reps=1)


def test_sizes_that_cannot_fit_are_refused_with_a_reason():
    with pytest.raises(ParamError, match="sampler=conditional"):
        next(th.run(th.Params(n=20000, d=20000, sampler="full", device="cpu")))

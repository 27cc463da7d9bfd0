"""Unit tests for the rich/lazy lab's computation (paperscope.labs.rich_lazy).

Numerical pieces are checked against independent oracles (closed forms, float64 autograd, K
separate models). The paper's claims are declared in ``paperscope.claims.rich_lazy`` and checked
by ``tests/test_claims.py`` (``Test_rich_lazy``) and ``paperscope verify rich-lazy``.
"""


import numpy as np
import param
import pytest
import torch

from paperscope.core.errors import DivergenceError
from paperscope.labs import rich_lazy as rl

F64 = torch.float64


def final_frame(**overrides):
    *_, last = rl.run(rl.Params(**overrides))
    return last


# --- small pieces ---------------------------------------------------------------------------


def test_effective_rank_of_identity_is_n_and_of_rank_one_is_one():
    assert rl.effective_rank(np.ones(17)) == pytest.approx(17.0, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(20, 1, generator=g, dtype=F64), torch.randn(1, 20, generator=g, dtype=F64)
    s = torch.linalg.svdvals(u @ v)  # one singular value, the rest round-off
    assert rl.effective_rank(s) == pytest.approx(1.0, abs=1e-6)
    assert rl.effective_rank([3.0, 3.0, 0.0]) == pytest.approx(2.0)  # exact zeros are fine


@pytest.mark.parametrize("r", [1, 3, 7, 16])
def test_low_rank_init_has_rank_r_and_the_same_norm(r):
    g = torch.Generator().manual_seed(1)
    W0 = 1.25 * torch.randn(16, 16, generator=g, dtype=F64) / 4
    W = rl.low_rank_init(W0, r)
    assert torch.linalg.matrix_rank(W).item() == r
    assert torch.linalg.matrix_norm(W).item() == pytest.approx(torch.linalg.matrix_norm(W0).item())
    # The kept directions are W0's top singular directions, so the spectrum is a rescaled prefix.
    s0, s = torch.linalg.svdvals(W0)[:r], torch.linalg.svdvals(W)[:r]
    assert torch.allclose(s / s[0], s0 / s0[0])


def test_low_rank_init_is_batched_and_aligned_variant_contains_the_direction():
    g = torch.Generator().manual_seed(2)
    W0 = torch.randn(3, 10, 10, generator=g, dtype=F64)
    W = rl.low_rank_init(W0, 2)
    for i in range(3):
        assert torch.allclose(W[i], rl.low_rank_init(W0[i], 2))
    a = torch.randn(10, generator=g, dtype=F64)
    Wa = rl.low_rank_init(W0[0], 2, align_to=a)
    assert torch.linalg.matrix_rank(Wa).item() == 2
    assert torch.linalg.matrix_norm(Wa).item() == pytest.approx(torch.linalg.matrix_norm(W0[0]).item())
    # a lies in the row space: projecting it onto that space gives it back.
    a = a / a.norm()
    assert torch.allclose(torch.linalg.pinv(Wa) @ (Wa @ a), a, atol=1e-10)
    # ... and along the top singular direction.
    _, _, Vh = torch.linalg.svd(Wa)
    assert abs(float(Vh[0] @ a)) == pytest.approx(1.0)


def test_ranks_for():
    assert rl.ranks_for(100, 3) == [1, 10, 100]
    assert rl.ranks_for(100, 2) == [1, 100]
    r = rl.ranks_for(8, 8)
    assert r == sorted(set(r)) and r[0] == 1 and r[-1] == 8 and len(r) < 8
    for N in (8, 33, 300, 512):
        for n in range(2, 9):
            r = rl.ranks_for(N, n)
            assert r[0] == 1 and r[-1] == N and r == sorted(set(r))


def test_alignment():
    g = torch.Generator().manual_seed(3)
    A, B = torch.randn(2, 5, 7, generator=g, dtype=F64)
    assert float(rl.alignment(A, A)) == pytest.approx(1.0)
    assert float(rl.alignment(A, -2 * A)) == pytest.approx(-1.0)
    AB = rl.alignment(torch.stack([A, A]), torch.stack([A, B]))
    assert AB.shape == (2,) and float(AB[0]) == pytest.approx(1.0) and abs(float(AB[1])) < 1
    assert float(rl.alignment(A.numpy(), A.numpy())) == pytest.approx(1.0)


def test_two_af_task_layout():
    x, labels, signed = rl.two_af_batch(256, torch.Generator().manual_seed(5), "cpu")
    assert x.shape == (8, 256, 3) and labels.shape == (8, 256)
    assert torch.all(x[:7, :, 0] == 1) and torch.all(x[7] == 0)  # fixation off, no input at decision
    assert torch.all(labels[:7] == 0) and set(labels[7].tolist()) == {1, 2}
    left = signed > 0
    assert torch.all(labels[7][left] == 1) and torch.all(labels[7][signed < 0] == 2)
    # Mean evidence difference equals the signed coherence (noise averages out over 7 steps).
    diff = (x[:7, :, 1] - x[:7, :, 2]).mean(0)
    assert torch.allclose(diff, signed, atol=0.25)


# --- batching and kernels against oracles ---------------------------------------------------


@pytest.mark.parametrize("network", ["rnn", "linear"])
def test_batched_ranks_equal_separate_models(network):
    params = rl.Params(network=network, hidden_size=12, batch_size=8, lr=0.01, seed=7,
                       aligned=network == "linear", device="cpu")
    ranks = [1, 4, 12]
    batched = rl.make_trainer(params, ranks, dtype=F64)
    loss, acc = batched.train_steps(30)
    for i, r in enumerate(ranks):
        single = rl.make_trainer(params, [r], dtype=F64)
        loss1, acc1 = single.train_steps(30)
        assert torch.allclose(loss[:, i], loss1[:, 0], rtol=1e-10, atol=1e-12)
        assert torch.allclose(acc[:, i], acc1[:, 0], rtol=1e-10, atol=1e-12)
        for name, w in batched.weights.items():
            assert torch.allclose(w[i], single.weights[name][0], rtol=1e-10, atol=1e-12), name
    assert not torch.allclose(loss[:, 0], loss[:, 2])  # the ranks really differ


def _explicit_kernel(outputs, weights):
    """J J^T with one autograd call per output entry (the slow, obvious way)."""
    rows = []
    for out in outputs.reshape(-1):
        grads = torch.autograd.grad(out, weights, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = torch.stack(rows)
    return J @ J.T


def test_rnn_tangent_kernel_matches_per_output_autograd():
    g = torch.Generator().manual_seed(8)
    K, N, P, T, C = 2, 6, 3, 8, 3
    W_in = torch.randn(K, N, 3, generator=g, dtype=F64)
    W = 0.7 * torch.randn(K, N, N, generator=g, dtype=F64)
    W_out = torch.randn(K, C, N, generator=g, dtype=F64)
    x, _, _ = rl.two_af_batch(P, g, "cpu", F64)
    K_full, K_sum, R = rl.rnn_kernel(W_in, W, W_out, x)
    for k in range(K):
        Wk = W[k].clone().requires_grad_(True)
        y, H = rl.rnn_forward(W_in[k:k + 1], Wk[None], W_out[k:k + 1], x)  # (T, 1, P, C)
        # Rows ordered (t, output unit, trial), as the fast path orders them.
        ref = _explicit_kernel(y[:, 0].permute(0, 2, 1), [Wk])
        assert torch.allclose(K_full[k], ref, rtol=1e-10, atol=1e-10 * ref.abs().max())
        ref_sum = ref.view(T * C, P, T * C, P).diagonal(dim1=0, dim2=2).sum(-1)
        assert torch.allclose(K_sum[k], ref_sum, rtol=1e-10, atol=1e-10 * ref.abs().max())
        assert torch.allclose(R[k], H[-1, 0] @ H[-1, 0].T)


def test_linear_tangent_kernel_matches_per_output_autograd():
    g = torch.Generator().manual_seed(9)
    K, N, P = 3, 5, 4
    W1 = torch.randn(K, N, N, generator=g, dtype=F64)
    W2 = torch.randn(K, 1, N, generator=g, dtype=F64)
    X = torch.randn(P, N, generator=g, dtype=F64)
    K_fast = rl.linear_kernel(W1, W2, X)
    for k in range(K):
        w1, w2 = W1[k].clone().requires_grad_(True), W2[k].clone().requires_grad_(True)
        f, _ = rl.linear_forward(w1[None], w2[None], X)
        assert torch.allclose(K_fast[k], _explicit_kernel(f, [w1, w2]), rtol=1e-12)


# --- the run --------------------------------------------------------------------------------


FRAME_ARRAYS = ["ranks", "effective_rank", "logged_steps", "loss", "accuracy", "weight_change",
                "weight_change_out", "norm_init", "norm_out_init",
                "kernel_steps", "kernel_alignment", "representation_alignment", "sv_init",
                "sv_now", "kernel_init", "kernel_now", "probe_labels"]
METRIC_KEYS = {"effective_rank", "weight_change", "relative_weight_change", "weight_change_out",
               "relative_weight_change_out", "kernel_alignment", "representation_alignment",
               "final_loss", "accuracy"}


@pytest.mark.parametrize("network", ["rnn", "linear"])
def test_frame_schema(network):
    params = rl.Params.preset("quick", network=network, device="cpu")
    N, P = params.hidden_size, params.probe_size
    frames = list(rl.run(params))
    ranks = rl.ranks_for(N, params.n_ranks)
    K = len(ranks)
    assert 50 <= len(frames) <= 210
    assert frames[0].step == 0 and frames[-1].step == params.steps
    assert all(f.metrics is None for f in frames[:-1])
    steps = [f.step for f in frames]
    assert steps == sorted(steps)
    for f in frames:
        assert isinstance(f, rl.RichLazyFrame) and f.network == network
        for name in FRAME_ARRAYS:
            assert isinstance(getattr(f, name), np.ndarray), name
        L, M = len(f.logged_steps), len(f.kernel_steps)
        assert list(f.ranks) == ranks and f.effective_rank.shape == (K,)
        assert f.logged_steps[-1] == f.step and f.kernel_steps[0] == 0
        for name in ("loss", "accuracy", "weight_change", "weight_change_out"):
            assert getattr(f, name).shape == (L, K), name
        assert f.norm_init.shape == f.norm_out_init.shape == (K,)
        for name in ("kernel_alignment", "representation_alignment"):
            assert getattr(f, name).shape == (M, K), name
        assert f.sv_init.shape == f.sv_now.shape == (K, N)
        assert f.kernel_init.shape == f.kernel_now.shape == (K, P, P)
        assert f.probe_labels.shape == (P,)
        assert np.all(np.diff(f.sv_now, axis=1) <= 1e-6 * f.sv_now[:, :1])  # descending
    first, last = frames[0], frames[-1]
    assert np.allclose(first.kernel_alignment, 1) and np.allclose(first.representation_alignment, 1)
    assert np.allclose(first.weight_change, 0)
    assert 8 <= len(last.kernel_steps) <= 12 and last.kernel_steps[-1] == params.steps
    assert np.all(np.diff(last.probe_labels) >= 0)  # probes grouped by class
    assert np.allclose(last.effective_rank[0], 1.0) and last.effective_rank[-1] > 0.6 * N
    # Frames are snapshots: a later frame's history extends an earlier one's (except the last
    # point of an interim frame, a provisional mean over the window so far).
    mid = frames[len(frames) // 2]
    assert np.array_equal(last.loss[: len(mid.loss) - 1], mid.loss[:-1]) and len(mid.loss) > 2
    m = last.metrics
    assert m["network"] == network and set(m["by_rank"]) == {str(r) for r in ranks}
    for r, values in m["by_rank"].items():
        assert set(values) == METRIC_KEYS
        assert all(type(v) is float and np.isfinite(v) for v in values.values()), r
    assert all(np.isfinite(getattr(last, n)).all() for n in FRAME_ARRAYS)


def test_readout_change_after_one_step_is_the_closed_form_gradient_step():
    # One plain SGD step of the linear student: dW2 = -lr * mean_b (f_b - y_b) (W1 x_b)^T, so
    # ||dW2||_F is known in closed form from the batch the trainer draws.
    params = rl.Params(network="linear", hidden_size=10, batch_size=6, lr=0.05, momentum=0.0, seed=2,
                       device="cpu")
    trainer = rl.make_trainer(params, [1, 10], dtype=F64)
    twin = rl.make_trainer(params, [1, 10], dtype=F64)  # same seed: same weights and data stream
    X, y = twin.batch(params.batch_size, twin.data)
    W1, W2 = twin.weights["W1"].detach(), twin.weights["W2"].detach()
    Z = X @ W1.transpose(1, 2)  # (K, B, N)
    residual = Z @ W2.transpose(1, 2) - y[:, None]  # (K, B, 1)
    grad_W2 = (residual.transpose(1, 2) @ Z) / params.batch_size  # (K, 1, N)
    trainer.train_steps(1)
    expected = params.lr * torch.linalg.matrix_norm(grad_W2)
    assert torch.allclose(trainer.weight_change_out(), expected, rtol=1e-10)
    assert torch.allclose(trainer.out0, W2)  # the reference is the untouched start


@pytest.mark.parametrize("network", ["rnn", "linear"])
def test_relative_changes_of_both_layers(network):
    params = rl.Params(network=network, hidden_size=16, steps=40, probe_size=8, n_ranks=2, seed=1, device="cpu")
    last = final_frame(**params.values())
    start = rl.make_trainer(params)  # the same initial weights, built independently
    out0 = start.weights["W_out" if network == "rnn" else "W2"].detach()
    for k, r in enumerate(last.ranks):
        m = last.metrics["by_rank"][str(r)]
        norm, norm_out = torch.linalg.matrix_norm(start.W0[k]), torch.linalg.matrix_norm(out0[k])
        assert m["relative_weight_change"] == pytest.approx(m["weight_change"] / float(norm), rel=1e-5)
        assert m["relative_weight_change_out"] == pytest.approx(m["weight_change_out"] / float(norm_out), rel=1e-5)
        assert m["weight_change_out"] == pytest.approx(float(last.weight_change_out[-1, k]))
        assert m["weight_change_out"] > 0  # the readout trains too
    assert np.allclose(last.norm_init, last.norm_init[0])  # the rescaling keeps ||W_0||_F across ranks


def test_small_runs_carry_the_notice_and_the_paper_sizes_do_not():
    small = rl.Params(hidden_size=48, steps=600, device="cpu")
    assert rl.small_size_notice(small) == rl.SMALL_SIZE_NOTICE
    assert rl.small_size_notice(rl.Params(device="cpu")) == ""
    assert rl.small_size_notice(rl.Params.preset("quick")) == ""  # the quick preset is big enough
    assert rl.small_size_notice(rl.Params(hidden_size=48, network="linear")) == ""  # rnn only
    *_, last = rl.run(rl.Params(hidden_size=12, steps=5, probe_size=4, device="cpu"))
    assert last.notice == rl.SMALL_SIZE_NOTICE


def test_scale_sweep_matches_single_runs_and_marks_divergence():
    params = rl.Params(hidden_size=12, steps=20, probe_size=4, n_ranks=2, lr=0.3, device="cpu")
    sweep = rl.scale_sweep(params, scales=(0.5, 5.0), seeds=(0, 1))
    assert sweep["ranks"].tolist() == [1, 12] and sweep["kernel_alignment"].shape == (2, 2, 2)
    # A huge g at a high learning rate blows up: NaN and flagged, while the small g runs finish.
    assert sweep["diverged"].tolist() == [[False, False], [True, True]]
    assert np.isnan(sweep["weight_change"][1]).all() and np.isfinite(sweep["weight_change"][0]).all()
    one = final_frame(**{**params.values(), "init_scale": 0.5, "seed": 1}).metrics["by_rank"]
    for k, r in enumerate(sweep["ranks"]):
        for name in ("relative_weight_change", "kernel_alignment", "representation_alignment", "accuracy"):
            assert sweep[name][0, 1, k] == one[str(r)][name], name


def test_same_seed_same_metrics_other_seed_differs():
    quick = dict(rl.Params.QUICK, steps=30, device="cpu")
    a, b = final_frame(seed=3, **quick).metrics, final_frame(seed=3, **quick).metrics
    c = final_frame(seed=4, **quick).metrics
    assert a == b
    assert a != c


def test_huge_learning_rate_raises_divergence_naming_step_and_lr():
    params = rl.Params.preset("quick", lr=1.0, init_scale=5.0, device="cpu")
    with pytest.raises(DivergenceError) as info:
        for _ in rl.run(params):
            pass
    message = str(info.value)
    assert "at step" in message and "lr=1" in message
    step = int(message.split("at step ")[1].split(":")[0])
    assert 1 <= step <= params.steps


def test_params_are_declared_with_bounds_and_docs():
    for name in rl.Params.names():
        if name in ("seed", "device"):  # shared, declared by LabParams
            continue
        p = rl.Params.param[name]
        assert p.doc, name
        if isinstance(p, param.Number):
            assert p.bounds is not None and p.softbounds is not None, name
    rl.Params.preset("quick")  # the quick sizes are valid values
    assert set(rl.Params.QUICK) <= set(rl.Params.names())
    assert rl.Params.param["lr"].inclusive_bounds == (False, True)

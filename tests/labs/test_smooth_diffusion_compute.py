"""Unit tests for the Smooth Diffusion lab's computation (paperscope.labs.smooth_diffusion).

Numerical pieces are checked against independent oracles: closed forms (a network that predicts
zero noise, a noise prediction that ignores x, Gaussian data), brute-force Jacobians in float64,
numpy. The paper's claims are declared in paperscope.claims.smooth_diffusion and checked by
tests/test_claims.py (and ``paperscope verify smooth-diffusion``).
"""

import collections
import gc
import itertools
import math
import weakref

import numpy as np
import pytest
import torch

from paperscope.core.errors import DivergenceError
from paperscope.labs import smooth_diffusion as sd

F64 = torch.float64


def small_net(K=2, hidden=16, seed=0, dtype=F64):
    return sd.init_mlp(hidden, torch.Generator().manual_seed(seed), K, "cpu", dtype)


def perturbed(net, seed=1, scale=0.5):
    """The same architecture with K different random weights (not the shared initialisation)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.trainable():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


@pytest.fixture(autouse=True)
def fresh_cache():
    sd.clear_cache()
    yield
    sd.clear_cache()


# --- Step-wise Variation Regularization ------------------------------------------------------


def test_v_of_a_zero_noise_predictor_is_the_explicit_path_alone():
    """eps_theta = 0 gives x0_hat = x0 + (sigma/alpha) eps, so J = (sigma/alpha) I and
    v = sigma^2/alpha |u|. Were the noise made a leaf after x_t, v would be 0."""
    net = small_net(K=1)
    with torch.no_grad():
        net.weights[-1].zero_()
        net.biases[-1].zero_()
    sched = sd.make_schedule(dtype=F64)
    g = torch.Generator().manual_seed(0)
    B = 50
    x0, eps, u = (torch.randn(B, sd.D, generator=g, dtype=F64) for _ in range(3))
    t = torch.randint(sd.T_STEPS, (B,), generator=g)
    _, v = sd.step_variation(net, x0, t, eps, u, sched, create_graph=False)
    expected = sched.sigma[t] ** 2 / sched.alpha[t] * u.norm(dim=1)
    assert torch.allclose(v[0], expected, rtol=1e-12)


def test_v_matches_a_brute_force_jacobian():
    """v = |sigma_t J^T u| with J = d x0_hat / d eps from torch.autograd.functional.jacobian."""
    net = perturbed(small_net(K=2))
    sched = sd.make_schedule(dtype=F64)
    g = torch.Generator().manual_seed(3)
    B = 6
    x0, eps = torch.randn(B, sd.D, generator=g, dtype=F64), torch.randn(B, sd.D, generator=g, dtype=F64)
    u = torch.randn(B, sd.D, generator=g, dtype=F64) / 8
    t = torch.tensor([0, 5, 40, 100, 150, 199])
    _, v = sd.step_variation(net, x0, t, eps, u, sched, create_graph=False)
    for k in range(2):
        member = net.member(k)
        for b in range(B):
            a, s = sched.alpha[t[b]], sched.sigma[t[b]]

            def x0_hat(e, b=b, a=a, s=s, member=member):
                x_t = a * x0[b] + s * e
                return (x_t - s * member(x_t.view(1, 1, -1), t[b:b + 1])[0, 0]) / a
            J = torch.autograd.functional.jacobian(x0_hat, eps[b])  # (D, D)
            assert float(v[k, b]) == pytest.approx(float((s * J.T @ u[b]).norm()), rel=1e-10)


def test_svr_penalty_is_the_repo_formula_with_the_gradient_through_the_target():
    g = torch.Generator().manual_seed(0)
    v = (torch.rand(2, 7, generator=g, dtype=F64) * 5).requires_grad_(True)
    a = torch.tensor([0.0, 2.0], dtype=F64)
    decay = 0.01
    L, a_new = sd.svr_penalty(v, a, decay)
    vn, an = v.detach().numpy(), a.numpy()
    a_ref = an + decay * (vn.mean(1) - an)
    assert np.allclose(a_new.detach().numpy(), a_ref)
    assert np.allclose(L.detach().numpy(), ((vn - a_ref[:, None]) ** 2).mean(1))
    # The updated target is not detached inside the penalty (as in step_regularize).
    (grad,) = torch.autograd.grad(L.sum(), v)
    B = vn.shape[1]
    r = vn - a_ref[:, None]
    expected = 2 / B * r - 2 / B * r.sum(1, keepdims=True) * decay / B
    assert np.allclose(grad.numpy(), expected)


def test_a_batched_pair_trains_exactly_as_two_separate_models():
    """One K = 2 trainer with lambda = (0, 0.5) against a K = 1 trainer per lambda, same seeds."""
    X = torch.as_tensor(sd.to_model_scale(sd.digits_pixels()[:200]), dtype=F64)
    sched = sd.make_schedule(dtype=F64)

    def trained(lambdas):
        net = sd.init_mlp(16, torch.Generator().manual_seed(0), len(lambdas), "cpu", F64)
        tr = sd.Trainer(net, lambdas, X=X, sched=sched, batch_size=32, lr=3e-3, steps=15, ema_decay=0.05,
                        data_gen=torch.Generator().manual_seed(1), proj_gen=torch.Generator().manual_seed(2))
        log = tr.train_steps(15)
        return tr, log
    pair, pair_log = trained([0.0, 0.5])
    for k, lam in enumerate((0.0, 0.5)):
        alone, log = trained([lam])
        for W_pair, W_alone in zip(pair.net.trainable(), alone.net.trainable()):
            assert torch.allclose(W_pair[k], W_alone[0], rtol=1e-9, atol=1e-12)
        assert torch.allclose(pair_log[:, 0, k], log[:, 0, 0], rtol=1e-9)
    assert not torch.allclose(pair.net.weights[0][0], pair.net.weights[0][1])  # lambda did act
    assert torch.isfinite(log[:, 1]).all()  # the lambda > 0 model logs its penalty every step


def test_lora_starts_at_the_base_model_and_merges_exactly():
    base = perturbed(small_net(K=1)).member(0)
    lora = sd.with_lora(base, 2, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(6)
    x, t = torch.randn(2, 9, sd.D, generator=g, dtype=F64), torch.randint(200, (9,), generator=g)
    assert torch.allclose(lora(x, t), sd.EpsMLP.stack([base, base])(x, t))
    assert len(lora.trainable()) == 8 and all(p.requires_grad for p in lora.trainable())
    assert all(not W.requires_grad for W in lora.weights)
    with torch.no_grad():
        for B in lora.lora_B:
            B.normal_(generator=g)
    merged = sd.EpsMLP.stack([lora.member(0), lora.member(1)])
    assert torch.allclose(lora(x, t), merged(x, t), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(lora(x, t), sd.EpsMLP.stack([base, base])(x, t))


# --- DDIM, interpolation and the metrics -----------------------------------------------------


def test_ddim_inversion_is_exact_when_the_noise_prediction_is_constant():
    """With eps_theta(x, t) = c each DDIM step is affine in x and the inversion (eps taken at the
    lower noise level) undoes it exactly; with c(t) it would not, that is its approximation."""
    net = perturbed(small_net(K=2))
    with torch.no_grad():
        net.weights[0].zero_()  # the first layer sees neither x nor t: the output is a constant per model
    sched = sd.make_schedule(dtype=F64)
    x0 = torch.randn(2, 20, sd.D, generator=torch.Generator().manual_seed(0), dtype=F64)
    for steps in (5, 25, 200):
        taus = sd.ddim_timesteps(steps)
        z = sd.ddim_invert(net, x0, sched, taus)
        assert torch.allclose(sd.ddim_sample(net, z, sched, taus), x0, atol=1e-8)
    with torch.no_grad():  # a t-dependent constant breaks exactness: the test can fail
        net.weights[0][:, sd.D:] = torch.randn(2, sd.EMB_DIM, 16, generator=torch.Generator().manual_seed(1),
                                               dtype=F64)
    z = sd.ddim_invert(net, x0, sched, sd.ddim_timesteps(5))
    assert not torch.allclose(sd.ddim_sample(net, z, sched, sd.ddim_timesteps(5)), x0, atol=1e-3)


class GaussianOracle:
    """The exact noise prediction for data N(0, s^2 I): eps*(x_t) = sigma_t x_t / (alpha_t^2 s^2 + sigma_t^2)."""

    def __init__(self, s, sched):
        self.s, self.sched, self.K = s, sched, 1

    def __call__(self, x, t):
        a, sg = self.sched.alpha[t][None, :, None], self.sched.sigma[t][None, :, None]
        return sg * x / (a ** 2 * self.s ** 2 + sg ** 2)


def test_ddim_on_gaussian_data_matches_the_closed_form_and_the_data_scale():
    s = 0.5
    sched = sd.make_schedule(dtype=F64)
    a, sg = sched.alpha.numpy(), sched.sigma.numpy()
    z = torch.randn(1, 4000, sd.D, generator=torch.Generator().manual_seed(0), dtype=F64)
    for steps in (10, 200):
        taus = sd.ddim_timesteps(steps)
        # Each step multiplies x by a scalar: (alpha_s alpha_t s^2 + sigma_s sigma_t) / V_t.
        factor = 1.0
        for i in range(len(taus) - 1, -1, -1):
            t = taus[i]
            V = a[t] ** 2 * s ** 2 + sg[t] ** 2
            factor *= (a[taus[i - 1]] * a[t] * s ** 2 + sg[taus[i - 1]] * sg[t]) / V if i > 0 else a[t] * s ** 2 / V
        x = sd.ddim_sample(GaussianOracle(s, sched), z, sched, taus)
        assert torch.allclose(x, factor * z, rtol=1e-10)
    assert float(x.std()) == pytest.approx(s, rel=0.03)  # 200 steps: the probability-flow ODE's answer


def test_slerp_and_lerp_against_numpy():
    g = np.random.default_rng(0)
    A, B = g.standard_normal((5, sd.D)), g.standard_normal((5, sd.D))
    Z = sd.interpolate(torch.tensor(A), torch.tensor(B), 11, "slerp").numpy()
    for p in range(5):
        theta = np.arccos(A[p] @ B[p] / (np.linalg.norm(A[p]) * np.linalg.norm(B[p])))
        for j, w in enumerate(np.linspace(0, 1, 11)):
            ref = (np.sin((1 - w) * theta) * A[p] + np.sin(w * theta) * B[p]) / np.sin(theta)
            assert np.allclose(Z[p, j], ref)
    assert np.allclose(Z[:, 0], A) and np.allclose(Z[:, -1], B)
    # Orthogonal unit vectors stay on the unit circle under slerp; lerp's midpoint shrinks to 1/sqrt 2.
    e1, e2 = torch.eye(sd.D, dtype=F64)[:1], torch.eye(sd.D, dtype=F64)[1:2]
    assert torch.allclose(sd.interpolate(e1, e2, 11, "slerp").norm(dim=-1), torch.ones(1, 11, dtype=F64))
    assert float(sd.interpolate(e1, e2, 11, "lerp")[0, 5].norm()) == pytest.approx(1 / math.sqrt(2))
    with pytest.raises(ValueError):
        sd.interpolate(e1, e2, 11, "cubic")


def test_istd_cv_and_distances_against_numpy():
    # Evenly paced frames: every d_j is equal, ISTD and CV are 0.
    even = torch.arange(11, dtype=F64)[None, :, None] * torch.ones(3, 11, sd.D, dtype=F64)
    d = sd.adjacent_distances(even)
    assert torch.allclose(d, torch.full((3, 10), 8.0, dtype=F64))
    assert float(sd.istd(d)) == 0.0 and float(sd.coefficient_of_variation(d)) == 0.0
    frames = np.random.default_rng(1).standard_normal((2, 7, 11, sd.D))
    d_ref = np.linalg.norm(np.diff(frames, axis=2), axis=-1)  # (2, 7, 10)
    d = sd.adjacent_distances(torch.tensor(frames))
    assert np.allclose(d.numpy(), d_ref)
    assert np.allclose(sd.istd(d).numpy(), d_ref.std(-1).mean(-1))  # numpy's std: ddof = 0
    assert np.allclose(sd.coefficient_of_variation(d).numpy(), (d_ref.std(-1) / d_ref.mean(-1)).mean(-1))


def test_nearest_rms_quality_proxy_by_brute_force():
    g = np.random.default_rng(2)
    data, samples = g.uniform(0, 16, (30, sd.D)), g.uniform(0, 16, (2, 5, sd.D))
    ref = np.array([[min(np.sqrt(((s - x) ** 2).mean()) for x in data) for s in row] for row in samples])
    assert np.allclose(sd.nearest_rms(torch.tensor(samples), torch.tensor(data)).numpy(), ref)
    samples[0, 0] = data[3]  # a copy of a training digit scores 0
    assert float(sd.nearest_rms(torch.tensor(samples), torch.tensor(data))[0, 0]) == pytest.approx(0.0, abs=1e-6)


def test_digits_and_the_fixed_evaluation_set():
    X = sd.digits_pixels()
    assert X.shape == (1797, 64) and X.min() == 0 and X.max() == 16
    a = sd.make_eval_set(8, 50, "cpu")
    b = sd.make_eval_set(64, 500, "cpu")
    assert torch.equal(a.pairs[:8], b.pairs[:8]) and torch.equal(a.z_samples, b.z_samples[:50])
    assert torch.equal(a.digits, b.digits) and a.digits.abs().max() <= 1
    assert sd.ddim_timesteps(25)[0] == 0 and sd.ddim_timesteps(25)[-1] == sd.T_STEPS - 1
    assert len(sd.ddim_timesteps(25)) == 25 and len(sd.ddim_timesteps(500)) == sd.T_STEPS


# --- sample quality in a digit classifier's features ----------------------------------------


def test_the_digit_classifier_recognises_held_out_digits():
    clf = sd.digit_classifier()
    labels = sd.digits_labels()
    assert len(clf.held_out) == int(sd.HELD_OUT * len(labels)) and len(set(clf.held_out)) == len(clf.held_out)
    predicted = clf.probabilities(sd.digits_pixels()[clf.held_out]).argmax(1)
    assert clf.test_accuracy == pytest.approx(float((predicted == labels[clf.held_out]).mean()))
    assert clf.test_accuracy > 0.9
    assert sd.digit_classifier() is clf  # trained once per process


def test_frechet_distance_against_the_diagonal_closed_form():
    """For diagonal covariances the Fréchet distance is |mu1 - mu2|^2 + sum (sqrt a - sqrt b)^2."""
    g = np.random.default_rng(4)
    mu1, mu2, a, b = g.normal(size=5), g.normal(size=5), g.uniform(0.1, 2, 5), g.uniform(0.1, 2, 5)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert sd.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    Q = np.linalg.qr(g.normal(size=(5, 5)))[0]  # a common rotation changes nothing
    rotated = sd.frechet_distance(Q @ mu1, Q @ np.diag(a) @ Q.T, Q @ mu2, Q @ np.diag(b) @ Q.T)
    assert rotated == pytest.approx(expected, rel=1e-8)


def test_fid_of_real_digits_is_near_zero_and_of_noise_far_above():
    real = sd.digits_pixels()
    clf = sd.digit_classifier()
    assert sd.classifier_scores(real[None])["fid"][0] == pytest.approx(0.0, abs=1e-5)  # the reference itself
    floor = sd.classifier_reference(500)["fid"]  # 500 real digits: only the finite-sample gap
    g = np.random.default_rng(5)
    noise = g.uniform(0, 16, (1, 500, sd.D))
    blurred = np.repeat(real.mean(0, keepdims=True), 500, 0)[None]  # the mean digit: what blur converges to
    scores = sd.classifier_scores(np.concatenate([noise, blurred]))
    assert floor < 2 and (scores["fid"] > 10 * floor).all()
    assert 0.9 < sd.classifier_reference(500)["confidence"] <= 1
    assert clf.probabilities(real[:5]).sum(1) == pytest.approx(np.ones(5))


def test_collapse_warning():
    base = {"istd": 3.0, "mean_distance": 10.0, "cv": 0.3, "quality": 4.5, "spread": 6.0, "loss_base": 0.2}
    assert sd.collapse_warning(dict(base, istd=1.5, quality=6.0, loss_base=0.3), base, 6.0) == ""
    assert "far from every digit" in sd.collapse_warning(dict(base, istd=0.2, quality=10.0), base, 6.0)
    assert "stopped denoising" in sd.collapse_warning(dict(base, istd=0.1, loss_base=0.5), base, 6.0)
    assert "look alike" in sd.collapse_warning(dict(base, spread=0.5), None, 6.0)
    assert "NaN" in sd.collapse_warning(dict(base, istd=float("nan")), base, 6.0)


# --- runs -------------------------------------------------------------------------------------


# Runs that test plumbing, not sample quality: a narrower net than the lab's, for the test budget.
TEST_WIDTH = 128


def quick(**overrides):
    """Small runs: 60 pre-training steps and 30 fine-tuning steps unless told otherwise."""
    return sd.Params.preset("quick", **{"device": "cpu", "train_steps": 60, "finetune_steps": 30, "hidden": TEST_WIDTH,
                                        **overrides})


def test_frame_schema_and_metrics():
    frames = list(sd.run(quick()))
    last = frames[-1]
    assert last.step == last.total_steps and last.metrics is not None
    assert all(f.metrics is None for f in frames[:-1])
    assert [f.step for f in frames] == sorted(f.step for f in frames)
    m = last.metrics
    for name in ("istd", "mean_distance", "cv", "quality", "inversion_mse", "reg_weight", "collapsed", "path_length",
                 "fid", "fid_ratio", "fid_reference", "sample_confidence", "confident_fraction"):
        assert name in m
    for name in ("path_length", "fid", "sample_confidence", "confident_fraction", "istd", "cv"):
        assert f"{name}_baseline" in m
    # the path length is the sum of the F - 1 adjacent distances, averaged over pairs
    assert m["path_length"] == pytest.approx((sd.N_FRAMES - 1) * m["mean_distance"], rel=1e-5)
    assert 0 < m["sample_confidence"] <= 1 and m["fid"] > m["fid_reference"] > 0
    assert m["fid"] == pytest.approx(float(last.trade_fid[1]))
    S, F = sd.N_SHOW, sd.N_FRAMES
    assert last.filmstrip.shape == (2, S, F, 8, 8) and last.distances.shape == (2, S, F - 1)
    assert last.filmstrip.min() >= 0 and last.filmstrip.max() <= 16
    L = len(last.log_steps)
    assert last.loss_base.shape == (L, 2) and np.isfinite(last.loss_base).all()
    fine_tuning = last.log_steps >= 60
    assert np.isfinite(last.loss_reg[fine_tuning, 1]).all()  # the chosen lambda's penalty, every point
    assert np.isfinite(last.loss_reg[~fine_tuning]).all()  # pre-training: measured, not optimised
    assert list(last.trade_lambda) == [0.0, 0.3] and last.v_hist.shape == (sd.N_V_BINS, 2)
    assert last.metrics["istd"] == pytest.approx(float(last.trade_istd[1]))
    # the filmstrip's end frames are the DDIM samples of the pair's two latents: the same for both models'
    # endpoints only if the models are equal, so they differ here
    assert not np.allclose(last.filmstrip[0], last.filmstrip[1])


def test_evaluation_only_changes_reuse_the_trained_models():
    first = list(sd.run(quick()))
    again = list(sd.run(quick(ddim_steps=20, interpolation="lerp")))
    assert again[-1].total_steps == 3 and len(again) == 3  # no training: three evaluation frames
    assert "cache" in again[-1].notice
    # the training history comes back with the model
    assert np.array_equal(first[-1].loss_base, again[-1].loss_base, equal_nan=True)
    assert again[-1].metrics["istd"] != first[-1].metrics["istd"]  # other sampler, other frames


@pytest.mark.parametrize("mode, trained", [("scratch", 60), ("finetune", 30)])
def test_a_new_lambda_trains_only_the_new_model_and_fills_the_trade_off_curve(mode, trained):
    list(sd.run(quick(mode=mode)))
    second = list(sd.run(quick(mode=mode, reg_weight=1.0)))
    assert second[-1].total_steps == trained + 3 + 1  # only lambda = 1 trained, lambda = 0.3 re-evaluated
    assert list(second[-1].trade_lambda) == [0.0, 0.3, 1.0]
    third = list(sd.run(quick(mode=mode, reg_weight=1.0, ema_decay=0.05)))
    assert list(third[-1].trade_lambda) == [0.0, 1.0]  # another EMA decay is another curve


def test_same_seed_same_metrics_other_seed_differs():
    a = list(sd.run(quick(train_steps=40)))[-1].metrics
    sd.clear_cache()
    b = list(sd.run(quick(train_steps=40)))[-1].metrics
    c = list(sd.run(quick(train_steps=40, seed=1)))[-1].metrics
    assert a == b and a["istd"] != c["istd"]


def test_lambda_zero_is_its_own_baseline():
    last = list(sd.run(quick(mode="scratch", train_steps=40, reg_weight=0.0)))[-1]
    assert last.total_steps == 40 + 3 and np.allclose(last.filmstrip[0], last.filmstrip[1])
    assert last.metrics["istd"] == last.metrics["istd_baseline"] and "baseline itself" in last.notice
    assert last.metrics["target_a"] is None and not last.metrics["collapsed"]


def test_finetune_mode_pretrains_once_and_fine_tunes_with_lora():
    first = list(sd.run(quick(mode="finetune")))
    assert first[-1].total_steps == 60 + 30 + 3
    assert first[-1].log_steps[-1] >= 60 and "fine-tune" in first[-1].mode_label
    second = list(sd.run(quick(mode="finetune", reg_weight=1.0)))
    assert second[-1].total_steps == 30 + 3 + 1  # the pre-trained model and lambda = 0's fine-tune are cached
    assert np.array_equal(first[-1].loss_base[:, 0], second[-1].loss_base[:, 0], equal_nan=True)


def test_first_frame_comes_fast_and_frames_stream():
    frames = sd.run(sd.Params.preset("quick", device="cpu"))
    first = next(frames)  # before any training step: the untrained models' samples
    assert first.step == 0 and first.filmstrip.shape[0] == 2
    seen = [next(frames) for _ in range(5)]
    frames.close()
    assert seen[-1].step > 0


def _live_tensors() -> dict:
    return {id(o): o for o in gc.get_objects() if isinstance(o, torch.Tensor)}


@pytest.mark.parametrize("mode, warm", [("scratch", False), ("finetune", True)])
def test_closing_a_run_frees_every_tensor_the_memo_does_not_keep(mode, warm):
    """The framework closes a cancelled run's generator: its trainers, optimiser state and data
    must go then, not at some later garbage collection (as they would if a reference cycle, a
    closure naming itself, held them). Only the memo's trained models stay."""
    if warm:  # the pre-trained and fine-tuned models come from the memo
        list(sd.run(quick(mode=mode)))
    gc.collect()
    before = set(_live_tensors())
    gc.disable()  # only reference counting may free them
    try:
        frames = sd.run(quick(mode=mode, train_steps=2000 if not warm else 60, reg_weight=1.0))
        collections.deque(itertools.islice(frames, 3), maxlen=0)  # into training; frames not kept
        made = [weakref.ref(t) for i, t in _live_tensors().items() if i not in before]
        assert made, "the test saw no tensor of the run: it would prove nothing"
        frames.close()
        kept = {id(t) for _, item in sd.MODELS.items() for t in [*item.net.weights, *item.net.biases]}
        left = [r() for r in made if r() is not None and id(r()) not in kept]
        assert not left, f"{len(left)} of the run's {len(made)} tensors outlive its close, e.g. {left[0].shape}"
    finally:
        gc.enable()


def test_closing_during_the_evaluation_frees_its_tensors():
    """An evaluation-only run yields four frames (final filmstrips, this run's trade-off points, the
    cached λ = 0.3 model evaluated again for the curve, the metrics): closed after any of the first
    three, inside the final evaluation or the trade-off curve, it leaves only the memo's models."""
    def small(**overrides):  # training is not the point here: a few steps
        return quick(mode="scratch", train_steps=10, n_samples=50, **overrides)

    list(sd.run(small()))
    list(sd.run(small(reg_weight=1.0)))
    assert len(list(sd.run(small(reg_weight=1.0, ddim_steps=20)))) == 4
    for taken, ddim_steps in [(1, 15), (2, 12), (3, 10)]:  # new evaluation settings: λ = 0.3 evaluated again
        gc.collect()
        before = set(_live_tensors())
        gc.disable()  # only reference counting may free them
        try:
            frames = sd.run(small(reg_weight=1.0, ddim_steps=ddim_steps))
            collections.deque(itertools.islice(frames, taken), maxlen=0)
            made = [weakref.ref(t) for i, t in _live_tensors().items() if i not in before]
            assert made, "the test saw no tensor of the run: it would prove nothing"
            frames.close()
            kept = {id(t) for _, item in sd.MODELS.items() for t in [*item.net.weights, *item.net.biases]}
            left = [r() for r in made if r() is not None and id(r()) not in kept]
            assert not left, f"closed after {taken} frames, {len(left)} of {len(made)} tensors outlive it"
        finally:
            gc.enable()


def test_too_large_a_lambda_is_reported_as_collapsed():
    """Adam makes a huge λ mean 'the penalty alone': the model stops denoising. Measured at this
    size: diffusion loss 1.6-1.8 against 0.39-0.40 at λ = 0 (seeds 0, 1)."""
    last = list(sd.run(quick(mode="scratch", train_steps=150, reg_weight=3.0)))[-1]
    m = last.metrics
    assert last.collapsed and m["collapsed"] and "stopped denoising" in m["warning"]
    assert m["loss_base"] > 2 * m["loss_base_baseline"]
    from paperscope.views.smooth_diffusion import summary

    assert summary(last).startswith("WARNING, collapsed")
    healthy = list(sd.run(quick(mode="scratch", train_steps=150, reg_weight=0.0)))[-1]
    assert not healthy.metrics["collapsed"] and healthy.metrics["warning"] == ""


def test_blow_up_raises_divergence_naming_lambda(monkeypatch):
    def exploding(self, n):
        out = original(self, n)
        out[-1, 0] = float("nan")
        return out
    original = sd.Trainer.train_steps
    monkeypatch.setattr(sd.Trainer, "train_steps", exploding)
    with pytest.raises(DivergenceError, match="λ = 0.3"):
        list(sd.run(quick()))

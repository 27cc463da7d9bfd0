"""Unit tests for the SELU lab's computation (paperscope.labs.selu).

The moment map is checked against numerical quadrature and Monte Carlo and against the paper's
printed Jacobian; Theorems 1-3 are checked on dense grids of their domains; the stacked
trainer against torch.nn reference models trained with torch.optim. The paper's claims (A1-A4)
are declared in paperscope.claims.selu and checked by tests/test_claims.py (Test_selu).
"""

import json
import math

import numpy as np
import param
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from paperscope.cli import main as cli_main
from paperscope.core.errors import DivergenceError
from paperscope.labs import selu as sl

F64 = torch.float64


def frames_of(**overrides):
    return list(sl.run(sl.Params.preset("quick", **{"device": "cpu", **overrides})))


# --- the SELU constants and the moment map --------------------------------------------------


def test_constants_match_their_closed_forms_and_torch():
    assert sl.ALPHA_01 == pytest.approx(1.6732632423543772, abs=1e-12)
    assert sl.LAMBDA_01 == pytest.approx(1.0507009873554805, abs=1e-12)
    assert sl.ALPHA_PRIME == pytest.approx(-1.7580993408473766, abs=1e-12)
    x = torch.linspace(-6, 6, 1001, dtype=F64)
    assert np.allclose(sl.selu(x.numpy()), torch.selu(x).numpy(), rtol=1e-14, atol=1e-14)


def _quad_moments(mu, omega, nu, tau):
    """Mean and variance of selu(z), z ~ N(μω, ντ), by adaptive quadrature (split at the kink)."""
    m, sd = mu * omega, math.sqrt(nu * tau)
    pdf = stats.norm(m, sd).pdf
    # ±12 sd holds all but ~1e-33 of the mass; the kink at 0 is a breakpoint when inside.
    lo, hi = m - 12 * sd, m + 12 * sd
    kw = dict(epsabs=1e-14, epsrel=1e-12, limit=200, points=[0.0] if lo < 0 < hi else None)
    first = integrate.quad(lambda z: sl.selu(z) * pdf(z), lo, hi, **kw)[0]
    second = integrate.quad(lambda z: sl.selu(z) ** 2 * pdf(z), lo, hi, **kw)[0]
    return first, second - first ** 2


POINTS = [(0.0, 0.0, 1.0, 1.0), (0.3, 0.1, 1.4, 1.05), (-1.0, 0.1, 3.0, 0.8), (1.0, -0.1, 16.0, 1.25),
          (0.1, 0.5, 0.02, 1.0), (-2.0, 1.0, 0.5, 0.3), (0.5, 1.0, 60.0, 1.0), (-3.0, 1.0, 1e-4, 1.0)]


@pytest.mark.parametrize("mu, omega, nu, tau", POINTS)
def test_moment_map_matches_quadrature(mu, omega, nu, tau):
    mu_t, nu_t = sl.selu_moments(mu, nu, omega, tau)
    q_mu, q_nu = _quad_moments(mu, omega, nu, tau)
    assert float(mu_t) == pytest.approx(q_mu, rel=1e-8, abs=1e-10)
    assert float(nu_t) == pytest.approx(q_nu, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("mu, omega, nu, tau", [(0.4, 0.3, 1.5, 1.2), (-0.8, 0.5, 0.6, 0.9)])
def test_moment_map_matches_monte_carlo(mu, omega, nu, tau):
    z = np.random.default_rng(0).normal(mu * omega, math.sqrt(nu * tau), 4_000_000)
    y = sl.selu(z)
    mu_t, nu_t = sl.selu_moments(mu, nu, omega, tau)
    se_mean, se_var = y.std() / 2000, y.var() * math.sqrt(2 / 4e6) * 2  # generous for the skew
    assert abs(float(mu_t) - y.mean()) < 5 * se_mean
    assert abs(float(nu_t) - y.var()) < 5 * se_var


def test_moment_map_is_finite_and_vectorised_over_extremes():
    mu = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])[:, None]
    nu = np.array([0.0, 1e-12, 1e-3, 1.0, 100.0, 1e4])[None, :]
    mu_t, nu_t = sl.selu_moments(mu, nu, 1.0, 1.0)
    assert mu_t.shape == nu_t.shape == (5, 6) and np.isfinite(mu_t).all() and np.isfinite(nu_t).all()
    assert (nu_t > -1e-12).all()
    # ν = 0 is a point mass at m: the moments of selu(m) exactly.
    assert np.allclose(mu_t[:, 0], sl.selu(mu[:, 0]), atol=1e-12) and np.allclose(nu_t[:, 0], 0, atol=1e-12)


def test_jacobian_at_the_fixed_point_is_the_papers():
    J = sl.map_jacobian(0.0, 1.0)
    assert np.allclose(J, [[0.0, 0.088834], [0.0, 0.782648]], atol=2e-6)  # the paper's Eq. 6
    # Central differences against a wider step: the map is smooth, the two must agree.
    assert np.allclose(J, sl.map_jacobian(0.0, 1.0, h=1e-4), atol=1e-7)
    J2 = sl.map_jacobian(0.3, 1.2, 0.1, 1.05)
    mu_p, nu_p = sl.selu_moments(0.3 + 1e-4, 1.2, 0.1, 1.05)
    mu_m, nu_m = sl.selu_moments(0.3 - 1e-4, 1.2, 0.1, 1.05)
    assert J2[0, 0] == pytest.approx((mu_p - mu_m) / 2e-4, rel=1e-6)
    assert J2[1, 0] == pytest.approx((nu_p - nu_m) / 2e-4, rel=1e-6)


def test_theorem_1_contraction_on_its_domain():
    mu, omega, nu, tau = np.meshgrid(np.linspace(-0.1, 0.1, 9), np.linspace(-0.1, 0.1, 9),
                                     np.linspace(0.8, 1.5, 15), np.linspace(0.95, 1.1, 7), indexing="ij")
    assert sl.spectral_norm(sl.map_jacobian(mu, nu, omega, tau)).max() < 1
    # The fixed points for (ω, τ) in the domain lie in the paper's intervals.
    for w in (-0.1, 0.0, 0.1):
        for t in (0.95, 1.0, 1.1):
            fp = sl.fixed_point(w, t)
            assert -0.03106 - 1e-4 <= fp[0] <= 0.06773 + 1e-4 and 0.80009 - 1e-4 <= fp[1] <= 1.48617 + 1e-4


def test_theorems_2_and_3_bound_the_variance_on_their_domains():
    # Theorem 2: ν̃ < ν on -1 ≤ μ ≤ 1, -0.1 ≤ ω ≤ 0.1, 3 ≤ ν ≤ 16, 0.8 ≤ τ ≤ 1.25.
    mu, omega, nu, tau = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-0.1, 0.1, 11),
                                     np.linspace(3, 16, 53), np.linspace(0.8, 1.25, 10), indexing="ij")
    assert (sl.selu_moments(mu, nu, omega, tau)[1] < nu).all()
    # Theorem 3: ν̃ > ν on -0.1 ≤ μ, ω ≤ 0.1 with 0.02 ≤ ν ≤ 0.16, 0.8 ≤ τ ≤ 1.25
    # and with 0.02 ≤ ν ≤ 0.24, 0.9 ≤ τ ≤ 1.25.
    for nu_hi, tau_lo in ((0.16, 0.8), (0.24, 0.9)):
        mu, omega, nu, tau = np.meshgrid(np.linspace(-0.1, 0.1, 11), np.linspace(-0.1, 0.1, 11),
                                         np.linspace(0.02, nu_hi, 29), np.linspace(tau_lo, 1.25, 10), indexing="ij")
        assert (sl.selu_moments(mu, nu, omega, tau)[1] > nu).all()
    # ... and neither holds far outside: at τ = 0.3 a small variance shrinks.
    assert sl.selu_moments(0.0, 0.1, 0.0, 0.3)[1] < 0.1


def test_fixed_point_cases():
    assert np.allclose(sl.fixed_point(0.0, 1.0), [0.0, 1.0], atol=1e-12)
    assert np.isnan(sl.fixed_point(1.0, 4.0)).all()  # the mean feeds itself: no fixed point
    assert sl.fixed_point(0.0, 1 / 3)[1] < sl.FP_MIN_NU  # nn.Linear's default scale: collapse
    mm = sl.moment_map(0.0, 1.0)
    G = sl.MAP_GRID
    assert mm["contraction"].shape == mm["jacobian_norm"].shape == (G, G)
    assert mm["contraction"].max() < 1 and mm["fixed_point_norm"] == pytest.approx(0.787673, abs=1e-6)
    # Rows are ν, columns μ: at ω = 0 the map ignores μ, so every row is constant.
    assert np.allclose(mm["jacobian_norm"], mm["jacobian_norm"][:, :1])
    assert not np.allclose(mm["jacobian_norm"][:1], mm["jacobian_norm"][-1:])
    assert mm["nu_ratio"].shape == (len(sl.NU_LINE), len(sl.THEOREM_TAUS) + 1)


# --- dropout ---------------------------------------------------------------------------------


def test_alpha_dropout_coefficients_and_torchs_values():
    a, b = sl.alpha_dropout_coefficients(0.9)
    assert (a, b) == (pytest.approx(0.92128, abs=1e-5), pytest.approx(0.16197, abs=1e-5))
    # torch's alpha dropout on zeros returns b (kept) or a α' + b (dropped): the same affine map.
    out = torch.nn.functional.alpha_dropout(torch.zeros(10_000, dtype=F64), p=0.1, training=True)
    assert np.allclose(np.unique(out.numpy()), sorted([b, a * sl.ALPHA_PRIME + b]), atol=1e-12)


def test_dropout_affine_keeps_moments_alpha_or_mean_standard():
    g = torch.Generator().manual_seed(0)
    x = torch.selu(torch.randn(4, 200_000, generator=g, dtype=F64))  # selu(N(0, 1)): mean 0, var 1
    kinds = [("alpha", 0, 2), ("standard", 2, 4)]
    M, C = sl.dropout_affine(x.shape, 0.2, kinds, g, "cpu", F64)
    y = x * M + C
    assert abs(float(y[:2].mean())) < 0.01 and abs(float(y[:2].var()) - 1) < 0.02  # alpha: (0, 1) kept
    assert abs(float(y[2:].mean())) < 0.01 and float(y[2:].var()) > 1.15  # standard: var ↦ ν/q
    assert set(np.unique(M[2:].numpy())) == {0.0, 1 / 0.8} and (C[2:] == 0).all()


# --- propagation -----------------------------------------------------------------------------


def test_first_layer_moments_match_the_map_and_batch_norm():
    P = sl.Propagation(width=1024, n_inputs=512, input_shift=0.0, seeds=(0,), dtype=F64)
    P.step()
    m, v = (t[0, 0].numpy() for t in P.stats())  # (A,)
    selu, relu, tanh, bn = range(4)
    # Unit-Gaussian inputs, LeCun weights: z ~ N(0, 1) per unit, so SELU gives (0, 1).
    assert abs(m[selu]) < 0.03 and abs(v[selu] - 1) < 0.05
    # He weights: z ~ N(0, 2), relu(z) has mean √2/√(2π) and variance 2 (1/2 - 1/(2π)).
    assert m[relu] == pytest.approx(1 / math.sqrt(math.pi), rel=0.03)
    assert v[relu] == pytest.approx(2 * (0.5 - 1 / (2 * math.pi)), rel=0.05)
    # Batch norm standardizes each unit exactly: relu(N(0, 1)) moments.
    assert m[bn] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0.01)
    assert v[bn] == pytest.approx(0.5 - 1 / (2 * math.pi), rel=0.02)
    assert 0 < v[tanh] < 1


def test_stacked_propagation_equals_separate_runs():
    kw = dict(width=32, n_inputs=64, input_shift=0.5, omega=0.2, tau=1.1)
    both = sl.Propagation(seeds=(3, 4), input_scales=(0.5, 2.0), **kw)
    alone = sl.Propagation(seeds=(4,), input_scales=(2.0,), activations=("tanh",), **kw)
    for _ in range(5):
        both.step()
        alone.step()
    assert torch.allclose(both.h[1, 1, 2], alone.h[0, 0, 0], rtol=1e-5, atol=1e-6)


def test_torch_default_init_has_a_third_of_lecuns_variance():
    P = sl.Propagation(width=512, n_inputs=256, input_shift=0.0, init="torch-default", dtype=F64,
                       activations=("tanh",))
    x = P.h.clone()
    P.step()
    # With tanh'(0) = 1 and small pre-activations, var(z) ≈ 1/3 + the bias variance 1/(3n).
    assert float(torch.atanh(P.h).var()) == pytest.approx(1 / 3 * float(x.var()), rel=0.05)


# --- the digits and the trainer -------------------------------------------------------------


def test_digits_loader_matches_sklearn_and_the_split_is_standardized():
    from sklearn.datasets import load_digits

    X, y = sl.load_digits()
    ref = load_digits()
    assert np.array_equal(X, ref.data) and np.array_equal(y, ref.target)
    Xtr, ytr, Xte, yte = sl.digits_split(5)
    assert len(ytr) == 1258 and len(yte) == 539 and set(yte) == set(range(10))
    varying = Xtr.std(0) > 0
    assert np.allclose(Xtr.mean(0), 0, atol=1e-12) and np.allclose(Xtr.std(0)[varying], 1)
    assert not np.array_equal(sl.digits_split(5)[1], sl.digits_split(6)[1])


def _reference(tr: sl.Trainer, activation: str, s: int) -> nn.Sequential:
    """torch.nn copy of stacked net ``(activation, seed index s)``."""
    act = {"selu": nn.SELU, "relu": nn.ReLU, "tanh": nn.Tanh, "relu-bn": nn.ReLU}[activation]
    layers = []
    for layer, (W, b) in enumerate(zip(tr.W[activation], tr.b[activation])):
        lin = nn.Linear(W.shape[1], W.shape[2], dtype=F64)
        with torch.no_grad():
            lin.weight.copy_(W[s].T)
            lin.bias.copy_(b[s])
        layers.append(lin)
        if layer < tr.depth:
            if activation == "relu-bn":
                layers.append(nn.BatchNorm1d(W.shape[2], dtype=F64))
            layers.append(act())
    return nn.Sequential(*layers)


@pytest.mark.parametrize("init", ["matched", "torch-default"])
def test_stacked_trainer_matches_torch_nn_models_trained_with_torch_optim(init):
    tr = sl.Trainer(seeds=(0, 1), depth=3, width=16, lr=0.1, batch_size=32, init=init, dtype=F64)
    refs = {(a, s): _reference(tr, a, s) for a in sl.ACTIVATIONS for s in range(2)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k, m in refs.items()}
    gain = {a: float(tr.W[a][1][0].detach().std() * math.sqrt(16)) for a in sl.ACTIVATIONS}
    if init == "matched":  # LeCun for SELU and tanh, He for ReLU (the same base draw)
        assert gain["relu"] / gain["selu"] == pytest.approx(math.sqrt(2))
    else:
        assert len({round(g, 9) for g in gain.values()}) == 1
    for idx in tr.epoch_batches()[:4]:
        losses = tr.step(idx)
        for (a, s), model in refs.items():
            opts[a, s].zero_grad()
            X, y = tr.Xtr[s, idx[s]], tr.ytr[s, idx[s]]
            loss = nn.functional.cross_entropy(model.train()(X), y)
            loss.backward()
            opts[a, s].step()
            assert float(losses[sl.ACTIVATIONS.index(a), s]) == pytest.approx(loss.item(), rel=1e-10)
    grads = tr.grad_norms()  # the last step's ‖∂L/∂W_l‖ of seed 0, every activation
    for a in sl.ACTIVATIONS:
        lin = [m for m in refs[a, 0] if isinstance(m, nn.Linear)]
        assert torch.allclose(grads[sl.ACTIVATIONS.index(a)], torch.stack([m.weight.grad.norm() for m in lin]),
                              rtol=1e-9)
    acc = tr.test_accuracy()
    w = 16
    for (a, s), model in refs.items():
        lin = [m for m in model if isinstance(m, nn.Linear)]
        assert torch.allclose(lin[2].weight.T, tr.W[a][2][s], atol=1e-12)
        pred = model.eval()(tr.Xte[s]).argmax(-1)
        assert float(acc[sl.ACTIVATIONS.index(a), s]) == pytest.approx(float((pred == tr.yte[s]).double().mean()))
        if a == "relu-bn":
            bn = [m for m in model if isinstance(m, nn.BatchNorm1d)]
            assert torch.allclose(bn[1].running_mean, tr.bn["mean"][1][s * w:(s + 1) * w], atol=1e-12)
            assert torch.allclose(bn[1].running_var, tr.bn["var"][1][s * w:(s + 1) * w], atol=1e-12)


@pytest.mark.parametrize("init", ["matched", "torch-default"])
def test_selu_gradients_keep_their_size_through_depth_only_at_lecun_init(init):
    """The paper's point: at LeCun init SELU's backward signal neither vanishes nor explodes over
    32 layers; at a third of that variance (nn.Linear's default) it vanishes."""
    tr = sl.Trainer(activations=("selu",), seeds=(0, 1, 2), depth=32, width=64, lr=0.0, batch_size=128, init=init)
    tr.step(tr.epoch_batches()[0])  # lr = 0: the gradients at the initialisation
    norms = torch.stack([torch.stack([W.grad[s].norm() for W in tr.W["selu"]]) for s in range(3)])  # (seeds, 33)
    ratio = norms[:, 0] / norms[:, -1]
    if init == "matched":
        assert ((ratio > 0.2) & (ratio < 5)).all(), ratio
    else:
        assert (ratio < 0.05).all(), ratio


def test_one_activation_alone_gets_the_numbers_of_the_stack():
    kw = dict(depth=4, width=16, lr=0.05, batch_size=64)
    full, alone = sl.Trainer(seeds=(2,), **kw), sl.Trainer(activations=("tanh",), seeds=(2,), **kw)
    for idx_full, idx_alone in zip(full.epoch_batches()[:3], alone.epoch_batches()[:3]):
        a, b = full.step(idx_full), alone.step(idx_alone)
    assert float(a[2, 0]) == pytest.approx(float(b[0, 0]), rel=1e-5)


def test_roughness():
    assert sl.roughness(np.exp(-0.1 * np.arange(40))) == pytest.approx(0.0, abs=1e-12)
    zigzag = np.exp(np.array([0.0, 1.0] * 11))  # second half: 11 values, 10 steps of ±1
    assert sl.roughness(zigzag) == pytest.approx(1.0)  # Δ log = ±1
    assert math.isnan(sl.roughness([1.0, 2.0, 3.0, np.nan, 5.0, 6.0]))  # a diverged net


# --- the run --------------------------------------------------------------------------------


def test_frame_schema_and_metrics():
    frames = frames_of()
    p = sl.Params.preset("quick")
    first, last = frames[0], frames[-1]
    assert first.step == 0 and last.step == last.total_steps and last.metrics is not None
    assert all(f.metrics is None for f in frames[:-1])
    assert [f.step for f in frames] == sorted(f.step for f in frames)
    assert first.layers.tolist() == [0] and last.layers.tolist() == list(range(p.depth + 1))
    assert last.layer_mean.shape == last.layer_var.shape == (p.depth + 1, 4)
    assert first.train_loss.shape == (0, 4) and last.train_loss.shape == (p.epochs, 4)
    assert last.test_accuracy.shape == (p.epochs, 4) and last.epochs.tolist() == list(range(1, p.epochs + 1))
    assert last.hist_input.shape == last.hist_last.shape == (2, sl.N_BINS)
    for f in frames:
        assert isinstance(f, sl.SeluFrame) and f.activations == sl.ACTIVATIONS and f.notice == ""
    m = last.metrics
    json.dumps(m, allow_nan=False)
    assert {"final_mean", "final_var", "train_loss", "test_accuracy", "roughness", "grad_ratio", "fixed_point_mu",
            "fixed_point_nu", "jacobian_norm", "by_activation"} == set(m)
    assert last.grad_init.shape == last.grad_now.shape == (p.depth + 1, 4) and first.grad_init.shape == (0, 4)
    assert m["grad_ratio"] == pytest.approx(last.grad_init[0, 0] / last.grad_init[-1, 0])
    assert m["final_var"] == last.layer_var[-1, 0] and m["train_loss"] == pytest.approx(last.train_loss[-1, 0])
    assert set(m["by_activation"]) == set(sl.ACTIVATIONS)
    relu = frames_of(activation="relu", epochs=1)[-1].metrics
    assert relu["final_var"] == relu["by_activation"]["relu"]["final_var"]


def test_same_seed_same_metrics_other_seed_differs():
    a, b = frames_of(seed=3, epochs=1)[-1].metrics, frames_of(seed=3, epochs=1)[-1].metrics
    c = frames_of(seed=4, epochs=1)[-1].metrics
    assert a == b and a != c


def test_no_training_and_notices_for_maps_without_a_fixed_point():
    f = frames_of(epochs=0, tau=0.3)[-1]
    assert f.step == f.total_steps == 16 and f.train_loss.shape == (0, 4)
    assert f.metrics["train_loss"] is None and "collapses" in f.notice and f.metrics["jacobian_norm"] is None
    g = frames_of(epochs=0, omega=1.0, tau=4.0)[-1]
    assert "no fixed point" in g.notice and g.metrics["fixed_point_mu"] is None
    json.dumps(g.metrics, allow_nan=False)
    h = frames_of(epochs=0, init="torch-default")[-1]
    assert "τ/3" in h.notice and "collapses" in h.notice


def test_a_diverging_network_is_announced_and_all_diverging_raises(monkeypatch):
    f = frames_of(lr=1.0, epochs=2)[-1]  # SELU and ReLU blow up at this rate; BN does not
    assert "diverged" in f.notice and f.metrics["train_loss"] is None
    assert f.metrics["by_activation"]["relu-bn"]["train_loss"] is not None
    step = sl.Trainer.step
    monkeypatch.setattr(sl.Trainer, "step", lambda self, idx: step(self, idx) * float("nan"))
    with pytest.raises(DivergenceError, match="every network's training loss.*lower lr"):
        frames_of(epochs=2)


def test_cli_puts_the_metrics_under_metrics(tmp_path):
    out = tmp_path / "out.json"
    assert cli_main(["run", "selu", "--quick", "--set", "activation=tanh", "--set", "epochs=1",
                     "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["params"]["activation"] == "tanh"
    assert record["metrics"]["final_var"] == record["metrics"]["by_activation"]["tanh"]["final_var"] < 0.2


def test_params_are_declared_with_bounds_and_docs():
    for name in sl.Params.names():
        p = sl.Params.param[name]
        assert p.doc, name
        if isinstance(p, param.Number) and name != "seed":
            assert p.bounds is not None and p.softbounds is not None, name
    assert set(sl.Params.QUICK) <= set(sl.Params.names())

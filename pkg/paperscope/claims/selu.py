"""Claims of the SELU lab (spec A1-A3, and A4: the paper's alpha-dropout statement).

A1 is analytic (the moment map itself, no randomness: one seed). A2-A4 run seeds 0-2 as the
stacked lanes of one computation, as the lab's tests did. Quick sizes are those tests': A2 and
A4 push 512 random inputs (the spec: 1024), A3 trains width 96 without the tanh nets (the spec:
width 128), to fit the CPU test budget. At width 64 A3's roughness comparison is marginal
(SELU 0.027 against ReLU+BN 0.026 on seed 0); at 96 and 128 SELU's is well below for every seed.
"""

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..labs import selu as sl

A3_ACTIVATIONS = ("selu", "relu", "relu-bn")  # tanh is not read by A3
SELU, RELU, TANH = (sl.ACTIVATIONS.index(a) for a in ("selu", "relu", "tanh"))


def fixed_point(seed: int) -> dict:
    """The moment map at ω = 0, τ = 1: g(0, 1), ‖J(0, 1)‖₂ and the farthest distance from (0, 1)
    after 20 iterations from a 41 x 57 grid of [−1, 1] x [0.2, 3] (``seed`` is unused: no randomness)."""
    mu_t, nu_t = sl.selu_moments(0.0, 1.0, 0.0, 1.0)
    mu, nu = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(0.2, 3, 57))
    end = sl.iterate_map(mu, nu, 0.0, 1.0, steps=20)[-1]
    return {"mu": float(mu_t), "nu": float(nu_t), "norm": float(sl.spectral_norm(sl.map_jacobian(0.0, 1.0))),
            "dist": float(np.hypot(end[..., 0], end[..., 1] - 1).max())}


def propagation(seeds: tuple, width: int, n_inputs: int, depth: int) -> list[dict]:
    """Last-layer mean and variance ``(C, A)`` per seed after ``depth`` random layers, input
    N(0.5, scale²) with scales 0.5 and 3."""
    torch.set_num_threads(1)  # small batched loops: one thread beats a contended pool
    P = sl.Propagation(width=width, n_inputs=n_inputs, input_shift=0.5, input_scales=(0.5, 3.0), seeds=seeds,
                       device="cpu")
    for _ in range(depth):
        P.step()
    mean, var = (t.numpy() for t in P.stats())  # (S, C, A)
    return [{"mean": mean[s], "var": var[s]} for s in range(len(seeds))]


def training(seeds: tuple, depth: int, width: int, epochs: int, lr: float, batch_size: int) -> list[dict]:
    """Per-epoch mean training loss ``(E,)`` of each of A3's activations, per seed."""
    torch.set_num_threads(1)
    tr = sl.Trainer(activations=A3_ACTIVATIONS, seeds=seeds, depth=depth, width=width, lr=lr,
                    batch_size=batch_size, device="cpu")
    history = []
    for _ in range(epochs):
        total = 0
        for idx in tr.epoch_batches():
            total = total + tr.step(idx) * idx.shape[1]
        history.append((total / tr.n_train).numpy())
    tr.release()
    losses = np.array(history)  # (E, A, S)
    return [{a: losses[:, i, s] for i, a in enumerate(A3_ACTIVATIONS)} for s in range(len(seeds))]


def dropout(seeds: tuple, width: int, n_inputs: int, depth: int, rate: float) -> list[dict]:
    """SELU's last-layer (mean, var) per seed with alpha and with standard dropout (input scale 2).
    The dropout masks come from one stream for all stacked seeds: lanes match the lab's test run,
    not single-seed runs."""
    torch.set_num_threads(1)
    out = {}
    for kind in ("alpha", "standard"):
        P = sl.Propagation(activations=("selu",), width=width, n_inputs=n_inputs, input_shift=0.5,
                           input_scales=(2.0,), seeds=seeds, dropout=rate, dropout_kind=kind, device="cpu")
        for _ in range(depth):
            P.step()
        out[kind] = tuple(t[:, 0, 0].numpy() for t in P.stats())  # (S,) mean, var
    return [{f"{kind}_{stat}": float(out[kind][i][s]) for kind in out for i, stat in enumerate(("mean", "var"))}
            for s in range(len(seeds))]


def pooled_mean(results: list, activation: str, of) -> float:
    """Mean over seeds of ``of(loss history)`` for one activation."""
    return float(np.mean([of(r[activation]) for r in results]))


def final_loss(history) -> float:
    return history[-1]


def loss_ratio(results: list, other: str) -> float:
    """Seed-mean final loss of SELU over that of ``other``."""
    return pooled_mean(results, "selu", final_loss) / pooled_mean(results, other, final_loss)


def within(id: str, text: str, low: float, high: float, lowest, highest=None, strict: bool = True, **kw) -> list:
    """``low < value < high`` (``≤`` unless ``strict``) as the two claims ``<id>-low`` (on
    ``lowest(r)``) and ``<id>-high`` (on ``highest(r)``, default ``lowest``)."""
    below, above = (">", "<") if strict else (">=", "<=")
    return [Claim(f"{id}-low", f"{text} (low side)", value=lowest, threshold=low, direction=below, **kw),
            Claim(f"{id}-high", f"{text} (high side)", value=highest or lowest, threshold=high, direction=above,
                  **kw)]


A1 = {"measure": Measurement(fixed_point), "seeds": 1}
A2 = {"measure": Measurement(propagation, batched=True), "quick": {"width": 256, "n_inputs": 512, "depth": 64},
      "paper": {"width": 256, "n_inputs": 1024, "depth": 64}}
A3 = {"measure": Measurement(training, batched=True), "pooled": True,
      "quick": {"depth": 32, "width": 96, "epochs": 40, "lr": 0.02, "batch_size": 64},
      "paper": {"depth": 32, "width": 128, "epochs": 40, "lr": 0.02, "batch_size": 64}}
A4 = {"measure": Measurement(dropout, batched=True),
      "quick": {"width": 256, "n_inputs": 512, "depth": 64, "rate": 0.1},
      "paper": {"width": 256, "n_inputs": 1024, "depth": 64, "rate": 0.1}}

CLAIMS = [
    Claim("A1-mean", "g(0, 1) keeps the mean: |μ̃(0, 0, 1, 1)|",
          value=lambda r: abs(r["mu"]), threshold=1e-10, direction="<", **A1),
    Claim("A1-var", "g(0, 1) keeps the variance: |ν̃(0, 0, 1, 1) − 1|",
          value=lambda r: abs(r["nu"] - 1), threshold=1e-10, direction="<", **A1),
    *within("A1-norm", "Jacobian spectral norm at (0, 1) in [0.786, 0.789]", 0.786, 0.789,
            lambda r: r["norm"], strict=False, **A1),
    Claim("A1-attracts", "20 iterations from [−1, 1] x [0.2, 3]: largest distance to (0, 1)",
          value=lambda r: r["dist"], threshold=0.02, direction="<", **A1),
    Claim("A2-selu-mean", "64 layers: SELU's |mean|, largest over input scales 0.5 and 3",
          value=lambda r: np.abs(r["mean"][:, SELU]).max(), threshold=0.1, direction="<", **A2),
    *within("A2-selu-var", "64 layers: SELU's variance at input scales 0.5 and 3 in (0.7, 1.4)", 0.7, 1.4,
            lambda r: r["var"][:, SELU].min(), lambda r: r["var"][:, SELU].max(), **A2),
    Claim("A2-tanh", "64 layers: tanh collapses: its variance, largest over input scales",
          value=lambda r: r["var"][:, TANH].max(), threshold=0.1, direction="<", **A2),
    Claim("A2-relu", "64 layers: ReLU keeps the scale: var at input scale 3 / at 0.5",
          value=lambda r: r["var"][1, RELU] / r["var"][0, RELU], threshold=4.0, direction=">", **A2),
    Claim("A3-relu-bn", "depth 32: SELU's final loss / ReLU+BN's (seed means)",
          value=lambda rs: loss_ratio(rs, "relu-bn"), threshold=0.1, direction="<", **A3),
    Claim("A3-relu", "depth 32: SELU's final loss / ReLU's (seed means)",
          value=lambda rs: loss_ratio(rs, "relu"), threshold=0.1, direction="<", **A3),
    Claim("A3-rough", "depth 32: SELU's roughness − ReLU+BN's (seed means)",
          value=lambda rs: pooled_mean(rs, "selu", sl.roughness) - pooled_mean(rs, "relu-bn", sl.roughness),
          threshold=0.0, direction="<", **A3),
    Claim("A4-alpha-mean", "64 layers, alpha dropout 0.1: SELU's |mean|",
          value=lambda r: abs(r["alpha_mean"]), threshold=0.05, direction="<", **A4),
    *within("A4-alpha-var", "64 layers, alpha dropout 0.1: SELU's variance in (0.9, 1.1)", 0.9, 1.1,
            lambda r: r["alpha_var"], **A4),
    Claim("A4-standard", "64 layers, standard dropout 0.1 breaks it: SELU's variance",
          value=lambda r: r["standard_var"], threshold=1.3, direction=">", **A4),
]

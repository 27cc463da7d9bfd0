"""Robust Counterfactual Explanations for Neural Networks With Probabilistic Guarantees.

Hamman, Noorani, Mishra, Magazzeni, Dutta; ICML 2023 (PMLR 202:12351-12367); arXiv:2305.11997.

Claim: the closest counterfactual (CF) of a neural network sits on its decision boundary, so
retraining the network (a new seed, a resampled data set) invalidates about half of them; CFs
pushed by T-Rex until their *Stability* exceeds a threshold τ stay valid under retraining with
high probability, at a higher cost (distance to the query).

Model m: R^d → [0, 1], the probability of the desired class; a CF x' is valid for a model M if
M(x') ≥ 0.5. A retrained model M is a *naturally-occurring* change of m: its parameters may
differ arbitrarily, but near the data its mean output over a Gaussian neighbourhood agrees,
``E_{X~N(x,σ²I)}[M(X)] = E_{X~N(x,σ²I)}[m(X)]``.

Stability of x with respect to m, in the paper with the local Lipschitz constant γ_x of m, and
as used in practice (the empirical relaxation, weight γ on the variability term; 1 in the paper
and in the code):

    R_{k,σ²}(x, m)  = (1/k) Σ_i [ m(X_i) − γ_x ‖x − X_i‖ ],          X_i ~ N(x, σ²I) i.i.d.
    R̂_{k,σ²}(x, m) = (1/k) Σ_i [ m(X_i) − γ |m(x) − m(X_i)| ].

Guarantee (concentration of Lipschitz functions of Gaussians): a naturally-occurring M that is
Lipschitz near x keeps x valid with high probability once R is high, the failure probability
``P(M(x) < R − ε)`` decaying like ``exp(−k ε² / (c (γ_x + γ_M)² σ²))``.

T-Rex:I (Algorithm 1): from a base CF x₀ (here the closest CF), normalized-gradient ascent on R̂,
``x_c ← x_c + η ∇R̂(x_c) / ‖∇R̂(x_c)‖``, while ``R̂(x_c) < τ`` and fewer than ``max_steps``
steps were taken; return x_c. STCE (T-Rex search, RobustX ``STCE.py``): the nearest training
point, in order of distance, that m classifies as positive and whose R̂ exceeds τ (RobustX fixes
k = 1000, σ = 0.1 and first asks a robustness evaluator; here k and σ are the sliders' and no
evaluator is asked).

The lab. Two moons (standardized), a base MLP 2-H-H-1 (ReLU, full-batch Adam 1e-2) and R changed
models trained *together* as one batched MLP (a leading model axis); the models live in a memo
keyed by everything that shapes them, so τ, σ, k, γ, the steps and the query count only redo
the CF searches. The closest CF is a normalized-gradient walk on m until m ≥ 0.51 (step η,
≤ max_steps). The T-Rex ascent uses common random numbers (the same k Gaussian draws at every
step, so the ascent follows a smooth objective); its CFs are then re-scored with fresh draws. A
whole grid of thresholds is served by one ascent: with fixed draws the trajectory does not
depend on τ, and T-Rex for τ stops at the trajectory's first point with R̂ ≥ τ. Retrained
validity (the fraction of changed models under which a CF stays valid) is reported among the
CFs valid under m, as is the cost ``‖x' − x‖₂``; the share of queries with an m-valid CF is
reported beside it (the closest walk does not always reach the boundary within max_steps).

``model_change`` picks how the changed models differ from m: ``reseed + 90% bootstrap`` (the
spec's default: a new initialisation seed and a random 90 % subsample of the training data),
``reseed`` (a new seed, the same data), ``width change`` (a new seed and hidden widths of ½, ¾,
1½ and 2 times m's), ``weight jitter`` (m's own weights plus Gaussian noise of 10 % of each
weight tensor's RMS: a change small in parameter space, the paper's earlier model).

Checked against the sources: the relaxed measure R̂ (mean output minus mean absolute deviation
from m(x), Gaussian σ = 0.1 in standardized units) against RobustX (``robustx/generators/
robust_CE_methods/STCE.py``, read through the search tool's mirror) and against a public
TensorFlow T-Rex implementation found by the code search (``gaussian_volume`` and
``batch_trex_search``: the same R̂, an ascent by unit-norm gradient steps that stops once
R̂ ≥ τ). That implementation also keeps, commented out, the Lipschitz form above with γ_x
estimated as the largest slope between sampled pairs, which confirms the form of R. It redraws
the Gaussian samples at each step and keeps the iterate inside a small ball around the start;
the lab follows the spec instead (common random numbers, no ball). **Not confirmed**: the
spec's ``[unverified]`` guarantee. The paper's theorem text was not readable offline (the search
tool returned the abstract only), so its exact constant and whether the bound's exponent
carries k and the Lipschitz constant of M besides γ_x are stated above from the abstract's
description (concentration for Lipschitz functions of independent Gaussians) and not checked.
"""

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch
import torch.nn.functional as F

from paperscope.core.device import check_fits, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.memo import Memo
from paperscope.core.optim import Adam
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import numpy_generator, torch_generator

PAPER = Paper(
    slug="robust-counterfactuals",
    title="Robust counterfactuals under model retraining (T-Rex)",
    paper_title="Robust Counterfactual Explanations for Neural Networks With Probabilistic Guarantees",
    authors="Hamman, Noorani, Mishra, Magazzeni, Dutta",
    venue="ICML 2023",
    arxiv="2305.11997",
    claim=("Closest counterfactuals are often invalidated when the network is retrained; T-Rex "
           "counterfactuals, pushed until their Stability exceeds τ, stay valid with high "
           "probability, at a higher cost."),
    equations=(
        r"\hat R_{k,\sigma^2}(x, m) = \frac1k \sum_{i=1}^k \big[m(X_i) - \gamma\,|m(x) - m(X_i)|\big],"
        r"\quad X_i \sim \mathcal N(x, \sigma^2 I)",
        r"x_c \leftarrow x_c + \eta\, \nabla \hat R(x_c) / \|\nabla \hat R(x_c)\|"
        r" \quad \text{while } \hat R(x_c) < \tau",
        r"E_{X\sim\mathcal N(x,\sigma^2 I)}[M(X)] = E_{X\sim\mathcal N(x,\sigma^2 I)}[m(X)]"
        r" \ \text{(naturally-occurring change)}",
    ),
    topics=("explainability", "counterfactuals", "robustness"),
    checked=("The empirical Stability and the T-Rex ascent are checked against RobustX's STCE and a public "
             "TensorFlow T-Rex implementation; the theorem's exact tail bound was not readable offline and "
             "is not confirmed."),
)

MODEL_CHANGES = ("reseed + 90% bootstrap", "reseed", "width change", "weight jitter")
METHODS = ("closest", "trex", "stce")
METHOD_LABELS = {"closest": "closest", "trex": "T-Rex", "stce": "STCE (T-Rex search)"}
TAUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 ... 0.95: the τ sweep
BOOTSTRAP_FRACTION = 0.9
WIDTH_FACTORS = (0.5, 0.75, 1.5, 2.0)  # "width change": changed model j gets factor j mod 4
JITTER = 0.1  # "weight jitter": noise of 10 % of each weight tensor's RMS
LR = 1e-2
CLOSEST_TARGET = 0.51  # the closest walk stops once m >= 0.51 (just past the boundary)
GRID = 80  # decision-map resolution per axis
CANDIDATE_CHUNK = 512  # STCE candidates scored at once
DTYPE = torch.float32
# Seed streams: data, queries, ascent draws, fresh draws, STCE draws; model j's init 100 + j,
# its bootstrap 200 + j, its jitter 300 + j.
STREAM_DATA, STREAM_QUERIES, STREAM_CRN, STREAM_FRESH, STREAM_STCE = 0, 1, 2, 3, 4
MODELS = Memo("robust-counterfactuals models", size=16, max_bytes=512 * 2**20)


class Params(LabParams):
    """Hyperparameters of the robust-counterfactuals lab (defaults: the spec's CPU experiment)."""

    threshold = param.Number(
        0.7, bounds=(0.0, 1.0), softbounds=(0.5, 0.95),
        doc=("τ, the Stability T-Rex must reach: higher keeps more CFs valid after retraining and "
             "moves them further from the query. The τ plots sweep 0.5-0.95 in the same run"),
    )
    sigma = param.Number(
        0.1, bounds=(1e-3, 2.0), softbounds=(0.01, 0.5),
        doc="σ, the Gaussian neighbourhood's scale in Stability, in standardized feature units",
    )
    samples = param.Integer(
        200, bounds=(2, 20000), softbounds=(10, 1000),
        doc="k, Monte-Carlo samples per Stability estimate (fewer: a noisier R̂)",
    )
    gamma = param.Number(
        1.0, bounds=(0.0, 10.0), softbounds=(0.0, 2.0),
        doc=("γ, the weight of the variability term |m(x) − m(X_i)| in R̂ (1 in the paper; 0: the "
             "mean output alone)"),
    )
    model_change = param.Selector(
        default=MODEL_CHANGES[0], objects=list(MODEL_CHANGES),
        doc=("How the changed models differ from m. reseed + 90% bootstrap: a new seed on a random "
             "90% of the data; reseed: a new seed, same data; width change: a new seed and ½-2x the "
             "hidden width; weight jitter: m's weights plus 10% noise (no retraining)"),
    )
    data_noise = param.Number(
        0.15, bounds=(0.0, 1.0), softbounds=(0.05, 0.3),
        doc="Standard deviation of the noise added to the two moons (before standardizing)",
    )
    n_data = param.Integer(1000, bounds=(20, 200000), softbounds=(200, 4000),
                           doc="Training points of the two moons")
    retrained = param.Integer(10, bounds=(1, 1000), softbounds=(2, 50),
                              doc="R, changed models the CFs are tested against")
    queries = param.Integer(100, bounds=(1, 20000), softbounds=(10, 500),
                            doc="Query points (classified negative by m) that get a CF")
    width = param.Integer(64, bounds=(2, 1024), softbounds=(8, 256), doc="H, hidden width of m's MLP 2-H-H-1")
    epochs = param.Integer(200, bounds=(1, 20000), softbounds=(20, 1000),
                           doc="Full-batch Adam steps (lr 1e-2) for every model")
    step = param.Number(0.01, bounds=(1e-4, 1.0), softbounds=(0.002, 0.05),
                        doc="η, the length of each normalized-gradient step of both CF searches")
    max_steps = param.Integer(500, bounds=(1, 20000), softbounds=(50, 2000),
                              doc="Step limit of the closest walk and of the T-Rex ascent")

    # The app's first paint, tests and CI: about a second on one CPU core with training, a
    # fraction of that when only τ, σ, k, γ, η or the step limit moved (the models are memoized).
    QUICK: ClassVar[dict] = {"n_data": 400, "retrained": 6, "queries": 40, "width": 32, "epochs": 150,
                             "samples": 100}
    # The spec's GPU scale-up on the same task: 50 changed models, larger k, more queries.
    LARGE: ClassVar[dict] = {"n_data": 5000, "retrained": 50, "queries": 1000, "width": 128,
                             "epochs": 400, "samples": 500}


@dataclass(frozen=True, kw_only=True)
class RobustCFFrame(Frame):
    """One snapshot. Shapes: N data points, Q queries, R changed models, T = len(taus) thresholds
    (the sweep, then the selected τ last), G grid points per axis. Arrays of CFs not computed
    yet are empty (0 rows). ``valid_retrained[method]``: (T, Q) fraction of changed models
    under which each CF is valid (NaN where the CF is not valid under m)."""

    X: np.ndarray  # (N, 2) standardized data
    y: np.ndarray  # (N,) labels 0/1
    grid: np.ndarray  # (G,) axis values of the map (both axes)
    prob: np.ndarray  # (G, G) m on the grid, [i, j] at (grid[j], grid[i])
    prob_changed: np.ndarray  # (R, G, G) the changed models on the grid
    queries: np.ndarray  # (Q, 2)
    closest: np.ndarray  # (Q, 2)
    trex: np.ndarray  # (Q, 2) at the selected τ
    taus: np.ndarray  # (T,)
    cfs: dict  # method -> (T, Q, 2); closest repeats along T
    valid_m: dict  # method -> (T, Q) bool-as-float
    valid_retrained: dict  # method -> (T, Q)
    stability: dict  # method -> (Q,) R̂ with fresh draws at the selected τ
    threshold: float
    stage: str
    notice: str = ""


# --------------------------------------------------------------------------------------------
# Data


def make_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (sklearn's ``make_moons`` layout), shuffled: ``X (n, 2), y (n,)``."""
    n_out = n // 2
    n_in = n - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def standardize(X: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per feature: σ is then in units of the feature scale."""
    return (X - X.mean(0)) / X.std(0)


# --------------------------------------------------------------------------------------------
# A batch of MLPs 2-H-H-1 with a leading model axis


@dataclass(frozen=True)
class MLPs:
    """M ReLU MLPs stacked along the first axis. ``mask (M, 1, H)`` switches off the hidden
    units a narrower model does not have (all ones when every model has width H)."""

    W1: torch.Tensor  # (M, 2, H)
    b1: torch.Tensor  # (M, 1, H)
    W2: torch.Tensor  # (M, H, H)
    b2: torch.Tensor  # (M, 1, H)
    W3: torch.Tensor  # (M, H, 1)
    b3: torch.Tensor  # (M, 1, 1)
    mask: torch.Tensor  # (M, 1, H)

    def weights(self) -> list[torch.Tensor]:
        return [self.W1, self.b1, self.W2, self.b2, self.W3, self.b3]

    def select(self, index) -> "MLPs":
        """The models at ``index`` (an int keeps the axis: a batch of one)."""
        index = [index] if isinstance(index, int) else index
        return MLPs(*(t[index] for t in (*self.weights(), self.mask)))


def logits(net: MLPs, X: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Every model's logit at every point: ``X (N, 2)`` shared or ``(M, N, 2)`` per model -> ``(M, N)``."""
    W1, b1, W2, b2, W3, b3 = net.weights() if weights is None else weights
    h = torch.relu(torch.matmul(X, W1) + b1) * net.mask  # (M, N, H)
    h = torch.relu(torch.bmm(h, W2) + b2) * net.mask
    return (torch.bmm(h, W3) + b3).squeeze(-1)


def prob(net: MLPs, X: torch.Tensor) -> torch.Tensor:
    """m(x) = σ(logit) for every model, ``(M, N)``."""
    return torch.sigmoid(logits(net, X))


def init_mlp(widths: list[int], H: int, seed: int, streams: list[int], device, dtype) -> MLPs:
    """torch.nn.Linear's default initialisation (U(±1/√fan_in) for weights and biases), one
    generator stream per model on the CPU (the same numbers on every device), padded to H."""
    layers = {name: [] for name in ("W1", "b1", "W2", "b2", "W3", "b3", "mask")}
    for width, stream in zip(widths, streams):
        g = torch_generator(seed, "cpu", stream)

        def uniform(shape, fan_in, g=g):
            return (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1) / math.sqrt(fan_in)

        pad = H - width
        layers["W1"].append(F.pad(uniform((2, width), 2), (0, pad)))
        layers["b1"].append(F.pad(uniform((1, width), 2), (0, pad)))
        layers["W2"].append(F.pad(uniform((width, width), width), (0, pad, 0, pad)))
        layers["b2"].append(F.pad(uniform((1, width), width), (0, pad)))
        layers["W3"].append(F.pad(uniform((width, 1), width), (0, 0, 0, pad)))
        layers["b3"].append(uniform((1, 1), width))
        layers["mask"].append((torch.arange(H) < width).to(torch.float64).reshape(1, H))
    return MLPs(**{k: torch.stack(v).to(device=device, dtype=dtype) for k, v in layers.items()})


def train_steps(net: MLPs, opt: Adam, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    """n full-batch Adam steps of every model on its weighted cross-entropy; returns the losses (M,).

    ``w (M, N)``: each model's weight of each point (0/1 for a subsample). The loss is the sum
    over models of each model's mean loss, so each model's gradient is its own: the batch trains
    M independent networks (Adam is elementwise).
    """
    for _ in range(n):
        z = logits(net, X)  # (M, N)
        per_point = F.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="none")
        loss = (per_point * w).sum(1) / w.sum(1)  # (M,)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return loss.detach()


def trainable(net: MLPs) -> MLPs:
    """A copy of ``net`` whose weights require gradients."""
    return MLPs(*(t.detach().clone().requires_grad_() for t in net.weights()), net.mask)


def frozen(net: MLPs) -> MLPs:
    return MLPs(*(t.detach() for t in net.weights()), net.mask)


def changed_setup(params: Params, N: int) -> tuple[list[int], np.ndarray]:
    """Widths and data weights ``(R, N)`` of the changed models for ``params.model_change``."""
    R, H = params.retrained, params.width
    widths = [H] * R
    weights = np.ones((R, N))
    if params.model_change == "reseed + 90% bootstrap":
        keep = round(BOOTSTRAP_FRACTION * N)
        for j in range(R):
            weights[j] = 0.0
            weights[j, numpy_generator(params.seed, 200 + j).permutation(N)[:keep]] = 1.0
    elif params.model_change == "width change":
        widths = [max(2, round(H * WIDTH_FACTORS[j % len(WIDTH_FACTORS)])) for j in range(R)]
    return widths, weights


def jittered(base: MLPs, R: int, seed: int) -> MLPs:
    """R copies of m, each weight tensor plus N(0, (JITTER · its RMS)²) noise (CPU generators)."""
    out = []
    for t in base.weights():
        rms = t.pow(2).mean().sqrt().item()
        noise = torch.stack([torch.randn(t.shape[1:], generator=torch_generator(seed, "cpu", 300 + j),
                                         dtype=torch.float64) for j in range(R)])
        out.append(t.expand(R, *t.shape[1:]) + JITTER * rms * noise.to(t.device, t.dtype))
    return MLPs(*out, base.mask.expand(R, *base.mask.shape[1:]))


# --------------------------------------------------------------------------------------------
# Stability and the counterfactual searches (batched over queries)


def stability(m: Callable, x: torch.Tensor, Z: torch.Tensor, sigma: float, gamma: float) -> torch.Tensor:
    """R̂_{k,σ²}(x, m) = (1/k) Σ_i [m(X_i) − γ |m(x) − m(X_i)|], X_i = x + σ Z_i.

    ``m`` maps ``(n, 2)`` to ``(n,)``; ``x (Q, 2)``, ``Z (Q, k, 2)`` standard normal -> ``(Q,)``.
    """
    Q, k, d = Z.shape
    Xi = x.unsqueeze(1) + sigma * Z  # (Q, k, 2)
    m_Xi = m(Xi.reshape(Q * k, d)).reshape(Q, k)
    m_x = m(x).unsqueeze(1)  # (Q, 1)
    return (m_Xi - gamma * (m_x - m_Xi).abs()).mean(1)


def unit(g: torch.Tensor) -> torch.Tensor:
    """Rows of ``g`` scaled to unit length (a zero gradient stays zero)."""
    return g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)


def closest_walk(m: Callable, x: torch.Tensor, step: float, max_steps: int,
                 target: float = CLOSEST_TARGET) -> torch.Tensor:
    """The closest CF: ``x ← x + η ∇m / ‖∇m‖`` until m(x) ≥ target or max_steps, per query."""
    x = x.detach().clone()
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(max_steps + 1):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        xa = x[idx].requires_grad_()
        p = m(xa)
        (g,) = torch.autograd.grad(p.sum(), xa)
        reached = p.detach() >= target
        active[idx[reached]] = False
        move = idx[~reached]
        x[move] = xa.detach()[~reached] + step * unit(g[~reached])
    return x


def trex_ascent(m: Callable, x0: torch.Tensor, Z: torch.Tensor, sigma: float, gamma: float,
                taus: torch.Tensor, step: float, max_steps: int) -> torch.Tensor:
    """T-Rex:I for every threshold of ``taus (T,)`` in one ascent: ``(T, Q, 2)``.

    ``x ← x + η ∇R̂ / ‖∇R̂‖`` on R̂ with the fixed draws ``Z (Q, k, 2)`` (common random numbers:
    the trajectory is the same whatever τ is). The CF for τ is the first iterate with R̂ ≥ τ, or
    the last one if none within max_steps, exactly what a run with that τ alone returns.
    """
    T, Q = len(taus), len(x0)
    x = x0.detach().clone()
    out = x.unsqueeze(0).repeat(T, 1, 1)
    found = torch.zeros(T, Q, dtype=torch.bool, device=x.device)
    for s in range(max_steps + 1):
        idx = (~found.all(0)).nonzero().squeeze(1)  # queries still below some τ
        if len(idx) == 0:
            break
        xa = x[idx].requires_grad_()
        R = stability(m, xa, Z[idx], sigma, gamma)
        newly = (R.detach().unsqueeze(0) >= taus.unsqueeze(1)) & ~found[:, idx]  # (T, |idx|)
        t_new, q_new = newly.nonzero(as_tuple=True)
        out[t_new, idx[q_new]] = xa.detach()[q_new]
        found[:, idx] |= newly
        if s == max_steps:
            break
        (g,) = torch.autograd.grad(R.sum(), xa)
        x[idx] = xa.detach() + step * unit(g)
    left = ~found  # never reached τ: the last iterate, as Algorithm 1 returns
    out[left] = x.unsqueeze(0).expand(T, Q, 2)[left]
    return out


def stce(queries: torch.Tensor, candidates: torch.Tensor, R_candidates: torch.Tensor,
         taus: torch.Tensor) -> torch.Tensor:
    """STCE: for each query and τ, the nearest candidate (a training point m classifies
    positive) with R̂ > τ; the query itself where there is none. ``(T, Q, 2)``."""
    dist = torch.cdist(queries, candidates)  # (Q, C)
    eligible = R_candidates.unsqueeze(0) > taus.unsqueeze(1)  # (T, C)
    masked = torch.where(eligible.unsqueeze(1), dist.unsqueeze(0), torch.full_like(dist, math.inf))
    best = masked.argmin(2)  # (T, Q)
    out = candidates[best]
    none = ~eligible.any(1)
    out[none] = queries.expand(len(taus), *queries.shape)[none]
    return out


# --------------------------------------------------------------------------------------------
# Evaluation


def retrained_validity(valid_m: np.ndarray, valid_changed: np.ndarray) -> float:
    """Mean fraction of changed models under which a CF is valid, among CFs valid under m."""
    ok = valid_m.astype(bool)
    return float(valid_changed[ok].mean()) if ok.any() else math.nan


def mean_cost(cfs: np.ndarray, queries: np.ndarray, valid_m: np.ndarray) -> float:
    """Mean L2 distance ‖x' − x‖ over the CFs valid under m."""
    ok = valid_m.astype(bool)
    return float(np.linalg.norm(cfs - queries, axis=-1)[ok].mean()) if ok.any() else math.nan


def _plain(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def metrics_of(frame: RobustCFFrame) -> dict:
    """Headline numbers at the selected τ (the last entry of ``taus``), per method and flat."""
    by_method = {}
    for method in METHODS:
        vm = frame.valid_m[method][-1]
        vr = frame.valid_retrained[method][-1]
        by_method[method] = {
            "validity_m": _plain(vm.mean()),
            "validity_retrained": _plain(retrained_validity(vm, vr)),
            "cost": _plain(mean_cost(frame.cfs[method][-1], frame.queries, vm)),
            "stability": _plain(np.mean(frame.stability[method])),
        }
    out = {f"{name}_{method}": by_method[method][key]
           for method in METHODS
           for key, name in (("validity_retrained", "validity_retrained"), ("cost", "cost"),
                             ("validity_m", "validity_m"), ("stability", "stability"))}
    trex, closest = out["validity_retrained_trex"], out["validity_retrained_closest"]
    out["validity_gain"] = None if trex is None or closest is None else trex - closest
    out["threshold"] = frame.threshold
    out["by_method"] = by_method
    return out


# --------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Trained:
    """The models a run needs: m (a batch of one) and the R changed models, and the data."""

    X: torch.Tensor  # (N, 2)
    y: torch.Tensor  # (N,)
    base: MLPs
    changed: MLPs


def _data(params: Params, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = make_moons(params.n_data, params.data_noise, numpy_generator(params.seed, STREAM_DATA))
    return (torch.as_tensor(standardize(X), device=device, dtype=dtype),
            torch.as_tensor(y, device=device, dtype=dtype))


def _train_stage(net: MLPs, X, y, w, epochs: int, pace: Pacer, what: str) -> Iterator[int | MLPs]:
    """Train ``net`` in paced chunks: yields each chunk's epoch count, and last the frozen net."""
    net = trainable(net)
    opt = Adam(net.weights(), lr=LR)
    for n in pace.chunks(epochs):
        loss = train_steps(net, opt, X, y, w, n)
        check_finite(loss, step=n, what=f"the {what}' training loss", hint="lower epochs or width")
        yield n
    yield frozen(net)


def models(params: Params, X: torch.Tensor, y: torch.Tensor, pace: Pacer) -> Iterator[int | Trained]:
    """m and the changed models, from the memo or trained (yields epochs done between chunks).
    The key holds everything that shapes them; ``X, y`` are the run's data (``_data``)."""
    device, dtype = X.device, X.dtype
    shape = (params.seed, params.data_noise, params.n_data, params.width, params.epochs, str(device), str(dtype))
    base_key = ("base", *shape)
    base = MODELS.get(base_key)
    if base is None:
        net = init_mlp([params.width], params.width, params.seed, [100], device, dtype)
        for base in _train_stage(net, X, y, torch.ones(1, len(X), device=device, dtype=dtype),
                                 params.epochs, pace, "base model"):
            if isinstance(base, int):
                yield base
        MODELS.put(base_key, base)
    changed_key = ("changed", params.model_change, params.retrained, *shape)
    changed = MODELS.get(changed_key)
    if changed is None:
        if params.model_change == "weight jitter":
            changed = jittered(base, params.retrained, params.seed)
        else:
            widths, w = changed_setup(params, len(X))
            H = max(widths)
            net = init_mlp(widths, H, params.seed, [101 + j for j in range(params.retrained)], device, dtype)
            w = torch.as_tensor(w, device=device, dtype=dtype)
            for changed in _train_stage(net, X, y, w, params.epochs, pace, "changed models"):
                if isinstance(changed, int):
                    yield changed
        MODELS.put(changed_key, changed)
    yield Trained(X, y, base, changed)


def map_grid(X: torch.Tensor) -> torch.Tensor:
    """The map's axis values, ``(G,)``: a square covering the data with a margin."""
    lo, hi = float(X.min()) - 0.3, float(X.max()) + 0.3
    return torch.linspace(lo, hi, GRID, device=X.device, dtype=X.dtype)


def decision_maps(trained: Trained) -> tuple[np.ndarray, np.ndarray]:
    """m and the changed models on the G × G grid: ``(G, G), (R, G, G)``."""
    grid = map_grid(trained.X)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    P = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)  # row i: y = grid[i]
    with torch.no_grad():
        base = prob(trained.base, P).reshape(GRID, GRID)
        changed = prob(trained.changed, P).reshape(-1, GRID, GRID)
    return to_host(base), to_host(changed)


def pick_queries(trained: Trained, Q: int, seed: int) -> torch.Tensor:
    """Q training points that m classifies negative, drawn at random (all of them if fewer)."""
    with torch.no_grad():
        negative = (prob(trained.base, trained.X)[0] < 0.5).nonzero().squeeze(1).cpu().numpy()
    chosen = numpy_generator(seed, STREAM_QUERIES).permutation(negative)[:Q]
    return trained.X[torch.as_tensor(np.sort(chosen), device=trained.X.device)]


def candidate_stability(m: Callable, candidates: torch.Tensor, params: Params, device) -> torch.Tensor:
    """R̂ of STCE's candidates, ``(C,)``, in chunks of CANDIDATE_CHUNK (the draws of a large data
    set would not fit at once), drawn on the CPU from one generator in fixed chunks: the same
    draws on every device."""
    g = torch_generator(params.seed, "cpu", STREAM_STCE)
    out = []
    for start in range(0, len(candidates), CANDIDATE_CHUNK):
        x = candidates[start:start + CANDIDATE_CHUNK]
        Z = torch.randn(len(x), params.samples, 2, generator=g).to(device, DTYPE)
        out.append(stability(m, x, Z, params.sigma, params.gamma))
    return torch.cat(out) if out else candidates.new_zeros(0)


def check_memory(params: Params, device) -> None:
    """Refuse sizes whose largest tensors (the ascent's hidden layers, the models' training
    activations, STCE's candidate draws) would not fit, with a one-line reason."""
    H = params.width * (max(WIDTH_FACTORS) if params.model_change == "width change" else 1)
    ascent = params.queries * params.samples * H * 4 * 6  # two hidden layers, with their gradients
    training = (params.retrained + 1) * params.n_data * H * 4 * 6
    stce_draws = min(params.n_data, CANDIDATE_CHUNK) * params.samples * params.width * 4 * 3
    check_fits(max(ascent, training, stce_draws), device,
               f"queries={params.queries}, samples={params.samples}, n_data={params.n_data}",
               "lower queries, samples or n_data")


def run(params: Params) -> Iterator[RobustCFFrame]:
    """Train (or fetch) the models, search the CFs, evaluate them; yield frames as it goes."""
    device, notice = resolve_device_for(params.device, DTYPE)
    check_memory(params, device)
    pace = Pacer()
    taus = torch.tensor([*TAUS, params.threshold], device=device, dtype=DTYPE)
    T = len(taus)
    X, y = _data(params, device, DTYPE)
    empty = np.zeros((0, 2))
    state = {"X": to_host(X), "y": to_host(y), "grid": to_host(map_grid(X)), "prob": np.full((GRID, GRID), np.nan),
             "prob_changed": np.zeros((0, GRID, GRID)), "queries": empty, "closest": empty, "trex": empty,
             "cfs": {}, "valid_m": {}, "valid_retrained": {}, "stability": {}}
    total = 2 * params.epochs + 3

    def frame(step, stage, final=False):
        f = RobustCFFrame(step=step, total_steps=total, taus=to_host(taus), threshold=params.threshold,
                          stage=stage, notice=notice,
                          **{k: dict(v) if isinstance(v, dict) else v for k, v in state.items()})
        return dataclasses.replace(f, metrics=metrics_of(f)) if final else f

    stages = models(params, X, y, pace)
    trained, done = next(stages), 0  # memoized models come at once: the first frame shows them
    if not isinstance(trained, int):
        state["prob"], state["prob_changed"] = decision_maps(trained)
    yield frame(0, "training the models" if isinstance(trained, int) else "closest counterfactuals")
    if isinstance(trained, int):
        while isinstance(trained, int):
            done += trained
            if pace.due():
                yield frame(min(done, 2 * params.epochs), "training the models")
            trained = next(stages)
        state["prob"], state["prob_changed"] = decision_maps(trained)
    step = 2 * params.epochs

    def m(x):  # the base model as a function of points (n, 2) -> (n,)
        return prob(trained.base, x)[0]

    q = pick_queries(trained, params.queries, params.seed)
    Q, k = len(q), params.samples
    state["queries"] = to_host(q)
    yield frame(step, "closest counterfactuals")
    pace.shown()

    closest = closest_walk(m, q, params.step, params.max_steps)
    state["closest"] = to_host(closest)
    yield frame(step + 1, "T-Rex ascent")
    pace.shown()

    Z = torch.randn(Q, k, 2, generator=torch_generator(params.seed, "cpu", STREAM_CRN)).to(device, DTYPE)
    trex = trex_ascent(m, closest, Z, params.sigma, params.gamma, taus, params.step, params.max_steps)
    check_finite(trex, step=step + 2, what="the T-Rex counterfactuals", hint="lower step or sigma")
    state["trex"] = to_host(trex[-1])

    with torch.no_grad():
        positive = trained.X[m(trained.X) >= 0.5]
        R_positive = candidate_stability(m, positive, params, device)
        cfs = {"closest": closest.expand(T, Q, 2), "trex": trex, "stce": stce(q, positive, R_positive, taus)}
        fresh = torch.randn(Q, k, 2, generator=torch_generator(params.seed, "cpu", STREAM_FRESH)).to(device, DTYPE)
        for method, cf in cfs.items():
            flat = cf.reshape(T * Q, 2)
            valid_m = (m(flat) >= 0.5).reshape(T, Q)
            valid_changed = (prob(trained.changed, flat) >= 0.5).to(DTYPE).mean(0).reshape(T, Q)
            state["cfs"][method] = to_host(cf)
            state["valid_m"][method] = to_host(valid_m.to(DTYPE))
            state["valid_retrained"][method] = np.where(to_host(valid_m) > 0, to_host(valid_changed), np.nan)
            state["stability"][method] = to_host(stability(m, cf[-1], fresh, params.sigma, params.gamma))
    yield frame(total, "done", final=True)


def final_metrics(overrides: dict) -> dict:
    """The last frame's metrics of a run at ``overrides`` (on the CPU; claims and benchmarks)."""
    *_, last = run(Params(**{"device": "cpu", **overrides}))
    return last.metrics

"""Fantastic Generalization Measures are Nowhere to be Found.

Gastpar, Nachum, Shafer, Weinberger; ICLR 2024; arXiv:2309.13658.

Claim: a generalization bound that sees only the training set S and the learned hypothesis
h = A(S) (norm-, margin- and PAC-Bayes-at-a-point bounds) cannot be uniformly tight in the
overparameterized regime: two population distributions that agree on the labels of every point
of S give the same S, the same h and therefore the same bound B(S, h), yet their population
losses differ by almost 1, so for one of them |B − L_D(h)| ≥ (L_D2(h) − L_D1(h))/2.

The lab makes that mechanism visible on a finite pool (the spec's toy experiment):

* pool: N = ``pool_ratio``·m points x ~ N(0, I_20), teacher y1(x) = sign(wᵀx + 0.5 sin(3 x_1))
  with ‖w‖ = 1; ``label_noise`` ρ flips y1 on a random fraction ρ of the pool (a fixed labelling
  ỹ, so every distribution below stays deterministic in its labels);
* S: m points drawn i.i.d. (with replacement) from the uniform distribution on the pool,
  labelled by ỹ;
* A: a 20 → ``width`` → 1 ReLU MLP from a seeded initialisation w₀, ``steps`` full-batch Adam
  steps (lr 1e-3) on the logistic loss;
* three distributions, all uniform on the pool: D1 labels ỹ everywhere; D2 labels ỹ on S and
  −h(x) off S (adversarial); D3 labels ỹ on S and a coin flip off S. All three give S the same
  probability, so A returns the same h; their losses are exact averages over the pool.

With q the fraction of the pool that S hits and ε_off the error of h on the rest,

    L_D2(h) − L_D1(h) = (1 − q)(1 − ε_off),  impossibility gap = (L_D2 − L_D1)/2,

and max_i |B − L_Di| ≥ gap for every number B. D2 is a legitimate distribution (uniform
marginal, deterministic labels); that it is chosen after seeing S is exactly the freedom the
theorem's "for every D" gives, and why tightness needs assumptions on D.

The bounds are functions of (S, h) only, structurally: :func:`bounds_from` receives the training
set, the trained and initial weights and the constants, never a distribution or the pool.

1. VC: ``L_D ≤ L_S + √((8/m)(d_VC ln(2em/d_VC) + ln(4/δ)))`` with d_VC = P·L·ln P for P weights
   and L layers (Bartlett–Harvey–Liaw–Mehrabian, JMLR 2019: O(W L log W)); 1 (vacuous) when
   d_VC ≥ m, and clipped at 1.
2. Spectral-norm margin measure (Neyshabur–Bhojanapalli–Srebro 2018), constants set to 1:
   ``L̂_γ + √([B² L² h ln(L h) Π‖W_i‖₂² Σ‖W_i‖_F²/‖W_i‖₂² + ln(L m/δ)] / (γ² m))``, γ the 10 %
   quantile of the positive training margins y f(x) (the spec's "10 % quantile of the training
   margins" whenever the training error is below 10 %), B the largest input norm, weight
   matrices only (no biases). A "measure (up to constants)", not a numeric bound.
3. PAC-Bayes (Langford–Seeger / Maurer): ``kl(L̂_Q ‖ L_Q) ≤ (KL(Q‖P) + ln(2√m/δ'))/m`` with
   Q = N(w, σ²I), P = N(w₀, σ²I), KL = ‖w − w₀‖²/(2σ²), a fixed grid of G values of σ and
   δ' = δ/(2G) (union bound; the other δ/2 pays for the Monte-Carlo estimate of L̂_Q, whose
   Hoeffding term √(ln(4G/δ)/(2 n_mc)) is added before kl is inverted by bisection). It
   bounds the Gibbs classifier Q (a fresh weight draw per prediction), not h.

The Gibbs estimate draws fresh weights for every (draw, training point) pair, which makes its
n_mc = K·m indicators independent (Hoeffding over K·m, not K), and is exact and cheap: for
W₁' = W₁ + σE, E x ~ ‖x‖ N(0, I), so a pair needs one hidden-width normal vector, not a weight
matrix (:func:`gibbs_margins`; a unit test compares it with full weight draws).

Checked against the paper (search tool, corpus "pages": arXiv HTML v1 and v3, the abstract
pages and the ICLR 2024 listing). Confirmed: the two bound types and the claim as the spec
states them; that the paper introduces estimability and proves no hypothesis class is
estimable in the overparameterized regime; the learnability–estimability trade-off; and that
the linear-functions section exists: in v1 it is Section 5, "Limitations of Estimability
Implied by Linear Functions" (with appendices on finite fields and unpredictability in
multiclass and binary classification), and the abstract says algorithms that learn linear
functions over finite fields are not estimable, with an extension to certain neural network
architectures. In v3 (the ICLR version) the sections are reorganised (Section 5 "Bounds that
are Algorithm- and Distribution-Independent Cannot be Uniformly Tight", Section 6 "Algorithm-
Dependent Bounds are Limited by a Learnability–Estimability Trade-Off"). Not confirmed: the
exact statement and constants of Theorem 1 (ε, δ and how large VC(H) must be relative to m)
and the quantitative details of the finite-field section: the search tool returned only the
beginnings of those pages. The lab therefore asserts only the forced-error inequality above,
which holds by construction, and no constant of the paper's theorems.
"""

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import param
import torch
import torch.nn.functional as F

from paperscope.core.device import check_fits, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.memo import Memo
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="generalization-bounds",
    title="No uniformly tight generalization bound",
    paper_title="Fantastic Generalization Measures are Nowhere to be Found",
    authors="Gastpar, Nachum, Shafer, Weinberger",
    venue="ICLR 2024",
    arxiv="2309.13658",
    claim=("A bound that sees only the training set and the learned hypothesis cannot be uniformly "
           "tight when overparameterized: two distributions that agree on S give the same bound "
           "but population losses that differ by almost 1."),
    equations=(
        r"\max_{i \in \{1,2\}} |B(S, h) - L_{D_i}(h)| \ge \tfrac12 \big(L_{D_2}(h) - L_{D_1}(h)\big)",
        r"L_{D_2}(h) - L_{D_1}(h) = (1 - q)(1 - \varepsilon_{\mathrm{off}})",
        r"L_D \le L_S + \sqrt{\tfrac8m \big(d_{VC} \ln \tfrac{2em}{d_{VC}} + \ln \tfrac4\delta\big)}",
        r"\mathrm{kl}(\hat L_Q \,\|\, L_Q) \le \frac{\|w - w_0\|^2 / (2\sigma^2) + \ln(2\sqrt m/\delta')}{m}",
    ),
    topics=("learning theory", "generalization", "PAC-Bayes"),
    checked=("The claim, the two bound types and the finite-field section's existence are confirmed "
             "from the paper's abstract and section titles (arXiv v1 and v3); Theorem 1's constants "
             "and Section 5's details could not be read, so the lab asserts only the forced-error "
             "inequality, which holds by construction."),
)

DIM = 20  # input dimension of the pool
SIN_WEIGHT, SIN_FREQ = 0.5, 3.0  # teacher y1(x) = sign(wᵀx + 0.5 sin(3 x_1))
LAYERS = 2  # weight layers of the MLP (hidden, output)
# The PAC-Bayes σ grid, fixed before S is seen. At σ = 1 the Gibbs classifier's training error
# is already ~0.45 (Q is nearly a coin flip); larger σ drive the bound towards
# kl⁻¹(½, ln(2√m/δ')/m) ≈ 0.7 for every h, a number that no longer describes h.
SIGMA_RANGE = (10 ** -2.5, 1.0)
MARGIN_QUANTILE = 0.1  # γ of the margin measure
RATIO_GRID = (1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50)  # pool ratios of the gap view
DISTRIBUTIONS = ("D1", "D2", "D3")
BISECTION_STEPS = 60
GIBBS_CHUNK_ELEMS = 2**25  # hidden activations per chunk of Gibbs draws (128 MB of float32)
STREAM_POOL, STREAM_SAMPLE, STREAM_INIT, STREAM_GIBBS = 0, 1, 2, 3


class Params(LabParams):
    """Hyperparameters of the impossibility lab (defaults: the spec's CPU experiment)."""

    pool_ratio = param.Number(
        20.0, bounds=(1.0, 50.0), softbounds=(1.0, 50.0),
        doc=("N/m, pool size over training-set size: the overparameterization knob. The part of "
             "the pool that S never sees, about 1 − q, is where D1 and D2 may disagree, so the "
             "impossibility gap vanishes as N/m → 1"),
    )
    label_noise = param.Number(
        0.0, bounds=(0.0, 0.5), softbounds=(0.0, 0.5),
        doc=("ρ, fraction of the pool whose teacher label is flipped (S inherits it): the true "
             "losses move, and so do the (S, h)-bounds (random labels raise norms and PAC-Bayes)"),
    )
    width = param.Integer(
        256, bounds=(16, 1024), softbounds=(16, 1024),
        doc="h, hidden ReLU units: VC explodes, norm measures change, the D1 vs D2 gap stays",
    )
    steps = param.Integer(
        600, bounds=(100, 3000), softbounds=(100, 3000),
        doc="Full-batch Adam steps: the margin grows and the NBS measure changes; the gap does not",
    )
    m = param.Integer(200, bounds=(20, 5000), softbounds=(50, 1000),
                      doc="m, training-set size (draws with replacement from the pool)")
    lr = param.Number(1e-3, bounds=(1e-5, 1.0), softbounds=(1e-4, 1e-2), doc="Adam step size")
    delta = param.Number(0.05, bounds=(1e-4, 0.5), softbounds=(0.01, 0.2),
                         doc="δ, every bound holds with probability at least 1 − δ over S")
    sigmas = param.Integer(16, bounds=(1, 64), softbounds=(2, 32),
                           doc="G, σ values of the PAC-Bayes grid (paid for by δ/G)")
    draws = param.Integer(20, bounds=(1, 500), softbounds=(2, 100),
                          doc=("K, Monte-Carlo weight draws per training point and σ for the Gibbs "
                               "error (its Hoeffding term shrinks like 1/√(K m))"))

    LOG_SCALE: ClassVar[tuple] = ("pool_ratio",)
    QUICK: ClassVar[dict] = {"width": 64, "steps": 300, "sigmas": 6, "draws": 4}
    # The spec's GPU scale-up (CIFAR-10 with ResNet-18) needs a data set this lab does not ship;
    # LARGE is the same toy at the sizes a GPU makes interactive.
    LARGE: ClassVar[dict] = {"m": 2000, "width": 1024, "steps": 3000, "sigmas": 32, "draws": 100}


@dataclass(frozen=True, kw_only=True)
class BoundsFrame(Frame):
    """A snapshot after ``step`` of ``total_steps = steps`` training steps.

    Histories (T frames so far): ``history_steps``, ``train_error``, ``loss_d1/2/3``,
    ``vc_history``, ``nbs_history``. Final numbers (NaN until the last frame): ``pac_bayes``,
    ``sigma_grid (G,)``, ``pb_per_sigma (G,)``, ``gibbs_per_sigma (G,)`` (Monte-Carlo estimate of
    L̂_Q) and the gap view's ``ratios (R,)``, ``gap_formula (R,)``, ``gap_ceiling (R,)``.
    """

    label: str
    pool_ratio: float
    label_noise: float
    history_steps: np.ndarray
    train_error: np.ndarray
    loss_d1: np.ndarray
    loss_d2: np.ndarray
    loss_d3: np.ndarray
    vc_history: np.ndarray
    nbs_history: np.ndarray
    pac_bayes: float
    sigma_grid: np.ndarray
    pb_per_sigma: np.ndarray
    gibbs_per_sigma: np.ndarray
    ratios: np.ndarray
    gap_formula: np.ndarray
    gap_ceiling: np.ndarray
    notice: str = ""

    @property
    def losses(self) -> np.ndarray:
        """The latest (L_D1, L_D2, L_D3)."""
        return np.array([self.loss_d1[-1], self.loss_d2[-1], self.loss_d3[-1]])

    @property
    def gap(self) -> float:
        """The impossibility gap (L_D2 − L_D1)/2 now."""
        return float((self.loss_d2[-1] - self.loss_d1[-1]) / 2)


# --------------------------------------------------------------------------------------------
# The world: pool, teacher, distributions, sample


class World(NamedTuple):
    """The finite pool and its labellings. ``X (N, d)``; ``y_tilde (N,)`` ±1 (teacher, flipped
    on a fraction ρ); ``coin (N,)`` ±1, D3's labels off S; ``idx (m,)`` S's draws from the pool;
    ``in_S (N,)`` whether a pool point was drawn."""

    X: torch.Tensor
    y_tilde: torch.Tensor
    coin: torch.Tensor
    idx: torch.Tensor
    in_S: torch.Tensor


def teacher(X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """y1(x) = sign(wᵀx + 0.5 sin(3 x_1)) in ±1 (0 maps to +1)."""
    score = X @ w + SIN_WEIGHT * torch.sin(SIN_FREQ * X[:, 0])
    return torch.where(score >= 0, 1.0, -1.0).to(X.dtype)


def make_world(params: Params, device: torch.device, dtype=torch.float32) -> World:
    """Draw the pool, its labels and the sample S (all from ``params.seed``)."""
    N = pool_size(params)
    g = torch_generator(params.seed, "cpu", STREAM_POOL)  # CPU draws: the same world on every device
    X = torch.randn(N, DIM, generator=g, dtype=torch.float64)
    w = torch.randn(DIM, generator=g, dtype=torch.float64)
    y1 = teacher(X, w / w.norm())
    flip = torch.rand(N, generator=g, dtype=torch.float64) < params.label_noise
    y_tilde = torch.where(flip, -y1, y1)
    coin = torch.where(torch.rand(N, generator=g, dtype=torch.float64) < 0.5, 1.0, -1.0).double()
    idx = torch.randint(N, (params.m,), generator=torch_generator(params.seed, "cpu", STREAM_SAMPLE))
    in_S = torch.zeros(N, dtype=torch.bool)
    in_S[idx] = True
    move = dict(device=device, dtype=dtype)
    return World(X.to(**move), y_tilde.to(**move), coin.to(**move), idx.to(device), in_S.to(device))


def pool_size(params: Params) -> int:
    return max(params.m, round(params.pool_ratio * params.m))


def labels_of(world: World, which: str, h_pool: torch.Tensor) -> torch.Tensor:
    """The deterministic labels of distribution ``which`` on the pool (uniform marginal).

    D1: ỹ; D2: ỹ on S, −h off S; D3: ỹ on S, a coin flip off S. ``h_pool (N,)`` ±1 is needed by
    D2 only: D2 is the adversary of this h."""
    if which == "D1":
        return world.y_tilde
    off = world.coin if which == "D3" else -h_pool
    return torch.where(world.in_S, world.y_tilde, off)


def training_set(world: World, which: str, h_pool: torch.Tensor | None = None) -> tuple:
    """S drawn from distribution ``which``: the pool points at ``idx`` with that distribution's
    labels. Every D agrees with ỹ on S, so this is the same (X_S, y_S) for all three."""
    labels = world.y_tilde if h_pool is None else labels_of(world, which, h_pool)
    return world.X[world.idx], labels[world.idx]


def true_losses(world: World, h_pool: torch.Tensor) -> torch.Tensor:
    """(L_D1, L_D2, L_D3) of h: exact averages of [h(x) ≠ y_D(x)] over the pool."""
    return torch.stack([(h_pool != labels_of(world, D, h_pool)).double().mean() for D in DISTRIBUTIONS])


# --------------------------------------------------------------------------------------------
# The algorithm A: a one-hidden-layer ReLU net, full-batch Adam on the logistic loss


class Net(NamedTuple):
    """f(x) = w2ᵀ relu(W1 x + b1) + b2. ``W1 (h, d)``, ``b1 (h,)``, ``w2 (h,)``, ``b2 ()``."""

    W1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor

    def flat(self) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in self])

    def detached(self) -> "Net":
        return Net(*(t.detach().clone() for t in self))


def init_net(width: int, seed: int, device, dtype=torch.float32) -> Net:
    """w₀: PyTorch's default Linear initialisation, U(±1/√fan_in), drawn independently of S."""
    g = torch_generator(seed, "cpu", STREAM_INIT)

    def uniform(shape, fan_in):
        return ((2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1) / math.sqrt(fan_in)).to(device, dtype)

    return Net(uniform((width, DIM), DIM), uniform((width,), DIM), uniform((width,), width), uniform((), width))


def forward(net: Net, X: torch.Tensor) -> torch.Tensor:
    """f(X) for ``X (n, d)``: ``(n,)``."""
    return F.relu(X @ net.W1.T + net.b1) @ net.w2 + net.b2


def predict(net: Net, X: torch.Tensor) -> torch.Tensor:
    """h(x) = sign f(x) in ±1 (0 maps to +1)."""
    return torch.where(forward(net, X) >= 0, 1.0, -1.0).to(X.dtype)


class Trainer:
    """Full-batch Adam on the logistic loss mean_i softplus(−y_i f(x_i)) over S (duplicates
    count as often as drawn)."""

    def __init__(self, net: Net, X_S: torch.Tensor, y_S: torch.Tensor, lr: float):
        self.params = [t.clone().requires_grad_(True) for t in net]
        self.X_S, self.y_S = X_S, y_S
        self.opt = torch.optim.Adam(self.params, lr=lr)

    @property
    def net(self) -> Net:
        return Net(*self.params)

    def train_steps(self, n: int) -> torch.Tensor:
        for _ in range(n):
            self.opt.zero_grad(set_to_none=True)
            loss = F.softplus(-self.y_S * forward(self.net, self.X_S)).mean()
            loss.backward()
            self.opt.step()
        return loss.detach()


# --------------------------------------------------------------------------------------------
# The bounds: functions of (S, h) only


def vc_dimension(width: int) -> float:
    """d_VC ≈ P·L·ln P for a ReLU net with P weights and L layers (BHLM 2019, constant 1)."""
    P = width * DIM + width + width + 1
    return P * LAYERS * math.log(P)


def vc_bound(train_error: float, d_vc: float, m: int, delta: float) -> float:
    """L_S + √((8/m)(d ln(2em/d) + ln(4/δ))), 1 (vacuous) when d ≥ m, clipped at 1."""
    if d_vc >= m:
        return 1.0
    return min(1.0, train_error + math.sqrt(8 / m * (d_vc * math.log(2 * math.e * m / d_vc) + math.log(4 / delta))))


def margin_gamma(margins: torch.Tensor) -> float:
    """γ: the 10 % quantile of the positive margins y f(x) (NaN when none is positive)."""
    positive = margins[margins > 0]
    return float(torch.quantile(positive.double(), MARGIN_QUANTILE)) if len(positive) else math.nan


def nbs_measure(net: Net, X_S: torch.Tensor, y_S: torch.Tensor, delta: float) -> float:
    """Neyshabur–Bhojanapalli–Srebro's spectral margin quantity with every constant set to 1:
    L̂_γ + √([B² L² h ln(L h) Π‖W_i‖₂² Σ ‖W_i‖_F²/‖W_i‖₂² + ln(L m/δ)] / (γ² m))."""
    m, h = len(y_S), net.W1.shape[0]
    margins = y_S * forward(net, X_S)
    gamma = margin_gamma(margins)
    if not math.isfinite(gamma):
        return math.nan
    weights = [net.W1.double(), net.w2.double()[None, :]]
    spectral = [torch.linalg.matrix_norm(W, ord=2) for W in weights]
    frob = [torch.linalg.matrix_norm(W) for W in weights]
    prod = math.prod(float(s) ** 2 for s in spectral)
    ratio = sum(float(f) ** 2 / float(s) ** 2 for f, s in zip(frob, spectral))
    B = float(X_S.double().norm(dim=1).max())
    L = LAYERS
    complexity = B**2 * L**2 * h * math.log(L * h) * prod * ratio + math.log(L * m / delta)
    loss_gamma = float((margins < gamma).double().mean())
    return loss_gamma + math.sqrt(complexity / (gamma**2 * m))


def sigma_grid(G: int) -> np.ndarray:
    """The PAC-Bayes σ values, log-spaced over SIGMA_RANGE (fixed before S is seen)."""
    lo, hi = SIGMA_RANGE
    return np.geomspace(lo, hi, G) if G > 1 else np.array([math.sqrt(lo * hi)])


def gibbs_margins(net: Net, X_S: torch.Tensor, y_S: torch.Tensor, sigma: torch.Tensor, K: int,
                  gen: torch.Generator) -> torch.Tensor:
    """y f_{w'}(x) for independent w' ~ N(w, σ²I) per (σ, draw, point): ``(G, K, m)``.

    Exact in law without drawing weight matrices: with W1' = W1 + σE, b1' = b1 + σe,
    (E x + e) ~ √(‖x‖² + 1)·N(0, I_h); and likewise (w2 + σe2)ᵀa + b2 + σe ~
    w2ᵀa + b2 + σ√(‖a‖² + 1)·N(0, 1) given the hidden activations a."""
    G, m, h = len(sigma), len(y_S), net.W1.shape[0]
    s = sigma.view(G, 1, 1, 1)
    scale_in = torch.sqrt(X_S.pow(2).sum(1) + 1).view(1, 1, m, 1)  # (1, 1, m, 1)
    pre = X_S @ net.W1.T + net.b1  # (m, h)
    noise = torch.randn(G, K, m, h, generator=gen, device=X_S.device, dtype=X_S.dtype)
    a = F.relu(pre + s * scale_in * noise)  # (G, K, m, h) hidden activations under W1'
    out_noise = torch.randn(G, K, m, generator=gen, device=X_S.device, dtype=X_S.dtype)
    f = a @ net.w2 + net.b2 + sigma.view(G, 1, 1) * torch.sqrt(a.pow(2).sum(-1) + 1) * out_noise
    return y_S * f  # (G, K, m)


def kl_bernoulli(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """kl(q ‖ p) between Bernoulli(q) and Bernoulli(p), with 0 ln 0 = 0."""
    q, p = q.double(), p.double().clamp(1e-300, 1 - 1e-16)
    return torch.xlogy(q, q / p) + torch.xlogy(1 - q, (1 - q) / (1 - p))


def kl_inverse(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """sup{p ∈ [q, 1] : kl(q ‖ p) ≤ c}, elementwise by bisection (kl grows in p on [q, 1])."""
    lo, hi = q.double().clone(), torch.ones_like(q, dtype=torch.float64)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        inside = kl_bernoulli(q, mid) <= c
        lo, hi = torch.where(inside, mid, lo), torch.where(inside, hi, mid)
    return lo


def gibbs_chunk(G: int, m: int, width: int) -> int:
    """Weight draws per chunk of the Gibbs Monte Carlo: (G, draws, m, width) stays under
    GIBBS_CHUNK_ELEMS (a fixed function of the sizes, so results never depend on the device)."""
    return max(1, GIBBS_CHUNK_ELEMS // (G * m * width))


class PacBayes(NamedTuple):
    bound: float  # min over σ of the per-σ bounds
    sigma: np.ndarray  # (G,)
    per_sigma: np.ndarray  # (G,) bound on L_Q at each σ
    gibbs: np.ndarray  # (G,) Monte-Carlo estimate of L̂_Q
    hoeffding: float  # the Monte-Carlo term added to every estimate
    kl: np.ndarray  # (G,) KL(Q ‖ P)


def pac_bayes(net: Net, w0: Net, X_S: torch.Tensor, y_S: torch.Tensor, delta: float, G: int, K: int,
              gen: torch.Generator) -> PacBayes:
    """The Langford–Seeger/Maurer bound on the Gibbs classifier Q = N(w, σ²I), min over the σ
    grid: δ/2 is split over the G values of σ for the bound and δ/2 for the Monte-Carlo
    estimates, each of which carries √(ln(4G/δ)/(2Km)) (Hoeffding, two-sided)."""
    m = len(y_S)
    sigma = torch.as_tensor(sigma_grid(G), dtype=X_S.dtype, device=X_S.device)
    errors = torch.zeros(G, dtype=torch.float64, device=X_S.device)
    per_chunk = gibbs_chunk(G, m, net.W1.shape[0])
    with torch.no_grad():
        for start in range(0, K, per_chunk):  # draws in chunks of a size fixed by the sizes alone
            k = min(per_chunk, K - start)
            errors += (gibbs_margins(net, X_S, y_S, sigma, k, gen) <= 0).double().sum(dim=(1, 2))
    errors /= K * m  # (G,) Monte-Carlo Gibbs training error
    hoeffding = math.sqrt(math.log(4 * G / delta) / (2 * K * m))
    dist2 = float((net.flat().double() - w0.flat().double()).pow(2).sum())
    sigma64 = sigma.double().cpu()
    kl = dist2 / (2 * sigma64**2)
    rhs = (kl + math.log(2 * math.sqrt(m) / (delta / (2 * G)))) / m
    per_sigma = kl_inverse((errors.cpu() + hoeffding).clamp(max=1.0), rhs)
    return PacBayes(float(per_sigma.min()), sigma64.numpy(), per_sigma.numpy(), errors.cpu().numpy(),
                    hoeffding, kl.numpy())


class Bounds(NamedTuple):
    """Everything a type-(1) bound may compute, from (S, h) alone."""

    train_error: float
    vc: float
    nbs: float
    pac_bayes: PacBayes | None


def bounds_from(X_S: torch.Tensor, y_S: torch.Tensor, net: Net, w0: Net, params: Params,
                gen: torch.Generator | None = None) -> Bounds:
    """The three bounds as functions of the training set S = (X_S, y_S), the learned weights and
    the data-independent w₀ (and the constants in ``params``): no distribution, no pool. The
    PAC-Bayes Monte Carlo runs when a generator is given (the run's last frame)."""
    with torch.no_grad():
        train_error = float((predict(net, X_S) != y_S).double().mean())
        vc = vc_bound(train_error, vc_dimension(net.W1.shape[0]), len(y_S), params.delta)
        nbs = nbs_measure(net, X_S, y_S, params.delta)
    pb = None if gen is None else pac_bayes(net, w0, X_S, y_S, params.delta, params.sigmas, params.draws, gen)
    return Bounds(train_error, vc, nbs, pb)


# --------------------------------------------------------------------------------------------
# The impossibility gap against N/m


def expected_hit_fraction(N: np.ndarray, m: int) -> np.ndarray:
    """E q: the expected fraction of an N-point pool that m uniform draws hit, 1 − (1 − 1/N)^m."""
    N = np.asarray(N, dtype=float)
    return -np.expm1(m * np.log1p(-1 / N))


def gap_curve(m: int, off_error: float, ratios=RATIO_GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gap view: (ratios, ½(1 − E q)(1 − ε_off), ½(1 − E q)) for N = ratio·m: the identity
    L_D2 − L_D1 = (1 − q)(1 − ε_off) at the expected hit fraction, with this run's ε_off (h's
    error on the pool points S missed), and its ceiling for an h that is right off S."""
    r = np.asarray(ratios, dtype=float)
    unseen = 1 - expected_hit_fraction(np.maximum(np.round(r * m), m), m)
    return r, 0.5 * unseen * (1 - off_error), 0.5 * unseen


# --------------------------------------------------------------------------------------------
# The run

MODELS = Memo("generalization-bounds models", size=8)  # training key -> (Net, history dict)


def run_label(params: Params) -> str:
    """How a run is named when runs are compared."""
    return f"N/m={params.pool_ratio:g} ρ={params.label_noise:g} h={params.width} steps={params.steps}"


def _train_key(params: Params, device: torch.device) -> tuple:
    return (params.seed, params.pool_ratio, params.label_noise, params.width, params.steps, params.m,
            params.lr, str(device))


class Snapshot(NamedTuple):
    """What one frame reports while h trains (numbers the bounds and losses need)."""

    step: int
    train_error: float
    losses: np.ndarray  # (3,)
    vc: float
    nbs: float


def snapshot(step: int, world: World, net: Net, w0: Net, params: Params) -> Snapshot:
    X_S, y_S = training_set(world, "D1")
    with torch.no_grad():
        losses = to_host(true_losses(world, predict(net, world.X)))
    b = bounds_from(X_S, y_S, net, w0, params)
    return Snapshot(step, b.train_error, losses, b.vc, b.nbs)


def run(params: Params) -> Iterator[BoundsFrame]:
    """Train h = A(S), streaming the true losses and the cheap bounds; then the PAC-Bayes bound."""
    device, notice = resolve_device_for(params.device, torch.float32)
    N = pool_size(params)
    draws_at_once = min(params.draws, gibbs_chunk(params.sigmas, params.m, params.width))
    gibbs = params.sigmas * params.m * params.width * draws_at_once
    check_fits(4 * (N * params.width + 3 * gibbs), device,
               f"the pool and the Gibbs draws at N={N}, width={params.width}", "lower pool_ratio, width or m")
    world = make_world(params, device)
    w0 = init_net(params.width, params.seed, device)
    history: list[Snapshot] = []
    G = params.sigmas
    nan_g = np.full(G, np.nan)

    def frame(pb: PacBayes | None = None, metrics=None) -> BoundsFrame:
        cols = list(zip(*history))
        if pb is None:
            unknown = np.full(len(RATIO_GRID), np.nan)  # ε_off is known once h is trained
            ratios, gap_f, gap_c = np.array(RATIO_GRID, float), unknown, unknown
        else:
            ratios, gap_f, gap_c = gap_curve(params.m, metrics["off_s_error"])
        losses = np.array(cols[2])
        f = BoundsFrame(step=history[-1].step, total_steps=params.steps, label=run_label(params),
                        pool_ratio=params.pool_ratio, label_noise=params.label_noise,
                        history_steps=np.array(cols[0], float), train_error=np.array(cols[1]),
                        loss_d1=losses[:, 0], loss_d2=losses[:, 1], loss_d3=losses[:, 2],
                        vc_history=np.array(cols[3]), nbs_history=np.array(cols[4]),
                        pac_bayes=math.nan if pb is None else pb.bound,
                        sigma_grid=sigma_grid(G), pb_per_sigma=nan_g if pb is None else pb.per_sigma,
                        gibbs_per_sigma=nan_g if pb is None else pb.gibbs,
                        ratios=ratios, gap_formula=gap_f, gap_ceiling=gap_c, notice=notice)
        return dataclasses.replace(f, metrics=metrics) if metrics else f

    key = _train_key(params, device)
    cached = MODELS.get(key)
    if cached is not None:  # only evaluation knobs (δ, σ grid, draws) changed: reuse h
        net = cached[0]
        history = list(cached[1][:1])
        yield frame()
        history = list(cached[1])  # the memoized training, replayed in one frame
        yield frame()
    else:
        X_S, y_S = training_set(world, "D1")
        trainer = Trainer(w0, X_S, y_S, params.lr)
        history.append(snapshot(0, world, w0, w0, params))
        yield frame()
        pace, done = Pacer(), 0
        for n in pace.chunks(params.steps):
            loss = trainer.train_steps(n)
            done += n
            check_finite(loss, step=done, what="the logistic loss", hint="lower lr")
            if pace.due() or done == params.steps:
                history.append(snapshot(done, world, trainer.net.detached(), w0, params))
                if done < params.steps:
                    yield frame()
        net = trainer.net.detached()
        MODELS.put(key, (net, tuple(history)))
    X_S, y_S = training_set(world, "D1")
    bounds = bounds_from(X_S, y_S, net, w0, params, torch_generator(params.seed, device, STREAM_GIBBS))
    with torch.no_grad():
        h_pool = predict(net, world.X)
    yield frame(bounds.pac_bayes, metrics_of(world, h_pool, bounds, params.width))


def metrics_of(world: World, h_pool: torch.Tensor, b: Bounds, width: int) -> dict:
    """The last frame's numbers (what ``--json`` writes)."""
    L = to_host(true_losses(world, h_pool))
    off = ~world.in_S
    hit = float(world.in_S.double().mean())
    off_error = float((h_pool[off] != world.y_tilde[off]).double().mean()) if off.any() else 0.0
    pb = b.pac_bayes
    best = int(np.argmin(pb.per_sigma))
    return {
        "loss_d1": float(L[0]), "loss_d2": float(L[1]), "loss_d3": float(L[2]),
        "impossibility_gap": float((L[1] - L[0]) / 2),
        "pac_bayes_bound": pb.bound, "train_error": b.train_error,
        "vc_bound": b.vc, "nbs_measure": b.nbs if math.isfinite(b.nbs) else None,
        "vc_dimension": vc_dimension(width),
        "gibbs_train_error": float(pb.gibbs[best]), "pac_bayes_sigma": float(pb.sigma[best]),
        "pac_bayes_kl": float(pb.kl[best]), "mc_hoeffding": pb.hoeffding,
        "hit_fraction": hit, "off_s_error": off_error,
        # the forced error: no number B is within this of both L_D1 and L_D2
        "forced_error_pac_bayes": float(max(abs(pb.bound - L[0]), abs(pb.bound - L[1]))),
    }

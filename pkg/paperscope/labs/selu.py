"""Self-Normalizing Neural Networks.

Klambauer, Unterthiner, Mayr, Hochreiter; NeurIPS 2017; arXiv:1706.02515.

Claim: with SELU, standardized inputs and LeCun-normal weights, the map g: (μ, ν) ↦ (μ̃, ν̃)
that sends the mean and variance of one layer's activations to the next has a stable,
attracting fixed point at (0, 1), so deep feed-forward nets normalize themselves (no batch
norm) and train smoothly, where ReLU nets keep the input's scale and BN-ReLU nets train roughly.

The claims (A1-A4, ``paperscope/claims/selu.py``) check the fixed point and its Jacobian, the
random deep nets' moments against tanh and ReLU, training on the digits against ReLU and
ReLU+BN, and alpha against standard dropout. What they measured:
``paperscope verify selu``, recorded in ``paperscope/claims/recorded/selu.json``.

Key equations (symbols as in the paper):

* ``selu(x) = λ x`` for x > 0 and ``λ α (eˣ − 1)`` for x ≤ 0, with the closed forms
  ``α₀₁ = −√(2/π) / (erfc(1/√2) e^{1/2} − 1) = 1.6732632…`` and ``λ₀₁ = 1.0507009…`` (Eq. 14);
* a unit ``z = Σᵢ wᵢ xᵢ`` with input moments (μ, ν) and weight moments ``ω = Σwᵢ``,
  ``τ = Σwᵢ²`` is ``z ~ N(μω, ντ)`` by the CLT; with ``m = μω``, ``s = ντ``, ``r = √(2s)``:
  ``μ̃ = ½λ [m erf(m/r) + α e^{m+s/2} erfc((m+s)/r) − α erfc(m/r) + √(2/π) √s e^{−m²/(2s)} + m]``,
  ``ν̃ = ½λ² [(m²+s)(2 − erfc(m/r)) + α²(−2e^{m+s/2} erfc((m+s)/r) + e^{2(m+s)} erfc((m+2s)/r)
  + erfc(m/r)) + √(2/π) m √s e^{−m²/(2s)}] − μ̃²`` (Eqs. 4–5). Both ``eᵃ erfc(b)`` products
  equal ``e^{−m²/(2s)} erfcx(b)``, the form evaluated here where b ≥ 0 (no overflow at large ν);
* at ω = 0, τ = 1: g(0, 1) = (0, 1) and the Jacobian there is [[0, 0.0888], [0, 0.7826]] with
  spectral norm 0.7877 < 1 (Eq. 6): a contraction;
* alpha dropout (keep probability q, ``α′ = −λα``): ``x̂ = a (x d + α′(1 − d)) + b``,
  ``d ~ Bernoulli(q)``, ``a = (q + α′² q (1 − q))^{−1/2}``, ``b = −a (1 − q) α′``.

Audit of the spec's items (against the paper's text, arXiv HTML version):

* confirmed: Eqs. 4–5 as above (the paper writes ``2 − erfc`` where the spec writes
  ``erf + 1``: the same); the Jacobian at (0, 1) and its norm 0.7877; Theorem 1's domain
  μ ∈ [−0.1, 0.1], ω ∈ [−0.1, 0.1], ν ∈ [0.8, 1.5], τ ∈ [0.95, 1.1] (fixed points in
  μ ∈ [−0.03106, 0.06773], ν ∈ [0.80009, 1.48617]); the alpha-dropout a, b; LeCun init
  (E wᵢ = 0, Var wᵢ = 1/n);
* the spec's **[unverified]** ranges of Theorems 2–3, now confirmed: Theorem 2 (decreasing ν):
  ν̃ < ν on −1 ≤ μ ≤ 1, −0.1 ≤ ω ≤ 0.1, 3 ≤ ν ≤ 16, 0.8 ≤ τ ≤ 1.25. Theorem 3 (increasing ν):
  ν̃ > ν on −0.1 ≤ μ ≤ 0.1, −0.1 ≤ ω ≤ 0.1 with 0.02 ≤ ν ≤ 0.16 and 0.8 ≤ τ ≤ 1.25, or with
  0.02 ≤ ν ≤ 0.24 and 0.9 ≤ τ ≤ 1.25. The tests check both on dense grids of those domains;
* not checked: the repository's training scripts (``bioinf-jku/SNNs``); the training panel
  follows the spec's small CPU experiment (lr 0.02, 40 epochs on ``load_digits``), not the
  paper's Figure 1 (MNIST/CIFAR-10, lr 1e-5, 2000 epochs), and is not presented as its
  reproduction.

What this module computes:

* the SELU moment map on a (μ, ν) grid for the user's (ω, τ) (with ``init="torch-default"``,
  nn.Linear's scale: (ω/√3, τ/3)): the contraction ratio ``‖g(x) − x*‖/‖x − x*‖``, the spectral
  norm of the Jacobian (central differences, float64), iterated trajectories and the fixed
  point x*; and ``ν̃/ν`` along ν at μ = 0 for τ in Theorems 2–3's range;
* the propagation of N seeded inputs ``x ~ N(shift, scale²)`` through ``depth`` random
  layers of ``width`` units for SELU (LeCun), ReLU (He), tanh (LeCun) and ReLU+BN (He, batch
  statistics), all four as one stacked tensor on the same base weights ``G`` (only the gain
  differs): ``W = gain (√τ G/√n + ω/n)``; mean and variance over all units and inputs per layer;
* the training of the four activations on scikit-learn's 8x8 digits (standardized with the
  training split's statistics, seeded 70/30 split): width-``width`` MLPs with ``depth`` hidden
  layers, the same init rule as the random nets (biases 0), batch norm before each ReLU in
  ReLU+BN, SGD without momentum, cross-entropy, optional dropout (alpha dropout for SELU). Per
  activation, several seeds form one stacked model (one bmm per layer for all); the four
  activations are chains of one graph with the same minibatches and base weights. The loss per
  epoch is the mean minibatch loss (training mode); the test accuracy uses eval mode (batch
  norm's running statistics). A net whose loss turns NaN/inf is reported, not fatal, unless
  all four diverge. ``data`` swaps the digits for a user's data set (``core.data``: numeric
  features, k ≥ 2 classes): the same seeded 70/30 split, standardization with the training
  split's statistics, d inputs and k outputs.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import param
import torch
import torch.nn.functional as F
from scipy import special

from paperscope.core import data
from paperscope.core.device import resolve_device
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import numpy_generator, torch_generator

PAPER = Paper(
    slug="selu",
    title="Self-normalizing networks: SELU's fixed point",
    paper_title="Self-Normalizing Neural Networks",
    authors="Klambauer, Unterthiner, Mayr, Hochreiter",
    venue="NeurIPS 2017",
    arxiv="1706.02515",
    claim=("With SELU and LeCun init the mean/variance map has an attracting fixed point at "
           "(0, 1): activations self-normalize through many layers and deep nets train smoothly."),
    equations=(
        (r"\operatorname{selu}(x) = \lambda x \ (x > 0),\quad \lambda \alpha (e^x - 1) \ (x \le 0),"
         r"\quad \alpha_{01} \approx 1.6733,\ \lambda_{01} \approx 1.0507"),
        r"g: (\mu, \nu) \mapsto (\tilde\mu, \tilde\nu),\quad g(0, 1) = (0, 1),\quad \|J_g(0, 1)\|_2 = 0.7877 < 1",
        (r"\hat x = a \big(x d + \alpha' (1 - d)\big) + b,\quad d \sim \mathrm{Bernoulli}(q),\quad"
         r" \alpha' = -\lambda \alpha"),
    ),
    topics=("initialization", "normalization", "deep networks"),
    checked=("Eqs. 4-6, the Jacobian's norm at (0, 1), the domains of Theorems 1-3 and alpha dropout's "
             "a, b are checked against the paper's text; the training panel is the spec's small digits "
             "experiment, not the paper's Figure 1."),
)

# The SELU constants from their closed forms (the paper's Eq. 14).
_E1 = special.erfc(1 / math.sqrt(2))
ALPHA_01 = -math.sqrt(2 / math.pi) / (_E1 * math.exp(0.5) - 1)
LAMBDA_01 = (1 - _E1 * math.sqrt(math.e)) * math.sqrt(2 * math.pi) / math.sqrt(
    2 * special.erfc(math.sqrt(2)) * math.e ** 2 + math.pi * _E1 ** 2 * math.e
    - 2 * (2 + math.pi) * _E1 * math.sqrt(math.e) + math.pi + 2)
ALPHA_PRIME = -LAMBDA_01 * ALPHA_01  # selu's negative saturation value, where alpha dropout sets units

ACTIVATIONS = ("selu", "relu", "tanh", "relu-bn")
LABELS = {"selu": "SELU", "relu": "ReLU", "tanh": "tanh", "relu-bn": "ReLU+BN"}
# Matched init: Var(w) = gain² / n_in (LeCun for SELU and tanh, He for ReLU).
GAIN2 = {"selu": 1.0, "relu": 2.0, "tanh": 1.0, "relu-bn": 2.0}
TORCH_DEFAULT_GAIN2 = 1 / 3  # nn.Linear's Kaiming-uniform(a=√5): U(±1/√n), variance 1/(3n)
BN_EPS, BN_MOMENTUM = 1e-5, 0.1

# Moment-map display: the spec's window and grid.
MU_RANGE, NU_RANGE = (-1.0, 1.0), (0.1, 3.0)
MAP_GRID = 64
TRAJ_STARTS = 5  # per axis: 5 x 5 start points
TRAJ_STEPS = 20
THEOREM_TAUS = (0.8, 1.0, 1.25)  # the τ range of Theorems 2-3
NU_LINE = np.geomspace(0.01, 16.0, 120)
FP_MIN_NU = 1e-6  # a fixed point with a smaller variance counts as a collapse
N_BINS = 60

# Seed streams: one per purpose, so changing one size never reshuffles another draw.
STREAM_PROP_W, STREAM_PROP_X, STREAM_PROP_DROP = 0, 1, 2
STREAM_SPLIT, STREAM_INIT, STREAM_ORDER, STREAM_DROP = 3, 4, 5, 6

TEST_FRACTION = 0.3
N_CLASSES = 10  # the digits'; a user's data set brings its own number of classes


class Params(LabParams):
    """Hyperparameters of the SELU lab (defaults: the spec's CPU experiment, trimmed to seconds)."""

    activation = param.Selector(
        default="selu", objects=list(ACTIVATIONS),
        doc=("The activation whose numbers the summary and metrics report and whose last-layer "
             "histogram is drawn: selu (LeCun init), relu (He init), tanh (LeCun), relu-bn "
             "(He, batch norm before each ReLU). All four are always computed, side by side"),
    )
    depth = param.Integer(
        32, bounds=(2, 128), softbounds=(4, 64),
        doc="Hidden layers of the random nets (propagation) and of the trained nets",
    )
    width = param.Integer(
        64, bounds=(8, 1024), softbounds=(16, 256),
        doc="Units per hidden layer (the moment map is the wide-layer limit)",
    )
    dropout = param.Number(
        0.0, bounds=(0.0, 0.5), softbounds=(0.0, 0.2),
        doc=("Dropout rate 1 − q after every hidden activation, in propagation and training. "
             "SELU uses alpha dropout (or standard, see dropout_kind), the others standard "
             "inverted dropout"),
    )
    dropout_kind = param.Selector(
        default="alpha", objects=["alpha", "standard"],
        doc=("Dropout of the SELU nets: alpha (sets units to α′ = −λα, then an affine map keeps "
             "mean 0 and variance 1) or standard (zero, scale 1/q: breaks the fixed point)"),
    )
    init = param.Selector(
        default="matched", objects=["matched", "torch-default"],
        doc=("matched: normal weights with variance gain²/n (LeCun for SELU and tanh, He for "
             "ReLU), zero biases. torch-default: nn.Linear's Kaiming-uniform (variance 1/(3n)) "
             "and uniform biases, for every activation: why init matters"),
    )
    omega = param.Number(
        0.0, bounds=(-1.0, 1.0), softbounds=(-0.3, 0.3),
        doc=("ω = Σᵢ wᵢ, the weight sum per unit (relative to the init scale): moves the fixed "
             "point of the moment map and shifts the random nets' weights by ω/n"),
    )
    tau = param.Number(
        1.0, bounds=(0.05, 4.0), softbounds=(0.5, 1.5),
        doc=("τ = Σᵢ wᵢ², the weight norm per unit relative to the init (1 = matched init): "
             "the variance fixed point leaves 1 when τ ≠ 1. Scales the random nets' weights by √τ"),
    )
    input_shift = param.Number(
        0.5, bounds=(-5.0, 5.0), softbounds=(-1.0, 1.0),
        doc="Mean of the random inputs x ~ N(shift, scale²) of the propagation panel",
    )
    input_scale = param.Number(
        2.0, bounds=(0.01, 20.0), softbounds=(0.2, 4.0),
        doc="Standard deviation of the random inputs: SELU forgets it, ReLU keeps it",
    )
    n_inputs = param.Integer(
        512, bounds=(16, 8192), softbounds=(128, 2048),
        doc="N, random inputs pushed through the random nets (statistics pool N x width values)",
    )
    epochs = param.Integer(
        20, bounds=(0, 2000), softbounds=(5, 60),
        doc="Training epochs on the digits (0: skip training). The spec's claim uses 40",
    )
    lr = param.Number(
        0.02, bounds=(0.0, 1.0), inclusive_bounds=(False, True), softbounds=(0.002, 0.1),
        doc="SGD learning rate (no momentum), the same for every activation",
    )
    batch_size = param.Integer(64, bounds=(1, 1257), softbounds=(16, 256), doc="Minibatch size")
    data = data.data_parameter(
        doc=("What the training panel learns: builtin (scikit-learn's 8x8 digits) or the key of your "
             "own data set (--data PATH, the app's upload, data= in Python): any numeric features and "
             "class labels, given the same seeded 70/30 split and standardization as the digits"),
    )

    BUILTIN_DATA: ClassVar[str] = "digits"

    # Measured on a loaded 2-core CPU, 1 thread: quick run ~0.7 s CPU, first frame ~0.03 s, the
    # random nets done by ~0.05 s; default run ~5 s CPU (map and random nets by ~0.12 s).
    QUICK: ClassVar[dict] = {"depth": 16, "width": 64, "n_inputs": 256, "epochs": 5}


@dataclass(frozen=True, kw_only=True)
class SeluFrame(Frame):
    """A complete snapshot of the three panels (histories included).

    Activation axes (A) are in ``activations`` order. The map arrays are indexed
    ``[i_nu, i_mu]`` (row = ν). ``layer_mean``/``layer_var`` row 0 is the input, row l the
    output of hidden layer l (after dropout); only the layers computed so far are present.
    ``metrics`` (last frame): final_mean, final_var (last layer of the selected activation's
    random net), train_loss (its last-epoch mean minibatch loss), test_accuracy, roughness
    (None where that net diverged), fixed_point_mu/nu, jacobian_norm (None where the map has no
    finite fixed point), grad_ratio (the first layer's gradient norm over the last's at the first
    SGD step: ≪ 1 vanishing, ≫ 1 exploding), and by_activation (final_mean ... grad_ratio for
    every activation).
    """

    activation: str
    activations: tuple
    notice: str = ""
    mu_grid: np.ndarray  # (G,)
    nu_grid: np.ndarray  # (G,)
    contraction: np.ndarray  # (G, G) ‖g(x) − x*‖ / ‖x − x*‖: < 1 where one layer moves x closer to x*
    jacobian_norm: np.ndarray  # (G, G) spectral norm of the map's Jacobian
    trajectories: np.ndarray  # (P, 2) iterates (μ, ν) of g from a grid of starts
    fixed_point: np.ndarray  # (2,) (μ*, ν*) for the current (ω, τ)
    fixed_point_norm: float  # ‖J(μ*, ν*)‖₂
    nu_line: np.ndarray  # (V,)
    nu_ratio: np.ndarray  # (V, T + 1) ν̃/ν at μ = 0 for THEOREM_TAUS and the user's τ
    layers: np.ndarray  # (L + 1,)
    layer_mean: np.ndarray  # (L + 1, A)
    layer_var: np.ndarray  # (L + 1, A)
    hist_input: np.ndarray  # (2, B) bin centres and density of the inputs
    hist_last: np.ndarray  # (2, B) the same for the selected activation's last layer so far
    epochs: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (E,)
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (E, A)
    test_accuracy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (E, A)
    # ‖∂L/∂W_l‖_F per weight layer l = 1 .. depth + 1 (seed's first network): at the first SGD
    # step (the initialisation) and at the latest step shown. Empty before training starts.
    grad_init: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (depth + 1, A)
    grad_now: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (depth + 1, A)


# --------------------------------------------------------------------------------------------
# The moment map (float64 numpy/scipy)


def selu(x, lam: float = LAMBDA_01, alpha: float = ALPHA_01):
    """SELU on numpy arrays (``torch.selu`` for tensors)."""
    x = np.asarray(x, dtype=np.float64)
    return lam * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _exp_erfc(a, b, g):
    """``eᵃ erfc(b)`` for the two products of Eqs. 4–5, where ``a − b² = −m²/(2s)`` so that
    ``eᵃ erfc(b) = g erfcx(b)`` with ``g = e^{−m²/(2s)}``: that form for b ≥ 0 (no overflow at
    large s), the direct one for b < 0 (then a < 0 and erfc(b) ≤ 2, no overflow either)."""
    pos = b >= 0
    return np.where(pos, g * special.erfcx(np.where(pos, b, 0.0)),
                    np.exp(np.where(pos, 0.0, a)) * special.erfc(np.where(pos, 0.0, b)))


def selu_moments(mu, nu, omega=0.0, tau=1.0, lam: float = LAMBDA_01, alpha: float = ALPHA_01):
    """``(μ̃, ν̃)``: mean and variance of ``selu(z)`` for ``z ~ N(μω, ντ)`` (Eqs. 4–5), broadcast."""
    mu, nu, omega, tau = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (mu, nu, omega, tau)))
    # A zero variance is the limit of a tiny one (ν ≥ 0 is a variance; the formulas divide by s).
    m, s = mu * omega, np.maximum(nu * tau, 1e-30)
    r = np.sqrt(2 * s)
    g = np.exp(-m * m / (2 * s))  # e^{-m²/(2s)}
    e1 = _exp_erfc(m + s / 2, (m + s) / r, g)  # e^{m+s/2} erfc((m+s)/r)
    e2 = _exp_erfc(2 * (m + s), (m + 2 * s) / r, g)  # e^{2(m+s)} erfc((m+2s)/r)
    erf, erfc = special.erf(m / r), special.erfc(m / r)
    mu_t = 0.5 * lam * (m * erf + alpha * e1 - alpha * erfc + math.sqrt(2 / math.pi) * np.sqrt(s) * g + m)
    xi_t = 0.5 * lam ** 2 * ((m * m + s) * (erf + 1) + alpha ** 2 * (-2 * e1 + e2 + erfc)
                             + math.sqrt(2 / math.pi) * m * np.sqrt(s) * g)
    return mu_t, xi_t - mu_t ** 2


def map_jacobian(mu, nu, omega=0.0, tau=1.0, h: float = 1e-6):
    """Jacobian ``∂(μ̃, ν̃)/∂(μ, ν)`` by central differences, ``(..., 2, 2)``.

    The ν step is relative (``h ν``), so it stays inside ν > 0 at small variances.
    """
    mu, nu = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(nu, np.float64))
    hn = h * np.maximum(nu, 1e-12)
    dmu = [np.subtract(*pair) / (2 * h) for pair in zip(selu_moments(mu + h, nu, omega, tau),
                                                          selu_moments(mu - h, nu, omega, tau))]
    dnu = [np.subtract(*pair) / (2 * hn) for pair in zip(selu_moments(mu, nu + hn, omega, tau),
                                                           selu_moments(mu, nu - hn, omega, tau))]
    # Rows: (μ̃, ν̃); columns: (∂μ, ∂ν).
    return np.stack([np.stack([dmu[0], dnu[0]], -1), np.stack([dmu[1], dnu[1]], -1)], -2)


def spectral_norm(J) -> np.ndarray:
    """Largest singular value of each 2x2 matrix in ``J (..., 2, 2)``."""
    return np.linalg.norm(J, ord=2, axis=(-2, -1))


def iterate_map(mu, nu, omega=0.0, tau=1.0, steps: int = TRAJ_STEPS) -> np.ndarray:
    """Iterates of g from every start, ``(steps + 1, ..., 2)`` (start included)."""
    mu, nu = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(nu, np.float64))
    path = [np.stack([mu, nu], -1)]
    for _ in range(steps):
        mu, nu = selu_moments(mu, nu, omega, tau)
        nu = np.maximum(nu, 0.0)  # round-off must not make a collapsing variance negative
        path.append(np.stack([mu, nu], -1))
    return np.stack(path)


def fixed_point(omega=0.0, tau=1.0, steps: int = 2000, tol: float = 1e-13) -> np.ndarray:
    """The attracting fixed point ``(μ*, ν*)`` of g, iterated from (0, 1).

    Where the variance collapses (small τ) the iterates approach ν = 0 only slowly; the point
    reached after ``steps`` iterations is returned (ν* ≈ 0: no positive fixed point). Where
    they run away (large ω τ: the mean feeds itself) it returns NaNs.
    """
    mu, nu = 0.0, 1.0
    for _ in range(steps):
        mu_n, nu_n = (float(v) for v in selu_moments(mu, nu, omega, tau))
        if not (abs(mu_n) < 1e6 and nu_n < 1e6):
            return np.array([np.nan, np.nan])
        done = abs(mu_n - mu) + abs(nu_n - nu) < tol
        mu, nu = mu_n, max(nu_n, 0.0)
        if done:
            break
    return np.array([mu, nu])


def moment_map(omega: float, tau: float, G: int = MAP_GRID) -> dict:
    """The map panel: grid, Jacobian norms, trajectories, fixed point and the ν̃/ν lines."""
    mu_grid = np.linspace(*MU_RANGE, G)
    nu_grid = np.linspace(*NU_RANGE, G)
    NU, MU = np.meshgrid(nu_grid, mu_grid, indexing="ij")  # [i_nu, i_mu]
    jac = spectral_norm(map_jacobian(MU, NU, omega, tau))
    starts_mu, starts_nu = np.meshgrid(np.linspace(*MU_RANGE, TRAJ_STARTS),
                                       np.linspace(0.2, NU_RANGE[1], TRAJ_STARTS))
    path = iterate_map(starts_mu.ravel(), starts_nu.ravel(), omega, tau)  # (S + 1, P, 2)
    inside = ((path[..., 1] >= NU_RANGE[0]) & (path[..., 1] <= NU_RANGE[1])
              & (path[..., 0] >= MU_RANGE[0]) & (path[..., 0] <= MU_RANGE[1]))
    fp = fixed_point(omega, tau)
    # No finite positive fixed point: NaN ratios and norm (the run says why in its notice).
    fp_norm = float(spectral_norm(map_jacobian(*fp, omega, tau))) if fp[1] > FP_MIN_NU else np.nan
    g_mu, g_nu = selu_moments(MU, NU, omega, tau)
    before = np.hypot(MU - fp[0], NU - fp[1])
    after = np.hypot(g_mu - fp[0], g_nu - fp[1])
    contraction = after / np.maximum(before, 1e-12)
    taus = (*THEOREM_TAUS, tau)
    ratio = np.stack([selu_moments(0.0, NU_LINE, omega, t)[1] / NU_LINE for t in taus], 1)
    return {"mu_grid": mu_grid, "nu_grid": nu_grid, "contraction": contraction, "jacobian_norm": jac,
            "trajectories": path[inside], "fixed_point": fp,
            "fixed_point_norm": fp_norm,
            "nu_line": NU_LINE, "nu_ratio": ratio}


# --------------------------------------------------------------------------------------------
# Dropout and activations (torch)


def alpha_dropout_coefficients(q: float, alpha_prime: float = ALPHA_PRIME) -> tuple[float, float]:
    """``(a, b)`` of alpha dropout with keep probability q (fixed point μ = 0, ν = 1)."""
    a = (q + alpha_prime ** 2 * q * (1 - q)) ** -0.5
    return a, -a * (1 - q) * alpha_prime


def dropout_affine(shape, rate: float, kinds: list[tuple[str, int, int]], gen, device, dtype):
    """Dropout as ``x -> x * M + C`` for a stack of blocks (no grad needed for M, C).

    ``kinds`` lists ``(kind, start, end)`` slices of the leading axis with kind ``alpha`` or
    ``standard``. Standard: ``M = d/q, C = 0``. Alpha: ``M = a d``, ``C = a α′ (1 − d) + b``.
    """
    q = 1.0 - rate
    keep = (torch.rand(shape, generator=gen, device=device, dtype=dtype) < q).to(dtype)
    M, C = keep / q, torch.zeros((), device=device, dtype=dtype).expand(shape)
    if any(kind == "alpha" for kind, _, _ in kinds):
        M, C = M.clone(), C.clone()
        a, b = alpha_dropout_coefficients(q)
        for kind, s, e in kinds:
            if kind == "alpha":
                M[s:e] = a * keep[s:e]
                C[s:e] = a * ALPHA_PRIME * (1 - keep[s:e]) + b
    return M, C


def batch_norm(z, dim: int, eps: float = BN_EPS):
    """Standardize ``z`` over the batch axis ``dim`` with biased batch statistics (train mode)."""
    mean = z.mean(dim, keepdim=True)
    var = z.var(dim, unbiased=False, keepdim=True)
    return (z - mean) * torch.rsqrt(var + eps)


def _gain2(activation: str, init: str) -> float:
    return TORCH_DEFAULT_GAIN2 if init == "torch-default" else GAIN2[activation]


# --------------------------------------------------------------------------------------------
# Propagation through random nets


class Propagation:
    """Inputs pushed through ``depth`` random layers, every (seed, input scale, activation)
    stacked as one tensor ``h (S, C * A * N, w)``: one ``bmm`` per layer for all of them.

    Every activation of a seed sees the same base weights ``G`` (only the gain differs) and
    every input scale the same base noise (``x = shift + scale * ξ``), so comparisons between
    them are not blurred by sampling noise.
    """

    def __init__(self, *, activations=ACTIVATIONS, width: int, n_inputs: int, input_shift: float,
                 input_scales=(1.0,), seeds=(0,), omega: float = 0.0, tau: float = 1.0,
                 init: str = "matched", dropout: float = 0.0, dropout_kind: str = "alpha",
                 device="cpu", dtype=torch.float32):
        self.activations, self.scales, self.seeds = list(activations), list(input_scales), list(seeds)
        self.w, self.N = width, n_inputs
        self.omega, self.tau, self.init = omega, tau, init
        self.dropout, self.dropout_kind = dropout, dropout_kind
        self.device, self.dtype = torch.device(device), dtype
        S, C, A, N = len(self.seeds), len(self.scales), len(self.activations), n_inputs
        self.shape = (S, C, A, N, width)
        self.gen_w = [torch_generator(s, self.device, STREAM_PROP_W) for s in self.seeds]
        self.gen_drop = torch_generator(self.seeds[0], self.device, STREAM_PROP_DROP)
        xi = torch.stack([torch.randn(N, width, generator=torch_generator(s, self.device, STREAM_PROP_X),
                                      device=self.device, dtype=dtype) for s in self.seeds])  # (S, N, w)
        scales = torch.tensor(self.scales, device=self.device, dtype=dtype)
        x = input_shift + scales[None, :, None, None] * xi[:, None]  # (S, C, N, w)
        self.h = x[:, :, None].expand(S, C, A, N, width).contiguous()
        gains = torch.tensor([math.sqrt(_gain2(a, init)) for a in self.activations], device=self.device, dtype=dtype)
        self.gain = gains[None, None, :, None, None]  # broadcast over (S, C, A, N, w)
        self.layer = 0

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance over units and inputs, ``(S, C, A)`` each."""
        return self.h.mean((-2, -1)), self.h.var((-2, -1), unbiased=False)

    @torch.no_grad()
    def step(self) -> None:
        """One more layer: ``h <- dropout(f(W h + b))`` for every stacked net."""
        S, C, A, N, w = self.shape
        if self.init == "torch-default":
            # U(±1/√n) weights have variance 1/(3n): the √3 makes G unit-variance, the gain 1/√3.
            G = torch.stack([torch.rand(w, w, generator=g, device=self.device, dtype=self.dtype)
                             for g in self.gen_w]) * (2 * math.sqrt(3)) - math.sqrt(3)
            b = torch.stack([torch.rand(w, generator=g, device=self.device, dtype=self.dtype)
                             for g in self.gen_w])[:, None, None, None, :] * (2 / math.sqrt(w)) - 1 / math.sqrt(w)
        else:
            G = torch.stack([torch.randn(w, w, generator=g, device=self.device, dtype=self.dtype) for g in self.gen_w])
            b = None
        # z = gain (√τ G/√n + ω/n) h: one bmm per seed for every input scale and activation.
        z = torch.bmm(self.h.view(S, C * A * N, w), G.transpose(1, 2)).view(self.shape)
        if self.omega:
            z.add_(self.h.sum(-1, keepdim=True), alpha=self.omega / math.sqrt(self.tau * w))
        z.mul_(self.gain * math.sqrt(self.tau / w))
        if b is not None:
            z.add_(b)
        # The activations in place, each on its slice of the stack (no copies).
        for i, a in enumerate(self.activations):
            za = z[:, :, i]
            if a == "selu":
                F.selu(za, inplace=True)
            elif a == "relu":
                za.relu_()
            elif a == "tanh":
                za.tanh_()
            else:  # relu-bn: per unit, statistics over the N inputs of each (seed, scale)
                za.copy_(batch_norm(za, dim=-2)).relu_()
        if self.dropout > 0:
            kinds = [("alpha" if a == "selu" and self.dropout_kind == "alpha" else "standard", i, i + 1)
                     for i, a in enumerate(self.activations)]
            # Masks drawn as (A, S, C, N, w) so the kinds slice the leading axis.
            M, C_ = dropout_affine((A, S, C, N, w), self.dropout, kinds, self.gen_drop, self.device, self.dtype)
            z.mul_(M.permute(1, 2, 0, 3, 4)).add_(C_.permute(1, 2, 0, 3, 4))
        self.h = z
        self.layer += 1

    def release(self) -> None:
        self.h = None


def histogram(values: np.ndarray, bins: int = N_BINS) -> np.ndarray:
    """``(2, bins)``: bin centres and density over the 0.1-99.9 % range of ``values``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = np.percentile(values, [0.1, 99.9])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    density, edges = np.histogram(values, bins=bins, range=(lo, hi), density=True)
    return np.stack([(edges[1:] + edges[:-1]) / 2, density])


# --------------------------------------------------------------------------------------------
# Training on the digits


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, ``X (1797, 64)`` in 0..16 and ``y (1797,)`` (``core.data.digits``)."""
    digits = data.digits()
    return digits.X, digits.y


def digits_split(seed: int, dataset: data.Dataset | None = None) -> tuple[np.ndarray, ...]:
    """A seeded 70/30 split of the digits (or ``dataset``), standardized with the training set's
    statistics (StandardScaler)."""
    X, y = load_digits() if dataset is None else (dataset.X, dataset.y)
    perm = numpy_generator(seed, STREAM_SPLIT).permutation(len(y))
    n_test = int(round(TEST_FRACTION * len(y)))
    test, train = perm[:n_test], perm[n_test:]
    mean, std = X[train].mean(0), X[train].std(0)
    std[std == 0] = 1.0  # constant pixels (always 0) stay 0
    return (X[train] - mean) / std, y[train], (X[test] - mean) / std, y[test]


class Trainer:
    """MLPs on the digits for every (activation, seed) pair, trained side by side.

    Per activation, the seeds form one stacked model: each layer's weight is a ``(S, in, out)``
    leaf, so one ``bmm`` runs every seed. The activations are separate chains of one autograd
    graph (one backward, one SGD update for all). Every network of one seed shares that seed's
    split, minibatches and base weight draw (only the init gain differs).
    """

    def __init__(self, *, activations=ACTIVATIONS, seeds=(0,), depth: int, width: int,
                 lr: float, batch_size: int, dropout: float = 0.0, dropout_kind: str = "alpha",
                 init: str = "matched", device="cpu", dtype=torch.float32, dataset: data.Dataset | None = None):
        """``dataset``: a user's data set in place of the digits (its own features and classes)."""
        device = torch.device(device)
        self.activations, self.seeds = list(activations), list(seeds)
        S = len(self.seeds)
        self.depth, self.lr, self.batch_size = depth, lr, batch_size
        self.dropout, self.device, self.dtype = dropout, device, dtype
        self.drop_kind = {a: "alpha" if a == "selu" and dropout_kind == "alpha" else "standard"
                          for a in self.activations}

        splits = [digits_split(s, dataset) for s in self.seeds]
        self.Xtr = torch.tensor(np.stack([s[0] for s in splits]), device=device, dtype=dtype)  # (S, n, d), d = 64
        self.ytr = torch.tensor(np.stack([s[1] for s in splits]), device=device)  # (S, n)
        self.Xte = torch.tensor(np.stack([s[2] for s in splits]), device=device, dtype=dtype)  # (S, m, d)
        self.yte = torch.tensor(np.stack([s[3] for s in splits]), device=device)  # (S, m)
        self.n_train = self.Xtr.shape[1]
        self.gen_order = [torch_generator(s, device, STREAM_ORDER) for s in self.seeds]
        self.gen_drop = torch_generator(self.seeds[0], device, STREAM_DROP)

        # One base draw per seed and layer, shared by the activations: W = gain * base / √n_in.
        classes = N_CLASSES if dataset is None else dataset.k
        sizes = [self.Xtr.shape[2]] + [width] * depth + [classes]
        gens = [torch_generator(s, device, STREAM_INIT) for s in self.seeds]

        def draw(*shape, uniform):
            f = torch.rand if uniform else torch.randn
            x = torch.stack([f(*shape, generator=g, device=device, dtype=dtype) for g in gens])
            return 2 * x - 1 if uniform else x

        torch_default = init == "torch-default"
        base_W, base_b = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            # Stored (S, in, out): the forward bmm needs no transpose, and neither do the grads.
            base_W.append(draw(n_in, n_out, uniform=torch_default) / math.sqrt(n_in))
            base_b.append(draw(n_out, uniform=True) / math.sqrt(n_in) if torch_default
                          else torch.zeros(S, n_out, device=device, dtype=dtype))
        self.W, self.b, self.bn = {}, {}, {}
        for a in self.activations:
            gain = 1.0 if torch_default else math.sqrt(GAIN2[a])  # U(±1/√n) already has nn.Linear's scale
            self.W[a] = [(gain * W).requires_grad_(True) for W in base_W]
            self.b[a] = [b.clone().requires_grad_(True) for b in base_b]
        if "relu-bn" in self.activations:
            # Flat (seeds * units,) vectors: F.batch_norm's channels (nn.BatchNorm1d's init and update).
            def vector(value, grad):
                return torch.full((S * width,), value, device=device, dtype=dtype, requires_grad=grad)
            self.bn = {"gamma": [vector(1.0, True) for _ in range(depth)],
                       "beta": [vector(0.0, True) for _ in range(depth)],
                       "mean": [vector(0.0, False) for _ in range(depth)],
                       "var": [vector(1.0, False) for _ in range(depth)]}
        self.params = [p for a in self.activations for p in self.W[a] + self.b[a]]
        self.params += self.bn.get("gamma", []) + self.bn.get("beta", [])

    def forward(self, activation: str, X, train: bool) -> torch.Tensor:
        """Logits ``(S, B, 10)`` of one activation's stacked nets for inputs ``X (S, B, 64)``."""
        W, b = self.W[activation], self.b[activation]
        h = X
        for layer in range(self.depth):
            z = torch.baddbmm(b[layer].unsqueeze(1), h, W[layer])  # (S, B, w)
            if activation == "selu":
                h = torch.selu(z)
            elif activation == "tanh":
                h = torch.tanh(z)
            elif activation == "relu":
                h = torch.relu(z)
            else:
                h = torch.relu(self._batch_norm(z, layer, train))
            if train and self.dropout > 0:
                with torch.no_grad():
                    M, C = dropout_affine(h.shape, self.dropout, [(self.drop_kind[activation], 0, len(h))],
                                          self.gen_drop, h.device, h.dtype)
                h = torch.addcmul(C, h, M)
        return torch.baddbmm(b[-1].unsqueeze(1), h, W[-1])

    def _batch_norm(self, z, layer: int, train: bool):
        """nn.BatchNorm1d per seed and unit: one fused call over (B, seeds * units) channels."""
        S, B, w = z.shape
        x = z.transpose(0, 1).reshape(B, S * w)
        bn = self.bn
        x = F.batch_norm(x, bn["mean"][layer], bn["var"][layer], bn["gamma"][layer], bn["beta"][layer],
                         training=train, momentum=BN_MOMENTUM, eps=BN_EPS)
        return x.view(B, S, w).transpose(0, 1)

    def epoch_batches(self) -> list[torch.Tensor]:
        """Index batches ``(S, B)`` for one epoch: a fresh permutation per seed."""
        perms = torch.stack([torch.randperm(self.n_train, generator=g, device=self.device) for g in self.gen_order])
        return list(perms.split(self.batch_size, dim=1))

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        """One SGD step on the minibatch ``idx (S, B)``; returns the losses ``(A, S)``."""
        rows = torch.arange(len(self.seeds), device=self.device)[:, None]
        X, y = self.Xtr[rows, idx], self.ytr[rows, idx]  # (S, B, 64), (S, B)
        losses = torch.stack([
            F.cross_entropy(self.forward(a, X, train=True).flatten(0, 1), y.flatten(), reduction="none")
            .view(y.shape).mean(1) for a in self.activations])
        for p in self.params:
            p.grad = None
        # The networks are independent: the gradient of the sum is each one's own gradient.
        losses.sum().backward()
        with torch.no_grad():
            torch._foreach_add_(self.params, [p.grad for p in self.params], alpha=-self.lr)
        return losses.detach()

    @torch.no_grad()
    def grad_norms(self) -> torch.Tensor:
        """``‖∂L/∂W_l‖_F`` of the last step for every activation and weight layer, first seed:
        ``(A, depth + 1)``. The paper's point: under SELU these neither vanish nor explode with
        depth (Theorems 2-3 bound the variance, which bounds the backward signal too)."""
        return torch.stack([torch.stack([W.grad[0].norm() for W in self.W[a]]) for a in self.activations])

    @torch.no_grad()
    def test_accuracy(self) -> torch.Tensor:
        """Accuracy on each seed's test split in eval mode (BN running statistics), ``(A, S)``."""
        return torch.stack([(self.forward(a, self.Xte, train=False).argmax(-1) == self.yte).to(self.dtype).mean(1)
                            for a in self.activations])

    def release(self) -> None:
        for p in self.params:
            p.grad = None
        self.params, self.W, self.b, self.bn = [], {}, {}, {}
        self.Xtr = self.Xte = None


def roughness(loss_history) -> float:
    """Std of the epoch-to-epoch change of log-loss over the second half of training."""
    loss = np.asarray(loss_history, dtype=np.float64)
    half = loss[len(loss) // 2:]
    if len(half) < 3 or not np.all(np.isfinite(half)) or np.any(half <= 0):
        return float("nan")
    return float(np.std(np.diff(np.log(half))))


# --------------------------------------------------------------------------------------------
# The run


def _diverged_notice(notices: list[str], diverged: dict) -> str:
    """The run's notices plus which networks diverged (a network that diverged stops there)."""
    if not diverged:
        return "; ".join(notices)
    which = ", ".join(f"{LABELS[a]} at epoch {e}" for a, e in diverged.items())
    return "; ".join([*notices, f"diverged (loss NaN/inf): {which}; lower lr"])


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def run(params: Params) -> Iterator[SeluFrame]:
    """Moment map, then propagation layer by layer, then training epoch by epoch."""
    device = resolve_device(params.device)
    acts = list(ACTIVATIONS)
    A, sel = len(acts), ACTIVATIONS.index(params.activation)
    notices = []
    train_ok = params.epochs > 0
    n_train = None
    dataset = data.resolve(params)  # the digits, or the user's data set (refused here if unknown)
    if params.data != data.BUILTIN:
        notices.append(f"training on {dataset.describe()}" if train_ok
                       else f"epochs = 0: {dataset.name} is not used (only the training panel learns from data)")
    if train_ok:
        n_train = dataset.n - int(round(TEST_FRACTION * dataset.n))
        if params.batch_size > n_train:
            notices.append(f"batch_size capped at the {n_train} training rows")
        n_batches = -(-n_train // min(params.batch_size, n_train))
    else:
        n_batches = 0
    total = params.depth + params.epochs * n_batches

    # 1. The moment map (closed form, float64: instant).
    # Under nn.Linear's default init the weights are √(1/3) of LeCun's: Σw = ω/√3, Σw² = τ/3.
    scale = math.sqrt(TORCH_DEFAULT_GAIN2) if params.init == "torch-default" else 1.0
    mm = moment_map(params.omega * scale, params.tau * scale ** 2)
    where = f"the SELU moment map at ω = {params.omega:g}, τ = {params.tau:g}" + (
        " (torch-default init: Σw² = τ/3)" if params.init == "torch-default" else "")
    if not np.isfinite(mm["fixed_point"]).all():
        notices.append(f"{where} has no fixed point: the mean feeds itself and runs away")
    elif mm["fixed_point"][1] <= FP_MIN_NU:
        notices.append(f"{where} has no positive fixed point: the variance collapses to 0")
    prop_hint = "the activations overflowed; lower depth, tau or input_scale"

    # 2. Propagation through random nets.
    prop = Propagation(
        activations=acts, width=params.width, n_inputs=params.n_inputs, input_shift=params.input_shift,
        input_scales=(params.input_scale,), seeds=(params.seed,), omega=params.omega, tau=params.tau,
        init=params.init, dropout=params.dropout, dropout_kind=params.dropout_kind, device=device)
    means, variances = [], []

    def record_layer():
        m, v = prop.stats()
        means.append(to_host(m[0, 0]))
        variances.append(to_host(v[0, 0]))
        check_finite(variances[-1][sel], step=prop.layer, what=f"the {LABELS[params.activation]} "
                     f"activations' variance at layer {prop.layer}", hint=prop_hint)

    record_layer()
    hist_input = histogram(to_host(prop.h[0, 0, sel]))
    hist = {"last": hist_input}
    history = {"epochs": [], "loss": [], "acc": []}
    grads = {"init": np.zeros((0, A)), "now": np.zeros((0, A))}

    diverged = {}  # activation -> first epoch with a NaN/inf loss

    def frame(step, metrics=None):
        return SeluFrame(
            step=step, total_steps=total, metrics=metrics, activation=params.activation,
            activations=tuple(acts), notice=_diverged_notice(notices, diverged), **mm,
            layers=np.arange(len(means)), layer_mean=np.array(means), layer_var=np.array(variances),
            hist_input=hist_input, hist_last=hist["last"],
            epochs=np.array(history["epochs"], dtype=float),
            train_loss=np.array(history["loss"]).reshape(-1, A),
            test_accuracy=np.array(history["acc"]).reshape(-1, A), grad_init=grads["init"], grad_now=grads["now"],
        )

    yield frame(0)
    pace = Pacer()  # one layer or one batch is a step: a frame when one is due
    for layer in range(params.depth):
        prop.step()
        record_layer()
        if layer < params.depth - 1 and pace.due():
            hist["last"] = histogram(to_host(prop.h[0, 0, sel]))
            yield frame(layer + 1)
    hist["last"] = histogram(to_host(prop.h[0, 0, sel]))
    prop.release()  # the activations go before training allocates its own
    final_mean, final_var = means[-1], variances[-1]
    step = params.depth
    yield frame(step)
    pace.shown()

    # 3. Training all four activations as one stacked model.
    if train_ok:
        trainer = Trainer(
            activations=acts, seeds=(params.seed,), depth=params.depth, width=params.width, lr=params.lr,
            batch_size=min(params.batch_size, n_train), dropout=params.dropout,
            dropout_kind=params.dropout_kind, init=params.init, device=device,
            dataset=None if params.data == data.BUILTIN else dataset)
        for epoch in range(1, params.epochs + 1):
            total_loss = torch.zeros(A, 1, device=device)
            for idx in trainer.epoch_batches():
                total_loss += trainer.step(idx) * idx.shape[1]
                step += 1
                if not len(grads["init"]):
                    grads["init"] = grads["now"] = to_host(trainer.grad_norms()).T
                if pace.due():
                    grads["now"] = to_host(trainer.grad_norms()).T
                    yield frame(step)
            grads["now"] = to_host(trainer.grad_norms()).T
            loss = to_host(total_loss[:, 0] / trainer.n_train)
            for i, a in enumerate(acts):
                if not math.isfinite(loss[i]) and a not in diverged:
                    diverged[a] = epoch
            history["epochs"].append(epoch)
            history["loss"].append(loss)
            history["acc"].append(to_host(trainer.test_accuracy()[:, 0]))
            if len(diverged) == A:
                check_finite(loss, step=step, what="every network's training loss",
                             hint=f"the learning rate is too high for depth {params.depth}; lower lr")
            if epoch < params.epochs:
                yield frame(step)
                pace.shown()

    by_activation = {}
    loss_hist = np.array(history["loss"]).reshape(-1, A)
    acc_hist = np.array(history["acc"]).reshape(-1, A)
    for i, a in enumerate(acts):
        by_activation[a] = {
            "final_mean": float(final_mean[i]), "final_var": float(final_var[i]),
            "train_loss": _finite_or_none(loss_hist[-1, i]) if len(loss_hist) else None,
            "test_accuracy": float(acc_hist[-1, i]) if len(acc_hist) and a not in diverged else None,
            "roughness": _finite_or_none(roughness(loss_hist[:, i])) if len(loss_hist) else None,
            # First layer's gradient over the last's at initialisation: ≪ 1 vanishing, ≫ 1 exploding.
            "grad_ratio": _finite_or_none(grads["init"][0, i] / grads["init"][-1, i]) if len(grads["init"]) else None,
        }
    metrics = {
        **by_activation[params.activation],  # final_mean, ..., roughness, grad_ratio
        "fixed_point_mu": _finite_or_none(mm["fixed_point"][0]),
        "fixed_point_nu": _finite_or_none(mm["fixed_point"][1]),
        "jacobian_norm": _finite_or_none(mm["fixed_point_norm"]),
        "by_activation": by_activation,
    }
    yield frame(total, metrics)


def final_metrics(overrides: dict) -> dict:
    """The last frame's metrics of one CPU run at ``Params(**overrides)`` on one thread."""
    torch.set_num_threads(1)
    *_, last = run(Params(**{"device": "cpu", **overrides}))
    return last.metrics


__all__ = ["PAPER", "Params", "SeluFrame", "run", "ALPHA_01", "LAMBDA_01", "ALPHA_PRIME", "selu",
           "selu_moments", "map_jacobian", "spectral_norm", "iterate_map", "fixed_point", "moment_map",
           "alpha_dropout_coefficients", "dropout_affine", "Propagation", "Trainer", "load_digits",
           "digits_split", "roughness", "histogram", "final_metrics"]

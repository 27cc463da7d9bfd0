"""Numerical Approximation Capacity of Neural Networks with Bounded Parameters: Do Limits Exist,
and How Can They Be Measured?

Li Liu, Tengchao Yu, Heng Yong; arXiv preprint, 2024; arXiv:2409.16697.

Claim reproduced: with bounded weights and biases and an analytic activation (tanh, sigmoid),
the features ``σ(w·x + b)`` span, up to a relative tolerance ε, a space of finite dimension
whatever the width: the Numerical Span Dimension (NSdim) saturates as the width N grows, at a
height that grows with the bound λ and with log(1/ε). A non-analytic ReLU keeps growing.

The heuristic height below overshoots the measured plateau, as the spec warned: only its
scaling is asserted. What the claims measured:
``paperscope verify nsdim``, recorded in ``paperscope/claims/recorded/nsdim.json``.

Key equations (1-D unless ``input_dim`` > 1; symbols as in the lab spec):

* random features: ``x_i`` (M samples in ``[-1, 1]^d``), ``(w_j, b_j) ~ Unif`` with
  ``|w_jk| ≤ λ`` and ``|b_j| ≤ λ`` (or ``≤ 1``), ``H_ij = σ(w_j · x_i + b_j)``, H of shape (M, N);
* ``NSdim_ε(H) = #{i : s_i > ε s_1}`` with ``s_1 ≥ s_2 ≥ …`` the singular values of H;
* ELM readout at precision ε: the least-squares fit of a target y restricted to the singular
  directions that count (what ``lstsq(H, y, rcond=ε)`` computes),
  ``ŷ = U_r U_rᵀ y`` with ``r = NSdim_ε``; relative error ``‖y − ŷ‖ / ‖y‖``;
* heuristic height of the plateau (tanh): ``(2λ/π) ln(1/ε)`` — Chebyshev coefficients of
  ``tanh(w x + b)`` on [−1, 1] decay like ``ρ^{−k}`` with ``ln ρ ≈ π / (2λ)`` (poles at
  ``w z + b = ±iπ/2``); for sigmoid(t) = (1 + tanh(t/2)) / 2 it is ``(λ/π) ln(1/ε)``.

What was checked against the paper ([unverified] items of the spec): only the title, the
authors (Li Liu, Tengchao Yu, Heng Yong, IAPCM Beijing), the arXiv id and the abstract could be
read offline (arXiv HTML v1, first page). The abstract confirms the terms "ε outer measure" and
"Numerical Span Dimension (NSdim)", analytic activations (Tanh, Sigmoid), a bounded
"nonlinear parameter space", the finite-dimensional conclusion "in a continuous or discrete
sense" and the ELM / width-redundancy discussion. The exact definitions of Sec. 3 (the ε outer
measure as the minimal n with ``sup_f dist(f, V_n) ≤ ε``, and NSdim as a count of singular
values above ``ε s_1``) could **not** be checked: this module follows the spec's operational
reading, with the threshold relative to ``s_1`` and ε tied to the working precision.

What the run does: the same unit draws ``(u_w, u_b) ~ U[-1, 1]`` are scaled by each of three
bounds ``λ/4, λ, 4λ`` (common random numbers, so the curves differ only in λ), and the widths
``N, N/√2, N/2, …`` reuse the first columns of one feature matrix (adding neurons, not
redrawing them). Each width is one frame: one batched SVD over the three bounds gives the
spectra, NSdim for every ε of a decade grid at once, and the ELM fit of ``sin(kπ x_1)``.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch

from paperscope.core.device import resolve_device
from paperscope.core.errors import ParamError
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="nsdim",
    title="Numerical span dimension of bounded networks",
    paper_title=("Numerical Approximation Capacity of Neural Networks with Bounded Parameters: Do Limits "
                 "Exist, and How Can They Be Measured?"),
    authors="Liu, Yu, Yong",
    venue="arXiv 2024",
    arxiv="2409.16697",
    claim=("With bounded weights and an analytic activation, the features span a finite-dimensional "
           "space up to ε: NSdim saturates in the width, at a height growing with λ and log(1/ε)."),
    equations=(
        r"H_{ij} = \sigma(w_j \cdot x_i + b_j),\quad |w_{jk}| \le \lambda,\ |b_j| \le \lambda",
        r"\mathrm{NSdim}_\varepsilon(H) = \#\{i : s_i > \varepsilon s_1\}",
        (r"\mathrm{NSdim}_\varepsilon \lesssim \frac{2\lambda}{\pi} \ln\frac{1}{\varepsilon} \quad"
         r" (\tanh,\ \text{heuristic})"),
    ),
    topics=("approximation", "learning theory"),
    checked=("Only the title, authors and abstract were readable offline (they confirm NSdim, analytic "
             "activations and bounded parameters); Sec. 3's exact definitions were not checked, so the "
             "lab follows the spec's reading: singular values above ε s₁."),
)

ACTIVATIONS = ("tanh", "sigmoid", "sin", "relu")
EPSILONS = tuple(10.0 ** -k for k in range(1, 16))  # the ε grid of the NSdim-vs-ε panel
BOUND_FACTORS = (0.25, 1.0, 4.0)  # the bounds compared: λ/4, λ, 4λ
FREQS = tuple(range(1, 33))  # targets sin(kπ x1) of the error-against-frequency panel
SHOWN = (32, 8, 2, 1)  # spectra are shown at N/32, N/8, N/2 and N
MIN_WIDTH = 4
STREAM_NEURONS, STREAM_POINTS = 0, 1


class Params(LabParams):
    """Hyperparameters of the NSdim lab (defaults: the spec's live CPU experiment)."""

    weight_bound = param.Number(
        4.0, bounds=(0.05, 256.0), softbounds=(0.5, 64.0),
        doc=("λ, the bound on the inner weights: w ~ U[-λ, λ]^d. The run also shows λ/4 and 4λ; "
             "the plateau height grows about linearly in λ"),
    )
    width = param.Integer(
        500, bounds=(MIN_WIDTH, 3000), softbounds=(20, 2000),
        doc=("N, the number of random neurons (columns of H). The run sweeps N, N/√2, N/2, ... "
             "down to 4, adding neurons to the same draw"),
    )
    epsilon = param.Selector(
        default=1e-12, objects=list(EPSILONS),
        doc=("ε, the relative tolerance: NSdim counts singular values above ε·s1. Tie it to the "
             "precision: down to ~1e-15 in float64, ~1e-6 in float32"),
    )
    activation = param.Selector(
        default="tanh", objects=list(ACTIVATIONS),
        doc=("σ: tanh and sigmoid are analytic (NSdim saturates), sin is entire, relu is not "
             "analytic (its kinks keep adding directions: no plateau)"),
    )
    samples = param.Integer(
        600, bounds=(16, 3000), softbounds=(50, 2000),
        doc=("M, the number of input points (rows of H). NSdim can never exceed M: keep M at "
             "least twice the plateau"),
    )
    input_dim = param.Integer(
        1, bounds=(1, 3), softbounds=(1, 3),
        doc=("d, the input dimension. d = 1: an even grid on [-1, 1]; d > 1: seeded uniform points "
             "in the cube. The plateau grows like the dimension of polynomials of degree K, C(d+K, d)"),
    )
    bias_range = param.Selector(
        default="weight", objects=["weight", "unit"],
        doc="weight: b ~ U[-λ, λ] (as the weights); unit: b ~ U[-1, 1]. It moves the plateau",
    )
    target_freq = param.Integer(
        8, bounds=(1, 64), softbounds=(1, 32),
        doc=("k, the frequency of the ELM target sin(kπ x1): the fit fails when the target needs "
             "more directions than NSdim provides"),
    )
    precision = param.Selector(
        default="float64", objects=["float64", "float32"],
        doc="Working precision of the features and the SVD (float32: ε below ~1e-6 counts round-off)",
    )

    # Measured on a 2-core CPU, 1 thread: 0.06 s CPU for the whole run, first frame ~0.01 s
    # (defaults: 0.37 s, first frame ~0.01 s; the last, widest SVDs cost most).
    LOG_SCALE: ClassVar[tuple] = ("weight_bound",)
    QUICK: ClassVar[dict] = {"width": 200, "samples": 300}


@dataclass(frozen=True, kw_only=True)
class NsdimFrame(Frame):
    """A complete snapshot after the first ``step`` widths of the sweep.

    Shapes: B = 3 bounds, K widths in the sweep (ascending; the first ``step`` are done), E
    values of ε in the grid, S = 4 shown spectra (N/32, N/8, N/2, N), L = min(M, N), M samples.
    Entries not computed yet are NaN. ``metrics`` (last frame only): ``nsdim`` (at λ, N, ε),
    ``nsdim_half_width`` (at N/2), ``plateau_gain`` (their difference), ``heuristic``,
    ``elm_rel_error`` and the same per bound (``..._quarter_bound``, ``..._4x_bound``),
    ``sample_cap`` = min(M, N).
    """

    activation: str
    epsilon: float
    bounds: np.ndarray  # (B,) λ/4, λ, 4λ
    widths: np.ndarray  # (K,) int, ascending
    nsdim: np.ndarray  # (K, B) NSdim_ε at each width and bound
    elm_error: np.ndarray  # (K, B) relative error of the ELM fit at precision ε
    epsilons: np.ndarray  # (E,) descending
    nsdim_eps: np.ndarray  # (B, E) NSdim at the newest width for every ε of the grid
    heuristic_eps: np.ndarray  # (B, E) (2λ/π) ln(1/ε) (tanh) or (λ/π) ln(1/ε) (sigmoid); NaN otherwise
    shown_widths: np.ndarray  # (S,) int (0 where the width is below the sweep's minimum)
    spectra: np.ndarray  # (S, L) s_i / s_1 at λ, NaN-padded
    x: np.ndarray  # (M,) first coordinate of the samples, ascending
    target: np.ndarray  # (M,) sin(kπ x1) in that order
    fit: np.ndarray  # (B, M) the ELM fits at the newest width, same order
    target_freq: int
    freqs: np.ndarray  # (F,) int: 1..32 and target_freq
    freq_error: np.ndarray  # (B, F) ELM error for sin(kπ x1) at the newest width, each k
    samples: int
    notice: str = ""


# --------------------------------------------------------------------------------------------
# Small numerical pieces (public: tests and benchmarks use them)


def sweep_widths(N: int) -> list[int]:
    """``N, N/√2, N/2, …`` rounded, down to ``MIN_WIDTH``, ascending and without duplicates.

    Even steps hit ``N/2^j`` exactly (the shown spectra); √2 steps give ~7 points a decade.
    """
    widths = {int(round(N * 2.0 ** (-j / 2))) for j in range(64)}
    return sorted(w for w in widths if w >= min(MIN_WIDTH, N))


def unit_draws(N: int, d: int, seed: int, device, dtype=torch.float64):
    """The neurons before scaling: ``u_w (N, d)`` and ``u_b (N,)``, uniform on [-1, 1]."""
    gen = torch_generator(seed, device, STREAM_NEURONS)
    u = torch.rand(N, d + 1, generator=gen, device=device, dtype=torch.float64) * 2 - 1
    # Drawn in float64 and then cast, so float32 runs see the same neurons as float64 ones.
    return u[:, :d].to(dtype), u[:, d].to(dtype)


def sample_points(M: int, d: int, seed: int, device, dtype=torch.float64) -> torch.Tensor:
    """``X (M, d)``: an even grid on [-1, 1] for d = 1, seeded uniform points in the cube else."""
    if d == 1:
        return torch.linspace(-1, 1, M, device=device, dtype=torch.float64).to(dtype)[:, None]
    gen = torch_generator(seed, device, STREAM_POINTS)
    X = torch.rand(M, d, generator=gen, device=device, dtype=torch.float64) * 2 - 1
    return X[torch.argsort(X[:, 0])].to(dtype)  # ordered by x1, for the fit plot


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "tanh":
        return torch.tanh(z)
    if activation == "sigmoid":
        return torch.sigmoid(z)
    if activation == "sin":
        return torch.sin(z)
    if activation == "relu":
        return torch.relu(z)
    raise ParamError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")


def features(X, u_w, u_b, bounds, activation: str = "tanh", bias_range: str = "weight"):
    """``H (B, M, N)``: ``H[b, i, j] = σ(λ_b u_w[j] · x_i + β_b u_b[j])`` for every bound at once.

    ``β_b = λ_b`` (``bias_range="weight"``) or 1 (``"unit"``). ``X (M, d)``, ``u_w (N, d)``,
    ``u_b (N,)``, ``bounds (B,)``.
    """
    lam = torch.as_tensor(bounds, dtype=X.dtype, device=X.device)
    pre = X @ u_w.T  # (M, N) unit pre-activations, shared by all bounds
    beta = lam if bias_range == "weight" else torch.ones_like(lam)
    Z = lam[:, None, None] * pre + beta[:, None, None] * u_b  # (B, M, N)
    return activate(Z, activation)


def nsdim_counts(s: torch.Tensor, epsilons) -> torch.Tensor:
    """``#{i : s_i > ε s_1}`` for each ε: ``s (..., q)`` descending -> ``(..., E)`` (int64)."""
    eps = torch.as_tensor(epsilons, dtype=s.dtype, device=s.device)
    # Strictly above the threshold, as lstsq's rcond: a singular value equal to ε s_1 is dropped.
    return (s[..., None, :] > eps[:, None] * s[..., :1, None]).sum(-1)


def truncated_fit(U: torch.Tensor, s: torch.Tensor, Y: torch.Tensor, epsilon: float):
    """ELM fits of the targets ``Y (M, F)`` at precision ε from the thin SVD ``U (..., M, q)``,
    ``s (..., q)`` of the feature matrix.

    Keeps the directions with ``s_i > ε s_1`` (what ``lstsq(H, Y, rcond=ε)`` keeps); returns
    the fits ``(..., M, F)`` and the relative errors ``‖y − ŷ‖ / ‖y‖`` per target ``(..., F)``.
    """
    keep = (s > epsilon * s[..., :1]).to(U.dtype)  # (..., q)
    coef = (U.transpose(-1, -2) @ Y) * keep[..., None]  # U_rᵀ Y, (..., q, F)
    fit = U @ coef  # (..., M, F)
    # The residual itself, not 1 - |coef|²: errors far below 1e-8 stay accurate.
    return fit, torch.linalg.vector_norm(Y - fit, dim=-2) / torch.linalg.vector_norm(Y, dim=-2)


def heuristic(bound, epsilon, activation: str = "tanh"):
    """The spec's plateau estimate: ``(2λ/π) ln(1/ε)`` for tanh, ``(λ/π) ln(1/ε)`` for sigmoid.

    NaN for sin (entire: no poles) and relu (not analytic: no plateau). Arrays broadcast.
    """
    lam, eps = np.asarray(bound, dtype=float), np.asarray(epsilon, dtype=float)
    scale = {"tanh": 2.0, "sigmoid": 1.0}.get(activation, math.nan)
    return scale * lam / math.pi * np.log(1.0 / eps)


def decompose(H: torch.Tensor, Y: torch.Tensor, epsilons, epsilon: float):
    """One batched thin SVD of ``H (B, M, n)``: everything a frame needs for one width.

    Returns the singular values ``(B, q)``, NSdim for every ε of the grid ``(B, E)``, NSdim at
    ε ``(B,)``, and the ELM fits ``(B, M, F)`` of the targets ``Y (M, F)`` with their relative
    errors ``(B, F)``.
    """
    U, s, _ = torch.linalg.svd(H, full_matrices=False)  # U (B, M, q), s (B, q), q = min(M, n)
    fit, err = truncated_fit(U, s, Y, epsilon)
    return s, nsdim_counts(s, epsilons), nsdim_counts(s, [epsilon])[..., 0], fit, err


def target_freqs(k: int) -> list[int]:
    """Frequencies of the error-against-frequency panel: ``FREQS`` and the run's own k."""
    return sorted(set(FREQS) | {int(k)})


# --------------------------------------------------------------------------------------------
# The run


def _notice(params, eps: float, dtype, nsdim_last: np.ndarray, bounds: np.ndarray) -> str:
    """Warnings about what the numbers mean: ε below round-off, or NSdim capped by M."""
    notes = []
    resolution = torch.finfo(dtype).eps
    if eps < 4 * resolution:
        notes.append(f"ε = {eps:.0e} is below {params.precision}'s round-off (~{resolution:.1e}): "
                     "NSdim counts noise and grows with N")
    capped = [f"λ = {lam:g}" for lam, n in zip(bounds, nsdim_last) if n > params.samples / 2]
    if capped:
        notes.append(f"NSdim > M/2 for {', '.join(capped)}: the {params.samples} samples may cap it; "
                     "raise samples")
    return "; ".join(notes)


def run(params: Params) -> Iterator[NsdimFrame]:
    """Sweep the width upward; one frame per width, all bounds in one batched SVD."""
    device = resolve_device(params.device)
    dtype = torch.float64 if params.precision == "float64" else torch.float32
    eps = float(params.epsilon)
    N, M, d = params.width, params.samples, params.input_dim
    widths = sweep_widths(N)
    bounds = np.array([f * params.weight_bound for f in BOUND_FACTORS])
    B, K = len(bounds), len(widths)

    X = sample_points(M, d, params.seed, device, dtype)  # (M, d)
    u_w, u_b = unit_draws(N, d, params.seed, device, dtype)  # (N, d), (N,)
    H = features(X, u_w, u_b, bounds, params.activation, params.bias_range)  # (B, M, N)
    check_finite(H, step=0, what="the feature matrix",
                 hint="overflow in the activation: lower weight_bound or use float64")
    freqs = target_freqs(params.target_freq)
    j = freqs.index(params.target_freq)  # the run's own target among them
    Y = torch.sin(math.pi * X[:, :1] * torch.tensor(freqs, dtype=dtype, device=device))  # (M, F)
    del u_w, u_b

    # N/32 .. N are in the sweep (even steps of √2); 0 marks one below the sweep's minimum.
    shown = np.array([w if w in widths else 0 for w in np.rint(N / np.array(SHOWN)).astype(int)])
    L = min(M, N)
    nsdim = np.full((K, B), np.nan)
    elm = np.full((K, B), np.nan)  # the run's own target, at every width
    spectra = np.full((len(SHOWN), L), np.nan)
    x_np, y_np = to_host(X[:, 0]), to_host(Y[:, j])
    heur = heuristic(bounds[:, None], np.array(EPSILONS)[None, :], params.activation)

    for k, n in enumerate(widths):
        s, counts, at_eps, fit, err = decompose(H[..., :n], Y, EPSILONS, eps)
        check_finite(s, step=k + 1, what=f"the singular values at width {n}",
                     hint="the feature matrix holds NaN/inf; lower weight_bound")
        nsdim[k], elm[k] = to_host(at_eps), to_host(err[:, j])
        for i, w in enumerate(shown):
            if w == n:
                rel = to_host(s[1] / s[1, :1])
                spectra[i, : len(rel)] = rel
        last = k + 1 == K
        metrics = _metrics(params, bounds, widths, nsdim, elm, eps) if last else None
        notice = _notice(params, eps, dtype, nsdim[k], bounds)
        yield NsdimFrame(
            step=k + 1, total_steps=K, metrics=metrics, activation=params.activation,
            epsilon=eps, bounds=bounds, widths=np.array(widths), nsdim=nsdim.copy(),
            elm_error=elm.copy(), epsilons=np.array(EPSILONS), nsdim_eps=to_host(counts),
            heuristic_eps=heur, shown_widths=shown, spectra=spectra.copy(), x=x_np,
            target=y_np, fit=to_host(fit[..., j]), target_freq=params.target_freq,
            freqs=np.array(freqs), freq_error=to_host(err), samples=M, notice=notice,
        )


def _metrics(params, bounds, widths, nsdim, elm, eps) -> dict:
    """The summary: NSdim at (λ, N, ε), its gain over N/2, the heuristic and the ELM errors."""
    K = len(widths)
    half = widths.index(int(round(params.width / 2))) if int(round(params.width / 2)) in widths else K - 1
    m = {
        "nsdim": int(nsdim[-1, 1]),
        "nsdim_half_width": int(nsdim[half, 1]),
        "plateau_gain": int(nsdim[-1, 1] - nsdim[half, 1]),
        "heuristic": float(heuristic(bounds[1], eps, params.activation)),
        "elm_rel_error": float(elm[-1, 1]),
        "sample_cap": int(min(params.samples, params.width)),
    }
    for i, name in ((0, "quarter_bound"), (2, "4x_bound")):
        m[f"nsdim_{name}"] = int(nsdim[-1, i])
        m[f"elm_rel_error_{name}"] = float(elm[-1, i])
    if math.isnan(m["heuristic"]):
        m["heuristic"] = None  # JSON has no NaN
    return m


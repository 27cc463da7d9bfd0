"""How Powerful are Shallow Neural Networks with Bandlimited Random Weights?

Li, Sonoda, Cao, Wang, Liang; ICML 2023; arXiv:2008.08427.

Claim (the paper's): a depth-2 random net whose hidden parameters are drawn from a bounded
("bandlimited") domain ``|a|, |b| ≤ λ`` may not reach zero approximation error however wide it is;
the paper proves a non-trivial *lower bound* on that error by ridgelet analysis (the target's
ridgelet content outside the parameter domain cannot be captured). A suitable λ exists, and it
grows with the target's complexity. (Checked here on ``sin(kπx)``. The spec's third check, "the
argmin λ is non-decreasing in k", does not reproduce at small k, where the valley's floor is flat
over a range of λ. What the claims measured: ``paperscope verify bandlimited``, recorded in
``paperscope/claims/recorded/bandlimited.json``.)

Key equations (symbols as in the paper):

* random net ``f_N(x) = Σ_{j ≤ N} c_j σ(a_j x − b_j)``, ``(a_j, b_j) ~ p`` on
  ``Ω = {|a| ≤ λ, |b| ≤ λ}`` and frozen; only the readout ``c`` is fitted;
* continuum limit ``S[γ](x) = ∫_Ω γ(a, b) σ(a x − b) dp(a, b)``; ridgelet transform
  ``R_ψ f(a, b) = ∫ f(x) ψ(a x − b) dx``, and for an admissible pair (σ, ψ) the reconstruction
  ``S[R_ψ f] = K_{σ,ψ} f`` (Sonoda–Murata);
* the lower bound (paraphrased): ``inf_γ ‖f − S[γ 1_Ω]‖ ≥ c_{σ,ψ} ‖R_ψ f‖_{L²(Ω^c)}``: ridgelet
  energy of f outside the parameter domain cannot be captured.

What this module computes. Readout by ridge regression with a *relative* ridge ρ,
``c = argmin ‖H c − y‖² + ρ² ‖H‖_F² ‖c‖²``: feature directions with singular value below
≈ ρ‖H‖_F are ignored, as ``lstsq(cond=ρ)`` would (the spec's faithful experiment uses
``cond = 1e-10``; the two agree to a factor ≲ 3 on the spec's reference grid). It is solved
stably in float64 by a QR factorisation of the stacked matrix ``[H; ρ‖H‖_F I]`` (or of
``[Hᵀ; ρ‖H‖_F I]`` when N > n), never by the normal equations, whose float64 rounding
(~1e-16 on s², i.e. 1e-8 on s) would swamp ρ = 1e-10. Every weight bound of the heat map is one
batch entry and every target frequency one right-hand side: the (λ, k) grid is one batched
solve per chunk of rows. Hidden parameters are one standardised seeded draw ``(u_a, u_b)``
scaled by λ (common random numbers, so the map is smooth in λ). ``ridge_sweep`` refits one cell
at every ρ of the ``ridge`` menu from one SVD of H (the Tikhonov filter ``s / (s² + ρ²‖H‖_F²)``).

The lab's reading (not the paper's theorem). For an analytic σ such as tanh, any open set of
parameters still gives a universal approximator in exact arithmetic (see the ``nsdim`` lab), so
the error floor this lab shows is not an impossibility: it is what a readout of bounded size can
do. The ridge ρ sets that size, and with it the floor: a feature ``σ(a x − b)`` carries
Legendre/Chebyshev degree m on [−1, 1] with amplitude ``~ r(a)^{−m}``, r the Bernstein-ellipse
parameter through σ's nearest complex pole (tanh: poles at ``a x − b = ±iπ/2``, so
``ln r = asinh(π / (2|a|))``, slowest at b = 0). With ``|a| ≤ λ`` the features' content falls
below the relative floor ρ beyond the degree

    ``M(λ, ρ) = ln(1/ρ) / asinh(π / (2λ))``  (tanh; sigmoid has ``asinh(π/λ)``: about half the reach),

which tends to ``(2/π) ln(1/ρ) λ`` at large λ. ``sin(kπx)`` needs degree ≈ kπ, hence the band edge
drawn on the heat map, ``k ≈ M(λ, ρ) / π`` (≈ 4.7 λ at ρ = 1e-10 and large λ). The Gaussian
``e^{−t²}`` is entire, with no pole: its degree comes from the growth ``e^{λ² sinh² t}`` on the
ellipses (``_gaussian_degree``), tending to the Fourier edge ``k ≲ (2/π) sqrt(ln 1/ρ) λ``.
ReLU is positively homogeneous, so λ only rescales its features and there is no edge.

The paper's quantity, as this lab computes it (``out_of_band``): the target's spectral energy
outside that band, ``q(k, λ, ρ) = ‖f − P_M f‖ / ‖f‖`` on [−1, 1], where ``P_M`` is the Legendre
projection onto degree ≤ M (the L²-best polynomial of degree M, the norm the test error uses).
For ``f = sin(kπx)`` it is closed form, ``sin(zx) = Σ_{n odd} (2n+1)(−1)^{(n−1)/2} j_n(z) P_n(x)``
with z = kπ and j_n the spherical Bessel function. Why not the Fourier transform of f·1_[−1,1]:
the cut at ±1 leaks energy into slowly decaying side lobes that the net, asked to match f on
[−1, 1] only, never has to produce. The band M and the choice of the Legendre spectrum are the
lab's; the paper's ψ and constant ``c_{σ,ψ}`` are not used. Claim C4-bound checks that q sits
below the achieved error on the whole grid (the reading of a lower bound with c = 1).

Audit of the spec's [unverified] items (the paper's full text was not reachable offline; its
abstract, the OpenReview/ICML page and a public review were):

* lower bound: confirmed only qualitatively (the abstract and review: a non-trivial lower bound
  by ridgelet analysis, strictly positive when the ridgelet spectrum outside the parameter
  domain does not vanish). The exact statement, its norm and the constants ``c_{σ,ψ}`` are NOT
  checked; ``out_of_band`` is this lab's stand-in for ``‖R_ψ f‖_{L²(Ω^c)}``, not the theorem;
* bias-range convention: not checked. This lab scales both, ``a, b ~ λ·law``, as the spec
  recommends; the review confirms that λ is the paper's bandwidth parameter;
* the experiment (600 uniform training points on [−1, 1], 1000 test points, tanh, N = 400,
  ``U[−λ, λ]²``, cond 1e-10, targets ``sin(kπx)``) follows the spec, not the paper's figures.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch
from scipy import optimize, special

from paperscope.core.device import check_fits, memory_limit, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="bandlimited",
    title="Random nets with bandlimited weights",
    paper_title="How Powerful are Shallow Neural Networks with Bandlimited Random Weights?",
    authors="Li, Sonoda, Cao, Wang, Liang",
    venue="ICML 2023",
    arxiv="2008.08427",
    claim=("The paper proves a lower bound on the error of nets with hidden weights |a|, |b| ≤ λ: the "
           "target's content outside the band is lost however wide the net. In this lab's runs "
           "sin(kπx) fails beyond k ≈ 4λ and the best λ grows with k; the edge is set by the ridge ρ "
           "(the lab's reading: exact arithmetic stays universal, see the nsdim lab)."),
    equations=(
        r"f_N(x) = \textstyle\sum_{j \le N} c_j \, \sigma(a_j x - b_j),\quad |a_j|, |b_j| \le \lambda",
        r"R_\psi f(a, b) = \int f(x) \, \psi(a x - b) \, dx",
        r"\inf_\gamma \|f - S[\gamma 1_\Omega]\| \ge c_{\sigma,\psi} \|R_\psi f\|_{L^2(\Omega^c)}",
        r"k \lesssim \frac{\ln(1/\rho)}{\pi \, \mathrm{asinh}(\pi / 2\lambda)} \quad (\tanh,\ \text{lab's edge})",
    ),
    topics=("approximation", "random features"),
    checked=("The ridgelet lower bound is confirmed only qualitatively (abstract, ICML page, a review); its "
             "statement and constants are not checked. The out-of-band energy the lab plots (Legendre "
             "spectrum beyond its band edge) and the band edge itself are the lab's own; the experiment "
             "follows the lab spec, not the paper's figures."),
)

F64 = torch.float64
BOUND_RANGE = (0.25, 256.0)  # heat-map rows: λ log-spaced over this range
FREQ_RANGE = (1.0, 64.0)  # heat-map columns: k log-spaced over this range
MIN_WIDTH = 25  # the width sweep starts here
WIDTH_FACTORS = (0.5, 1.0, 2.0)  # the width sweep's targets: k/2, k, 2k
MAX_CHUNK = 16  # rows per batched solve at most (fewer where memory needs: _rows_that_fit)
FLOOR = 1e-16  # relative errors are clipped here before taking logs
FEASIBLE = 0.5  # "best λ" is drawn only for columns where some λ gets below this error

# Seed streams: one per purpose, so changing one size never reshuffles another draw.
STREAM_X, STREAM_WEIGHTS = 0, 1

# Band edge of each activation, k_edge(λ, L) with L = ln(1/ρ) (see the module docstring): the
# Legendre degree M = π k_edge beyond which features with |a| ≤ λ carry less than ρ.
EDGE = {
    # tanh: poles at t = ±iπ/2, Bernstein-ellipse decay r^{-m}, ln r = asinh(π / (2λ))
    "tanh": lambda lam, L: L / (math.pi * np.arcsinh(math.pi / (2.0 * lam))),
    # sigmoid(t) = (1 + tanh(t/2)) / 2: poles at t = ±iπ, about half of tanh's reach
    "sigmoid": lambda lam, L: L / (math.pi * np.arcsinh(math.pi / lam)),
    # e^{-t²} is entire: see _gaussian_degree; ≈ (2/π) sqrt(L) λ at large λ (Fourier e^{-ζ²/4})
    "gaussian": lambda lam, L: np.vectorize(_gaussian_degree)(lam, L) / math.pi,
}


def _gaussian_degree(lam: float, L: float) -> float:
    """Least Legendre/Chebyshev degree m at which ``e^{-(a x − b)²}``, |a| ≤ λ, is bounded by
    ``e^{-L}``: on the Bernstein ellipse ``r = e^t`` (half-height sinh t) the feature is at most
    ``e^{λ² sinh² t}``, so its degree-m coefficient is ≲ ``exp(min_t λ² sinh² t − m t)``, the
    minimum at ``sinh 2t = m / λ²``. That bound only falls as m grows: bisect for it to reach −L."""
    def log_bound(m):
        t = 0.5 * math.asinh(m / lam**2)
        return lam**2 * math.sinh(t) ** 2 - m * t
    return optimize.brentq(lambda m: log_bound(m) + L, 1e-9, 10 * L + 10 * lam * math.sqrt(L))


class Params(LabParams):
    """Hyperparameters of the bandlimited-random-net lab (defaults: the spec's experiment)."""

    weight_bound = param.Number(
        4.0, bounds=BOUND_RANGE, softbounds=(0.5, 64.0),
        doc=("λ, the bandwidth: hidden weights and biases are drawn as a = λ u_a, b = λ u_b with "
             "u ~ the weight law (uniform: U[-1, 1], so |a|, |b| ≤ λ). The marked cell of the "
             "heat map and the fit use this λ"),
    )
    frequency = param.Number(
        8.0, bounds=FREQ_RANGE, softbounds=FREQ_RANGE,
        doc="k, the target's frequency: f(x) = sin(kπx) on [-1, 1] (k periods)",
    )
    width = param.Integer(
        400, bounds=(MIN_WIDTH, 2000), softbounds=(MIN_WIDTH, 2000),
        doc=("N, hidden units (random features). At a fixed small λ more N does not help; the "
             "width plot sweeps N from 25 up to this value"),
    )
    ridge = param.Selector(
        default=1e-10, objects=[1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2],
        doc=("ρ, the relative ridge: c = argmin |Hc - y|² + ρ²|H|_F²|c|², which ignores feature "
             "directions with singular value below ~ρ|H|_F, like lstsq's cond. It sets the error "
             "floor the runs show, and a lower ρ moves the band edge out: k ≈ (2/π²) ln(1/ρ) λ for "
             "tanh at large λ"),
    )
    weight_law = param.Selector(
        default="uniform", objects=["uniform", "gaussian", "cauchy"],
        doc=("Law of u = (a, b) / λ. uniform: U[-1, 1], bandlimited (the paper's case). "
             "gaussian: N(0, 1), light tails. cauchy: standard Cauchy, heavy tails that reach "
             "far beyond λ"),
    )
    activation = param.Selector(
        default="tanh", objects=["tanh", "sigmoid", "relu", "gaussian"],
        doc=("σ. tanh and sigmoid (analytic, spectrum ~ e^{-c|ω|}), gaussian e^{-t²} "
             "(spectrum e^{-ω²/4}), relu (positively homogeneous: λ only rescales, no band edge)"),
    )
    n_train = param.Integer(
        600, bounds=(20, 5000), softbounds=(100, 2000),
        doc="Training points, uniform on [-1, 1] (seeded); the error is measured on a 1000-point grid",
    )
    n_bounds = param.Integer(
        21, bounds=(2, 81), softbounds=(5, 41),
        doc="Rows of the heat map: λ log-spaced over [0.25, 256] (21: half-octave steps)",
    )
    n_freqs = param.Integer(
        13, bounds=(2, 49), softbounds=(5, 25),
        doc="Columns of the heat map: k log-spaced over [1, 64] (13: half-octave steps)",
    )

    # Measured on a 2-core CPU, 1 thread: ~0.1 s for a quick run, ~0.6 s at the defaults.
    LOG_SCALE: ClassVar[tuple] = ("weight_bound",)
    QUICK: ClassVar[dict] = {"width": 150, "n_train": 300, "n_bounds": 11, "n_freqs": 7}


N_TEST = 1000  # test grid points, fixed by the spec


@dataclass(frozen=True, kw_only=True)
class BandlimitedFrame(Frame):
    """A complete snapshot (histories included).

    The heat map ``rel_error_grid[i, j]`` is the relative test error at ``bounds[i]`` (row) and
    ``freqs[j]`` (column); rows not computed yet are NaN (they fill bottom-up, small λ first).
    ``slice_error[i]`` is the error at ``bounds[i]`` for the current frequency (NaN until its
    row is done); ``width_error[w, m]`` at ``widths[w]`` and ``width_freqs[m]`` (k/2, k, 2k)
    for the current λ. ``band_edge[i]`` is the lab's edge frequency at ``bounds[i]`` (NaN
    for ReLU); ``best_bound[j]`` the λ of least (3-point smoothed) error in column j, NaN until
    the grid is complete. ``out_of_band[i]``: the target's relative energy outside the band at
    ``bounds[i]`` (the lab's reading of the paper's quantity, ``out_of_band()``) for this k and ρ.
    ``ridge_error[r]`` and ``ridge_out_of_band[r]``: the error and that energy at this (k, λ) for
    each ``ridges[r]`` (NaN until swept). ``metrics`` (last frame): rel_error, best_bound,
    min_rel_error, band_edge, out_of_band, the width and ridge sweeps.
    """

    weight_bound: float
    frequency: float
    width: int
    activation: str
    weight_law: str
    ridge: float
    notice: str
    rel_error: float  # at (weight_bound, frequency, width)
    x_test: np.ndarray  # (T,)
    target: np.ndarray  # (T,)
    fit: np.ndarray  # (T,)
    bounds: np.ndarray  # (L,)
    freqs: np.ndarray  # (K,)
    rel_error_grid: np.ndarray  # (L, K)
    rows_done: int
    slice_error: np.ndarray  # (L,)
    band_edge: np.ndarray  # (L,)
    best_bound: np.ndarray  # (K,)
    widths: np.ndarray  # (W,)
    width_freqs: np.ndarray  # (3,)
    width_error: np.ndarray  # (W, 3)
    out_of_band: np.ndarray  # (L,)
    ridges: np.ndarray  # (R,)
    ridge_error: np.ndarray  # (R,)
    ridge_out_of_band: np.ndarray  # (R,)


# --------------------------------------------------------------------------------------------
# Building blocks (public: tests, benchmarks and other labs use them)


def activation_fn(name: str):
    """σ as a torch function."""
    if name == "tanh":
        return torch.tanh
    if name == "sigmoid":
        return torch.sigmoid
    if name == "relu":
        return torch.relu
    if name == "gaussian":
        return lambda t: torch.exp(-t * t)
    raise ValueError(f"unknown activation {name!r}")


def log_grid(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` log-spaced values from lo to hi inclusive."""
    return np.geomspace(lo, hi, int(n))


def band_edge(bound, activation: str, ridge: float) -> np.ndarray:
    """The lab's edge frequency ``k_edge(λ, ρ)`` beyond which ``sin(kπx)`` is out of reach of
    features with ``|a| ≤ λ`` above the relative floor ρ (NaN for ReLU, whose features only
    rescale with λ). For tanh ``ln(1/ρ) / (π asinh(π / 2λ))``, ≈ ``(2/π²) ln(1/ρ) λ`` at large λ."""
    bound = np.asarray(bound, dtype=float)
    if activation not in EDGE:
        return np.full_like(bound, np.nan)
    return EDGE[activation](bound, math.log(1.0 / ridge)) * np.ones_like(bound)


def legendre_energy(freq: float, degrees: np.ndarray) -> np.ndarray:
    """Share of ``‖sin(kπx)‖²`` on [−1, 1] in each Legendre degree n of ``degrees``.

    ``sin(zx) = Σ_{n odd} (2n+1)(−1)^{(n−1)/2} j_n(z) P_n(x)`` (z = kπ) and ``‖P_n‖² = 2/(2n+1)``,
    so degree n holds ``2(2n+1) j_n(z)²`` of the total ``1 − sin(2z)/(2z)``; even degrees hold 0.
    ``j_n(z) = sqrt(π/2z) J_{n+½}(z)`` through ``scipy.special.jv``, accurate far into the tail.
    """
    z = math.pi * float(freq)
    n = np.asarray(degrees, dtype=float)
    j = math.sqrt(math.pi / (2 * z)) * special.jv(n + 0.5, z)
    share = 2 * (2 * n + 1) * j**2 / (1 - math.sin(2 * z) / (2 * z))
    return np.where(n % 2 == 1, share, 0.0)


def out_of_band(freqs, bounds, activation: str, ridge: float) -> np.ndarray:
    """The paper's quantity as this lab reads it: the relative L² norm on [−1, 1] of the part of
    ``sin(kπx)`` beyond the band, ``‖f − P_M f‖ / ‖f‖`` with M = π k_edge(λ, ρ) (the Legendre
    degree features with ``|a| ≤ λ`` reach above the floor ρ), ``(L, K)`` for ``bounds (L,)`` and
    ``freqs (K,)``. NaN where there is no band (ReLU)."""
    bounds, freqs = np.atleast_1d(np.asarray(bounds, dtype=float)), np.atleast_1d(np.asarray(freqs, dtype=float))
    degree = math.pi * band_edge(bounds, activation, ridge)  # (L,) the band M
    out = np.full((len(bounds), len(freqs)), np.nan)
    if np.isnan(degree).all():
        return out
    for j, k in enumerate(freqs):
        z = math.pi * k
        # The spectrum ends near degree z: J_ν(z) decays faster than geometrically once ν > z.
        n = np.arange(1, int(z + 30 * z ** (1 / 3) + 60), 2)
        share = legendre_energy(k, n)
        # tail[i] = energy in degrees ≥ n[i], summed from the small end for accuracy
        tail = np.cumsum(share[::-1])[::-1]
        first_out = np.searchsorted(n, degree, side="right")  # first degree > M
        out[:, j] = np.sqrt(np.append(tail, 0.0)[first_out])
    return out


def unit_draw(seeds, width: int, law: str, device, dtype=F64) -> torch.Tensor:
    """The standardised hidden parameters ``u = (u_a, u_b)`` of each seed, ``(S, 2, N)``.

    The first N' columns of a draw are the draw at width N' (nested widths), and a = λ u_a,
    b = λ u_b for every λ (common random numbers across the heat map's rows).
    """
    out = []
    for seed in seeds:
        g = torch_generator(seed, device, STREAM_WEIGHTS)
        # Drawn unit by unit, (N, 2), from uniforms only (inverse CDFs), so on the CPU a wider
        # net keeps the narrower one's units.
        v = torch.rand(width, 2, generator=g, device=device, dtype=dtype).clamp(1e-12, 1 - 1e-12)
        if law == "uniform":
            u = v * 2 - 1
        elif law == "gaussian":
            u = torch.special.ndtri(v)
        elif law == "cauchy":
            u = torch.tan(math.pi * (v - 0.5))
        else:
            raise ValueError(f"unknown weight law {law!r}")
        out.append(u.T)
    return torch.stack(out)


def train_points(seeds, n: int, device, dtype=F64) -> torch.Tensor:
    """Training inputs of each seed, uniform on [-1, 1], ``(S, n)``."""
    return torch.stack([torch.rand(n, generator=torch_generator(s, device, STREAM_X), device=device,
                                   dtype=dtype) * 2 - 1 for s in seeds])


def test_points(device, n: int = N_TEST, dtype=F64) -> torch.Tensor:
    """The fixed evaluation grid on [-1, 1], ``(T,)``."""
    return torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype)


def target(x: torch.Tensor, freqs) -> torch.Tensor:
    """``sin(kπx)`` for every k: ``x (..., n)`` -> ``(..., n, K)``."""
    k = torch.as_tensor(np.asarray(freqs, dtype=float), device=x.device, dtype=x.dtype)
    return torch.sin(math.pi * x[..., None] * k)


def features(x: torch.Tensor, u: torch.Tensor, bounds: torch.Tensor, sigma) -> torch.Tensor:
    """Hidden layer ``σ(a x − b)`` with ``a = λ u_a, b = λ u_b``.

    ``x (S, n)``, ``u (S, 2, N)``, ``bounds (B,)`` -> ``H (S, B, n, N)``.
    """
    z = x[:, :, None] * u[:, None, 0, :] - u[:, None, 1, :]  # (S, n, N) = (a x − b) / λ
    return sigma(bounds[None, :, None, None] * z[:, None])


def ridge_solve(H: torch.Tensor, Y: torch.Tensor, ridge: float) -> torch.Tensor:
    """Readout ``C = argmin ‖H C − Y‖² + ρ² ‖H‖_F² ‖C‖²`` for a batch.

    ``H (B, n, N)``, ``Y (B, n, K)`` -> ``C (B, N, K)``. A Householder QR of the stacked matrix
    (``[H; s I]``, or ``[Hᵀ; s I]`` when N > n, s = ρ‖H‖_F) keeps float64 accuracy down to
    ρ ~ 1e-14 (the normal equations would square the condition number).
    """
    B, n, N = H.shape
    s = ridge * torch.linalg.matrix_norm(H)  # (B,) ‖H‖_F
    if N <= n:
        # Primal: min ‖[H; sI] c − [y; 0]‖, R c = (Qᵀ [y; 0])[:N].
        eye = torch.eye(N, device=H.device, dtype=H.dtype)
        A = torch.cat([H, s[:, None, None] * eye], dim=1)  # (B, n + N, N)
        qa, tau = torch.geqrf(A)
        rhs = torch.cat([Y, Y.new_zeros(B, N, Y.shape[-1])], dim=1)
        QtY = torch.ormqr(qa, tau, rhs, transpose=True)[:, :N]
        return torch.linalg.solve_triangular(qa[:, :N].triu(), QtY, upper=True)
    # Dual: C = Hᵀ (H Hᵀ + s² I)⁻¹ Y. With [Hᵀ; sI] = Q R, Hᵀ R⁻¹ = Q[:N], so C = Q[:N] R⁻ᵀ Y.
    eye = torch.eye(n, device=H.device, dtype=H.dtype)
    A = torch.cat([H.mT, s[:, None, None] * eye], dim=1)  # (B, N + n, n)
    qa, tau = torch.geqrf(A)
    W = torch.linalg.solve_triangular(qa[:, :n].triu().mT, Y, upper=False)  # R⁻ᵀ Y, (B, n, K)
    padded = torch.cat([W, W.new_zeros(B, N, W.shape[-1])], dim=1)
    return torch.ormqr(qa, tau, padded, transpose=False)[:, :N]


def relative_error(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``‖pred − truth‖ / ‖truth‖`` over the points axis (-2): ``(..., T, K)`` -> ``(..., K)``."""
    return torch.linalg.vector_norm(pred - truth, dim=-2) / torch.linalg.vector_norm(truth, dim=-2)


@dataclass
class Problem:
    """Everything of one configuration that does not depend on λ: points, draws, targets."""

    x: torch.Tensor  # (S, n) training inputs
    x_test: torch.Tensor  # (T,)
    u: torch.Tensor  # (S, 2, N) standardised hidden parameters
    sigma: object
    ridge: float

    def errors(self, bounds, freqs, width: int | None = None, return_fit: bool = False):
        """Relative test errors ``(S, B, K)`` at ``bounds (B,)`` and ``freqs (K,)``: one batched
        solve with all S x B (seed, λ) pairs as batch entries and the K targets as right-hand
        sides. ``width`` uses the first N' hidden units; ``return_fit`` also gives the test
        predictions ``(S, B, T, K)``."""
        u = self.u if width is None else self.u[..., :width]
        S, N = u.shape[0], u.shape[-1]
        lam = torch.as_tensor(np.asarray(bounds, dtype=float), device=self.x.device, dtype=self.x.dtype)
        B = lam.shape[0]
        H = features(self.x, u, lam, self.sigma).reshape(S * B, -1, N)  # (S B, n, N)
        Y = target(self.x, freqs)  # (S, n, K)
        Y = Y[:, None].expand(S, B, *Y.shape[1:]).reshape(S * B, *Y.shape[1:])
        C = ridge_solve(H, Y, self.ridge)  # (S B, N, K)
        del H
        H_test = features(self.x_test.expand(S, -1), u, lam, self.sigma).reshape(S * B, -1, N)
        pred = (H_test @ C).view(S, B, -1, C.shape[-1])  # (S, B, T, K)
        err = relative_error(pred, target(self.x_test, freqs))
        return (err, pred) if return_fit else err


    def ridge_errors(self, bound: float, freqs, ridges) -> torch.Tensor:
        """Relative test errors ``(S, R, K)`` at one ``bound`` for every ridge ρ of ``ridges (R,)``.

        One SVD ``H = U diag(s) Vᵀ`` serves every ρ: ``C = V diag(s / (s² + ρ²‖H‖_F²)) Uᵀ Y``, the
        same Tikhonov readout ``ridge_solve`` computes by QR (backward stable in float64 too)."""
        lam = torch.tensor([float(bound)], device=self.x.device, dtype=self.x.dtype)
        H = features(self.x, self.u, lam, self.sigma)[:, 0]  # (S, n, N)
        U, s, Vh = torch.linalg.svd(H, full_matrices=False)  # s (S, r), r = min(n, N)
        UtY = U.mT @ target(self.x, freqs)  # (S, r, K)
        rho = torch.as_tensor(np.asarray(ridges, dtype=float), device=H.device, dtype=H.dtype)
        alpha = rho[None, :, None] ** 2 * (s**2).sum(-1)[:, None, None]  # (S, R, 1): ρ² ‖H‖_F²
        filt = s[:, None, :] / (s[:, None, :] ** 2 + alpha)  # (S, R, r)
        C = Vh.mT[:, None] @ (filt[..., None] * UtY[:, None])  # (S, R, N, K)
        del H, U
        H_test = features(self.x_test.expand(self.u.shape[0], -1), self.u, lam, self.sigma)[:, 0]
        pred = H_test[:, None] @ C  # (S, R, T, K)
        return relative_error(pred, target(self.x_test, freqs))


def make_problem(seeds, *, width: int, n_train: int, law: str, activation: str, ridge: float,
                 device="cpu") -> Problem:
    """The λ-independent part of a configuration, for one or several seeds."""
    device = torch.device(device)
    return Problem(x=train_points(seeds, n_train, device), x_test=test_points(device),
                   u=unit_draw(seeds, width, law, device), sigma=activation_fn(activation),
                   ridge=float(ridge))


def error_grid(bounds, freqs, *, seeds=(0,), width: int = 400, n_train: int = 600,
               law: str = "uniform", activation: str = "tanh", ridge: float = 1e-10,
               device="cpu", chunk: int = 8) -> np.ndarray:
    """Relative test errors ``(S, L, K)`` over seeds, weight bounds and frequencies, batched
    over (seed, λ) in chunks of ``chunk`` bounds (claim tests, benchmarks, sweeps)."""
    problem = make_problem(list(seeds), width=width, n_train=n_train, law=law,
                           activation=activation, ridge=ridge, device=device)
    bounds = np.asarray(bounds, dtype=float)
    parts = [to_host(problem.errors(bounds[i:i + chunk], freqs)) for i in range(0, len(bounds), chunk)]
    return np.concatenate(parts, axis=1)


def smoothed_argmin(log_err: np.ndarray, bounds: np.ndarray, feasible: float | None = None) -> np.ndarray:
    """λ of least error per column after a 3-point moving average along λ (rows), ``(K,)``.

    The valley's floor is flat to within grid noise (errors ~1e-9 over several λ); smoothing
    picks its centre rather than a noise minimum. With ``feasible``, a column whose smoothed
    minimum stays above that relative error (nothing fits) gets NaN.
    """
    padded = np.pad(log_err, ((1, 1), (0, 0)), mode="edge")
    smooth = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    best = np.asarray(bounds, dtype=float)[np.argmin(smooth, axis=0)]
    if feasible is not None:
        best[smooth.min(axis=0) > math.log10(feasible)] = np.nan
    return best


def widths_for(width: int) -> np.ndarray:
    """The width sweep: 25, 50, 100, ... doubling, then ``width`` itself."""
    w = [MIN_WIDTH]
    while w[-1] * 2 < width:
        w.append(w[-1] * 2)
    if w[-1] != width:
        w.append(int(width))
    return np.array(w, dtype=int)


# --------------------------------------------------------------------------------------------
# The run


def _notice(params: Params, device_note: str) -> str:
    notes = [device_note] if device_note else []
    if params.activation == "relu":
        notes.append("ReLU is positively homogeneous: λ only rescales its features, so there is "
                     "no band edge (the map is flat in λ)")
    elif params.weight_law != "uniform":
        notes.append(f"the {params.weight_law} law is not bandlimited: the dashed band edge (and the "
                     "energy outside it) is that of U[-λ, λ] with the same λ")
    return "; ".join(notes)


def _rows_that_fit(params: Params, device: torch.device) -> int:
    """Heat-map rows per batched solve that fit the device's memory limit, at most MAX_CHUNK.
    A row holds the stacked ``[H; s I]`` ((n + N) x N), H (n x N) and the test features (T x N)."""
    n, N = params.n_train, params.width
    row_bytes = 8 * N * ((n + N) + n + N_TEST)  # float64
    check_fits(row_bytes, device, f"one heat-map row at n_train={n}, width={N}", "lower n_train or width")
    return max(1, min(MAX_CHUNK, memory_limit(device) // row_bytes))


def run(params: Params) -> Iterator[BandlimitedFrame]:
    """Fit the current cell, refit it at every ridge, sweep the width there, then fill the (λ, k)
    heat map row by row."""
    # Ridges down to ρ = 1e-14 need float64: a device without it runs on the CPU.
    device, device_note = resolve_device_for(params.device, F64)
    problem = make_problem([params.seed], width=params.width, n_train=params.n_train,
                           law=params.weight_law, activation=params.activation,
                           ridge=params.ridge, device=device)
    notice = _notice(params, device_note)
    lam, k = float(params.weight_bound), float(params.frequency)
    bounds = log_grid(*BOUND_RANGE, params.n_bounds)
    freqs = log_grid(*FREQ_RANGE, params.n_freqs)
    widths = widths_for(params.width)
    width_freqs = np.array(WIDTH_FACTORS) * k
    ridges = np.array(Params.param.ridge.objects, dtype=float)
    L, K, W = len(bounds), len(freqs), len(widths)
    total = 2 + W + L
    hint = (f"the ridge fit overflowed (ridge={params.ridge:g}, weight_bound={lam:g}); "
            "raise ridge")

    grid = np.full((L, K), np.nan)
    slice_err = np.full(L, np.nan)
    width_err = np.full((W, len(width_freqs)), np.nan)
    edge = band_edge(bounds, params.activation, params.ridge)
    # The paper's quantity (the lab's reading): closed form, no fitting, so known from the start.
    outside = out_of_band([k], bounds, params.activation, params.ridge)[:, 0]
    outside_by_ridge = np.array([out_of_band([k], [lam], params.activation, r)[0, 0] for r in ridges])
    ridge_err = np.full(len(ridges), np.nan)
    state = {"step": 0, "rows": 0, "best": np.full(K, np.nan)}

    # The current cell first: its fit is the first thing on screen.
    err, pred = problem.errors([lam], [k], return_fit=True)
    rel_error = float(err[0, 0, 0])
    check_finite(rel_error, step=0, what="the relative error of the fit", hint=hint)
    x_test = to_host(problem.x_test)
    truth = to_host(target(problem.x_test, [k])[:, 0])
    fit = to_host(pred[0, 0, :, 0])
    state["step"] = 1

    def frame(metrics=None):
        return BandlimitedFrame(
            step=state["step"], total_steps=total, metrics=metrics, weight_bound=lam, frequency=k,
            width=int(params.width), activation=params.activation, weight_law=params.weight_law,
            ridge=float(params.ridge), notice=notice, rel_error=rel_error, x_test=x_test,
            target=truth, fit=fit, bounds=bounds, freqs=freqs, rel_error_grid=grid.copy(),
            rows_done=state["rows"], slice_error=slice_err.copy(), band_edge=edge,
            best_bound=state["best"], widths=widths, width_freqs=width_freqs,
            width_error=width_err.copy(), out_of_band=outside, ridges=ridges,
            ridge_error=ridge_err.copy(), ridge_out_of_band=outside_by_ridge,
        )

    yield frame()
    pace = Pacer(max_chunk=_rows_that_fit(params, problem.x.device))

    # How the floor moves with the ridge: this cell refitted at every ρ of the menu (one SVD).
    ridge_err[:] = to_host(problem.ridge_errors(lam, [k], ridges)[0, :, 0])
    check_finite(ridge_err, step=state["step"], what="the ridge sweep", hint=hint)
    state["step"] += 1
    if pace.due():
        yield frame()

    # Width sweep at this λ: nested prefixes of the same draw, k/2, k and 2k as right-hand sides.
    for w, N in enumerate(widths):
        width_err[w] = to_host(problem.errors([lam], width_freqs, width=int(N))[0, 0])
        check_finite(width_err[w], step=state["step"], what=f"the error at width {N}", hint=hint)
        state["step"] += 1
        if pace.due():
            yield frame()

    # The heat map, bottom-up in chunks of rows sized by the pacer (one batched solve each). The
    # current frequency rides along as one more right-hand side (the slice plot), for free.
    columns = np.append(freqs, k)
    i = 0
    for n_rows in pace.chunks(L):
        rows = slice(i, i + n_rows)
        err = to_host(problem.errors(bounds[rows], columns)[0])  # (rows, K + 1)
        check_finite(err, step=state["step"], what=f"the heat map at λ = {bounds[rows][0]:.3g}",
                     hint=hint)
        grid[rows], slice_err[rows] = err[:, :K], err[:, K]
        i = rows.stop
        state["rows"] = i
        state["step"] += n_rows
        if i < L:
            pace.chunk_done()  # a frame after every chunk: its drawing is not the chunk's time
            yield frame()
    log_err = np.log10(np.maximum(grid, FLOOR))
    state["best"] = smoothed_argmin(log_err, bounds, feasible=FEASIBLE)

    j = int(np.nanargmin(slice_err))
    edge_here = band_edge([lam], params.activation, params.ridge)[0]
    outside_here = out_of_band([k], [lam], params.activation, params.ridge)[0, 0]
    # The whole grid's worst case of the bound reading: > 0 where the energy outside the band
    # exceeds the error reached (NaN without a band).
    with np.errstate(divide="ignore"):
        excess = np.log10(out_of_band(freqs, bounds, params.activation, params.ridge)) - log_err
    worst_excess = float(np.nanmax(excess)) if np.isfinite(excess).any() else None
    metrics = {
        "rel_error": rel_error,
        "best_bound": float(bounds[j]),
        "min_rel_error": float(slice_err[j]),
        "band_edge": None if np.isnan(edge_here) else float(edge_here),
        # the target's relative energy beyond the band at this cell (None without a band: ReLU)
        "out_of_band": None if np.isnan(outside_here) else float(outside_here),
        "out_of_band_excess": worst_excess,  # largest log10(energy outside / error) on the map
        "rel_error_by_ridge": {f"{r:g}": float(e) for r, e in zip(ridges, ridge_err)},
        # the width sweep at this k (middle column: k/2, k, 2k)
        "rel_error_by_width": {str(int(N)): float(e) for N, e in zip(widths, width_err[:, 1])},
    }
    yield frame(metrics)


__all__ = ["PAPER", "Params", "BandlimitedFrame", "run", "activation_fn", "band_edge", "error_grid",
           "features", "legendre_energy", "log_grid", "make_problem", "out_of_band", "relative_error", "ridge_solve",
           "smoothed_argmin", "target", "test_points", "train_points", "unit_draw", "widths_for"]

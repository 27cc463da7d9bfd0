"""Variance Reduced Halpern Iteration for Finite-Sum Monotone Inclusions.

Cai, Alacaoglu, Diakonikolas; ICLR 2024; arXiv:2310.02987.

Claim: for a finite sum ``F = (1/n) Σ_i F_i`` of monotone, on-average L-Lipschitz operators,
Halpern iteration with variance reduction reaches an operator residual ``‖F(u)‖ ≤ ε`` with
``Õ(n + √n L / ε)`` oracle calls, up to √n fewer than deterministic methods (``O(n L / ε)``).

The claims (``paperscope/claims/vr_halpern.py``) are checked on the spec's finite-sum bilinear
game, every method's step constant tuned on the same relative grid on separate tuning seeds
(:func:`trace` runs one method at a batch of steps). The √n claim is shown as the paper states
it: oracle calls to reach ε against n on log-log axes, VR-Halpern against EAG. Some of the
spec's margins do not reproduce on every seed, or not once EG's step is tuned too (declared
known to fail). What the claims measured: ``paperscope verify vr-halpern``, recorded in
``paperscope/claims/recorded/vr_halpern.json``.

Key equations (``u = (x, y)``, one oracle call = one ``F_i`` evaluation, a pass = n calls):

* Halpern: ``u_{k+1} = λ_k u_0 + (1 - λ_k) T(u_k)``, ``λ_k = 1/(k+2)``, T nonexpansive, with
  ``‖u_k - T u_k‖ ≤ 2‖u_0 - u*‖/(k+1)``. With ``T = J_{ηF} = (I + ηF)^{-1}`` the residual is
  ``‖F(J_{ηF} u)‖ = ‖u - J_{ηF} u‖ / η``: an O(1/k) last-iterate certificate;
* VR-Halpern (the paper's Alg. 2, monotone Lipschitz case): the inexact Halpern iteration
  ``u_{k+1} = λ_k u_0 + (1 - λ_k) ṽ_k`` where ``ṽ_k ≈ J_{ηF}(u_k)`` solves the 1-strongly
  monotone finite sum ``G_k(v) = v - u_k + η F(v) = (1/n) Σ_i [v - u_k + η F_i(v)]`` with a
  large resolvent step ``η = c √n / L̂`` (``L̂² = (1/n) Σ_i ‖F_i‖²_Lip``);
* its inner solver here is the loopless variance-reduced extragradient (Alacaoglu & Malitsky
  2022), warm-started at ``ṽ_{k-1}``, ``m_k = a n (1 + ln(k+2))`` iterations (a = ``inner_epochs``):
  ``p = 1/n``, ``α = 1 - p``, ``τ = 0.99 √p / L_G``, ``L_G = √(1 + η² L̂²)``;
  ``v̄ = α v + (1-α) w``; ``v_½ = v̄ - τ G(w)``; draw i; ``v ← v̄ - τ [G(w) + G_i(v_½) - G_i(w)]``;
  with probability p: ``w ← v`` and a full pass recomputes ``F(w)``;
* baselines. ``halpern``: EAG (extra-anchored gradient, Yoon & Ryu 2021), the deterministic
  Halpern-type method with the optimal O(1/k) last-iterate rate of ``‖F(u_k)‖``:
  ``ū_k = u_k + β_k (u_0 - u_k)``, ``u_{k+½} = ū_k - η F(u_k)``, ``u_{k+1} = ū_k - η F(u_{k+½})``,
  ``β_k = 1/(k+2)``, ``η = 1/(8L)``, 2n calls per step. ``eg``: extragradient,
  ``η = 1/(2L)`` (last iterate O(1/√k) for monotone problems). ``vr_eg``: the same loopless VR
  extragradient as the inner solver, run on F itself (``τ = 0.99 √p / L̂``). These are the
  theory's steps and the app's defaults (``eg_step``, ``eag_step``, ``vr_eg_step`` change them);
  the spec's warning that EAG diverges above ``η = 1/(8L)`` does not hold on this bilinear game:
  it converges, and faster, with steps several times larger (the tuned step the T-eag claim
  reports).

The problem (the spec's faithful CPU experiment): ``min_x max_y (1/n) Σ_i [x^T B_i y + a^T x -
c^T y]``, ``x, y ∈ R^d``, ``B̄ = U diag(s) W^T`` with s geometric in ``[s_min, 1]`` (so L = 1),
``B_i = B̄ + E_i``, ``E_i`` with N(0, h²/d) entries and ``Σ_i E_i = 0``;
``F_i(u) = M_i u + q`` with the skew ``M_i = [[0, B_i], [-B_i^T, 0]]``; the solution
``u* ~ N(0, I)`` is drawn and ``q = -M̄ u*``; ``u_0 = 0``. Component offsets ``q_i`` are not drawn:
every estimator used here takes differences ``F_i(v) - F_i(w)``, in which they cancel.

Audit of the spec's [unverified] items (the paper's full text was not available offline; its
abstract, arXiv listing and review summaries were):

* authors: confirmed Cai, Alacaoglu, Diakonikolas (arXiv listing and ar5iv title page), ICLR 2024;
* the two algorithms: confirmed that Alg. 1 (cocoercive) puts recursive variance reduction into
  a one-step Halpern iteration and that Alg. 2 (monotone Lipschitz) is an inexact Halpern
  iteration whose resolvent is approximated by VR-FoRB, with ``Õ(n + √n L/ε)`` calls;
* NOT checked: the inner accuracy schedule and constants of Alg. 2, the exact update of Alg. 1,
  and which deterministic baselines the paper's figures use. The inner solver here is the
  spec's loopless VR extragradient (also linearly convergent on the strongly monotone inner
  problems), not VR-FoRB, with the spec's ``m_k``; Alg. 1 (cocoercive) is not implemented,
  since the bilinear game is monotone but not cocoercive;
* naming: the issue's ``halpern`` is the deterministic Halpern-type baseline, EAG as in the spec
  (the anchored extragradient is the standard "Halpern" method for Lipschitz monotone
  operators). Whether the paper's own plots label EAG so could not be checked.

Measurements and accounting: every ``F_i`` call is counted (a full pass = n; the VR snapshot
refresh is random, so oracle counts differ per seed). Residual measurements ``‖F(·)‖`` are not
counted. The residual plotted is at the certificate point: ``u_k`` for EG / EAG, the iterate
for VR-EG, ``ṽ_k`` (the resolvent approximation, once per outer step) for VR-Halpern; the value
shown at a budget is the last certificate each method produced within that budget.

Computation: ``repeats`` seeds (seed, seed + 1, ...) run side by side as lanes of batched
tensors (a leading dimension R); to tune, :func:`trace` also lays G step sizes side by side
(``Problem.tile``: G R lanes, each step seeing the same games and random draws). EG and EAG
lanes share one loop. The loopless VR extragradient
is one class, :class:`LooplessVREG`, run on F (VR-EG) and on ``G_k`` inside :class:`VRHalpern`
(Alg. 2 in the paper's symbols); each iteration is ~9 tiny tensor ops on ``(R, 2d)`` states.
Float64 throughout: the VR loops run tens of thousands of small sequential steps, and the ops
are latency-bound, not arithmetic-bound, so double precision costs nothing here.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch

from paperscope.core.device import check_fits, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="vr-halpern",
    title="Variance-reduced Halpern iteration on a finite-sum game",
    paper_title="Variance Reduced Halpern Iteration for Finite-Sum Monotone Inclusions",
    authors="Cai, Alacaoglu, Diakonikolas",
    venue="ICLR 2024",
    arxiv="2310.02987",
    claim=("Halpern iteration with variance reduction drives the operator residual ‖F(u)‖ below ε "
           "with Õ(n + √n L/ε) oracle calls: up to √n fewer than deterministic methods."),
    equations=(
        r"u_{k+1} = \lambda_k u_0 + (1 - \lambda_k) \, T(u_k),\quad \lambda_k = \frac{1}{k + 2}",
        r"\|F(J_{\eta F} u)\| = \|u - J_{\eta F} u\| / \eta,\quad J_{\eta F} = (I + \eta F)^{-1}",
        r"\tilde O\big(n + \sqrt n \, L / \varepsilon\big) \text{ oracle calls, against } O(n L / \varepsilon)",
    ),
    topics=("optimization", "variance reduction", "min-max"),
    checked=("Authors and the structure of Algs. 1-2 are confirmed from the abstract, arXiv listing and "
             "reviews; Alg. 2's inner accuracy schedule and constants are not checked, and its inner "
             "solver here is the spec's loopless VR extragradient, not VR-FoRB."),
)

METHODS = ("eg", "halpern", "vr_eg", "vr_halpern")
METHOD_LABELS = {"eg": "EG", "halpern": "Halpern (EAG)", "vr_eg": "VR-EG", "vr_halpern": "VR-Halpern"}

# Seed streams (each repeat r uses seed + r): the problem, and each stochastic method's draws.
STREAM_PROBLEM, STREAM_VR_EG, STREAM_VR_HALPERN = 0, 1, 2

DTYPE = torch.float64
RNG_BLOCK = 4096  # random indices / coins are drawn in fixed blocks: results never depend on timing
PASS_UNITS = 1000  # the loops advance in whole thousandths of the run's passes
N_GRID_LOG, N_GRID_LIN = 120, 150  # display grid over [0, passes]: log-spaced plus linear points
N_RECORD_LOG, N_RECORD_LIN = 80, 200  # VR-EG residual records: log-spaced plus linear
MAX_ELEMENTS = 2e7  # repeats * n * (2d)^2 component matrices kept (float64: 160 MB)
EG_FACTOR, EAG_FACTOR = 0.5, 0.125  # η = 1/(2L) for EG, 1/(8L) for EAG (the theory's steps)
TAU_FACTOR = 0.99  # τ = 0.99 √p / L of the loopless VR extragradient


class Params(LabParams):
    """Hyperparameters of the VR-Halpern lab (defaults: the spec's faithful CPU experiment)."""

    method = param.Selector(
        default="vr_halpern", objects=list(METHODS),
        doc=("The method the headline metrics (residual, oracle_calls) report and the plots "
             "highlight; every method runs. eg: extragradient. halpern: the deterministic "
             "Halpern-type baseline EAG (extra-anchored gradient). vr_eg: loopless "
             "variance-reduced extragradient. vr_halpern: the paper's inexact Halpern iteration "
             "with a variance-reduced resolvent solver"),
    )
    n = param.Integer(
        100, bounds=(2, 4000), softbounds=(10, 1000),
        doc="n, the number of component operators F_i (the VR advantage grows like √n)",
    )
    passes = param.Number(
        200.0, bounds=(1, 20000), softbounds=(20, 1000),
        doc="Oracle budget in passes (epochs): each method may spend passes × n calls of F_i",
    )
    step = param.Number(
        4.0, bounds=(0.01, 100), softbounds=(0.25, 8),
        doc=("c, VR-Halpern's resolvent step η = c √n / L̂. Too small: many outer steps, "
             "no gain over VR-EG; too large: each inner solve costs more. The other methods' "
             "steps: eg_step, eag_step, vr_eg_step"),
    )
    eg_step = param.Number(
        EG_FACTOR, bounds=(0.001, 4), softbounds=(0.05, 1),
        doc=("EG's step η·L (η = eg_step / L). Default: the theory's 1/2; EG needs η < 1/L, "
             "and the claims tune it on the same grid as every other method's step"),
    )
    eag_step = param.Number(
        EAG_FACTOR, bounds=(0.001, 4), softbounds=(0.02, 1),
        doc=("EAG's (Halpern's) step η·L (η = eag_step / L). Default: the theory's 1/8; on this "
             "bilinear game larger steps up to about 1 also converge, and faster"),
    )
    vr_eg_step = param.Number(
        TAU_FACTOR, bounds=(0.001, 8), softbounds=(0.1, 2),
        doc="VR-EG's step factor: τ = vr_eg_step · √p / L̂ (default: the theory's 0.99)",
    )
    epsilon = param.Number(
        0.1, bounds=(1e-8, 100), softbounds=(1e-3, 1),
        doc=("ε, the target residual: each method's oracle calls to reach ‖F‖ ≤ ε (at the "
             "budget or before) are compared over n (the paper's Õ(√n) against O(n))"),
    )
    inner_epochs = param.Number(
        2.0, bounds=(0.01, 50), softbounds=(0.5, 5),
        doc=("a, VR-Halpern's inner iterations per outer step, m_k = a n (1 + ln(k+2)) "
             "(each inner iteration costs 2 calls plus a full pass with probability 1/n): "
             "inexactness against cost"),
    )
    s_min = param.Number(
        1e-2, bounds=(1e-6, 1), softbounds=(1e-3, 1),
        doc=("Smallest singular value of the mean coupling B̄ (the largest is 1). Small: the "
             "sublinear O(1/k) regime; near 1: every method converges linearly"),
    )
    heterogeneity = param.Number(
        1.0, bounds=(0, 10), softbounds=(0, 3),
        doc=("h, the spread of the components B_i = B̄ + E_i (E_i entries N(0, h²/d), Σ E_i = 0): "
             "sets L̂/L, what the VR methods pay for"),
    )
    dim = param.Integer(20, bounds=(1, 100), softbounds=(5, 50), doc="d, the size of x and of y")
    repeats = param.Integer(
        3, bounds=(1, 16), softbounds=(1, 8),
        doc=("Seeds seed, seed+1, ... run side by side as one batch (a new problem and new "
             "random draws each); curves show their geometric mean"),
    )

    # Measured on a 2-core CPU, 1 thread (CPU time): quick ~0.15 s, default ~0.4 s (n = 400: ~1.3 s),
    # first frame < 0.05 s (n = 1000: 0.15 s, drawing the components).
    QUICK: ClassVar[dict] = {"n": 50, "passes": 100.0, "repeats": 2}
    LOG_SCALE: ClassVar[tuple] = ("epsilon",)


@dataclass(frozen=True, kw_only=True)
class HalpernFrame(Frame):
    """A complete snapshot of the four methods run side by side (histories included).

    ``step`` counts oracle calls of the slowest method (``total_steps`` = passes × n).
    ``residual[g, m]`` is the geometric mean over the repeats of method m's last certificate
    ``‖F‖`` produced within ``epochs[g]`` passes (NaN where a method has not got there yet);
    ``final`` / ``final_calls`` (M, R) are each seed's certificate at the budget and the calls
    it took. ``paths()[m]`` (T_m, 2): seed 0's certificate points minus u*, projected on the
    singular pair of B̄ with value ``plane_s`` (x part on u_j, y part on w_j), stored
    concatenated in ``trajectory`` (plain arrays, so frames compare cheaply). ``metrics`` (last
    frame): residual (geometric mean over the repeats, as the curves) and oracle_calls (mean)
    of the selected method, budget_calls, and by_method (the same per method, with the
    log-log slope, the per-seed residuals and calls_to_epsilon: the geometric mean over the
    seeds of the calls to reach ε, NaN if a seed did not within the budget).
    """

    method: str
    methods: tuple[str, ...]
    n: int
    passes: float
    c: float
    setting: str  # every knob but n, method and seed: runs with equal settings are compared over n
    plane_s: float  # singular value of the pair the trajectory is projected on
    L: float  # Lipschitz constant of the mean operator, seed 0
    L_hat: float  # mean-square component Lipschitz constant, seed 0
    epochs: np.ndarray  # (G,) display grid in passes
    residual: np.ndarray  # (G, M)
    passes_done: np.ndarray  # (M,) passes done per method (slowest seed)
    final: np.ndarray  # (M, R)
    final_calls: np.ndarray  # (M, R)
    slope: np.ndarray  # (M,) log-log slope of residual vs calls over the last 3/4 of the budget
    epsilon: float  # the target residual
    calls_to_epsilon: np.ndarray  # (M, R) calls at each seed's first ‖F‖ ≤ ε within the budget (inf: not yet)
    trajectory: np.ndarray  # (Σ T_m, 2) every method's path, one after the other
    trajectory_start: np.ndarray  # (M + 1,) method m's points are rows start[m]:start[m+1]
    notice: str = ""

    def paths(self) -> list[np.ndarray]:
        """Each method's projected path, (T_m, 2)."""
        s = self.trajectory_start
        return [self.trajectory[s[m]:s[m + 1]] for m in range(len(s) - 1)]


# --------------------------------------------------------------------------------------------
# The finite-sum bilinear game


@dataclass(eq=False)
class Problem:
    """R independent finite-sum bilinear games side by side (one per repeat).

    ``F_i(u) = M_i u + q`` with skew ``M_i``; ``F(u) = M̄ u + q``; ``F(u*) = 0``.
    """

    M: torch.Tensor  # (R, n, D, D) component operators M_i, D = 2d
    Mbar: torch.Tensor  # (R, D, D) their mean (exact for this linear finite sum)
    q: torch.Tensor  # (R, D)
    u_star: torch.Tensor  # (R, D)
    L: torch.Tensor  # (R,) ‖M̄‖
    L_hat: torch.Tensor  # (R,) sqrt((1/n) Σ ‖M_i‖²)
    slow: torch.Tensor  # (R, 2, D) unit directions of the plotted singular pair (x part, y part)
    repeat: tuple[int, ...] = ()  # the repeat (seed offset) of each lane; () when lane r is repeat r

    @property
    def R(self) -> int:
        return self.M.shape[0]

    @property
    def repeats(self) -> list[int]:
        """The seed offset of each lane: its problem is seed + offset's, and so are its draws."""
        return list(self.repeat) or list(range(self.R))

    def tile(self, G: int) -> "Problem":
        """G copies of the R games as ``G R`` lanes (lane ``g R + r`` is game r): one batched run
        then tries G step sizes on every game, each copy drawing the same random numbers."""
        lanes = torch.arange(G * self.R, device=self.M.device) % self.R
        return Problem(M=self.M[lanes], Mbar=self.Mbar[lanes], q=self.q[lanes], u_star=self.u_star[lanes],
                       L=self.L[lanes], L_hat=self.L_hat[lanes], slow=self.slow[lanes],
                       repeat=tuple(self.repeats[r] for r in lanes.tolist()))

    def F(self, u: torch.Tensor) -> torch.Tensor:
        """The mean operator of every problem at ``u (R, D)``."""
        return matvec(self.Mbar, u) + self.q

    @property
    def n(self) -> int:
        return self.M.shape[1]

    def lane_operator(self, lanes: torch.Tensor) -> "LaneOperator":
        """The mean operator of problem ``lanes[l]`` for each lane l (gathered once per loop)."""
        return LaneOperator(self.Mbar[lanes], self.q[lanes])

    def F_components(self, u: torch.Tensor) -> torch.Tensor:
        """Every ``F_i(u)`` for ``u (R, D)``: ``(R, n, D)`` (one batched product)."""
        return torch.einsum("rnij,rj->rni", self.M, u) + self.q[:, None, :]


@dataclass(eq=False)
class LaneOperator:
    """``F(u) = M̄ u + q`` for a batch of lanes, each with its own problem; slice to subsets.

    Products are broadcast multiply-and-sum, not matmul: on these (lanes, 2d) sizes the ops
    are latency-bound, and BLAS threads made them 10-100x slower on 2 busy cores.
    """

    Mbar: torch.Tensor  # (L, D, D)
    q: torch.Tensor  # (L, D)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return (self.Mbar * u.unsqueeze(-2)).sum(-1) + self.q

    def __getitem__(self, sl: slice) -> "LaneOperator":
        return LaneOperator(self.Mbar[sl], self.q[sl])


def matvec(M: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``M v`` batched over leading dims, without BLAS (see :class:`LaneOperator`)."""
    return (M * v.unsqueeze(-2)).sum(-1)


def skew(B: torch.Tensor) -> torch.Tensor:
    """``[[0, B], [-B^T, 0]]`` over the last two dims: the game's operator ``(x, y) ↦ (By, -B^T x)``."""
    d1, d2 = B.shape[-2], B.shape[-1]
    M = B.new_zeros(*B.shape[:-2], d1 + d2, d1 + d2)
    M[..., :d1, d1:] = B
    M[..., d1:, :d1] = -B.transpose(-1, -2)
    return M


def make_problem(seed: int, R: int, n: int, d: int, s_min: float, h: float, device) -> Problem:
    """R games for seeds ``seed .. seed + R - 1`` (repeat r is the same game whatever R is)."""
    # Against this lab's own cap (MAX_ELEMENTS), not the device's default limit.
    check_fits(8 * R * n * (2 * d) ** 2, device,
               f"storing repeats × n × (2·dim)² = {R * n * 4 * d * d:.3g} float64 component-matrix entries",
               "lower n, dim or repeats", limit=8 * MAX_ELEMENTS)
    Ms, Bs, qs, us, slows = [], [], [], [], []
    s = torch.logspace(0.0, math.log10(s_min), d, dtype=DTYPE, device=device)  # 1 ... s_min
    j = plane_index(d, s_min)
    for r in range(R):  # set-up only, so every repeat's draws are independent of R
        g = torch_generator(min(seed + r, 2**31 - 1), device, STREAM_PROBLEM)
        U, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DTYPE, device=device))
        W, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DTYPE, device=device))
        Bbar = (U * s) @ W.T  # (d, d) = U diag(s) W^T
        # u* before the components: a seed's mean game (B̄, q) is the same at every n.
        u_star = torch.randn(2 * d, generator=g, dtype=DTYPE, device=device)
        E = torch.randn(n, d, d, generator=g, dtype=DTYPE, device=device) * (h / math.sqrt(d))
        E = E - E.mean(0)  # heterogeneous components with mean exactly B̄
        B = Bbar + E  # (n, d, d) components B_i
        Bs.append(B)
        Ms.append(skew(B))  # (n, D, D)
        us.append(u_star)
        qs.append(-(skew(Bbar) @ u_star))
        zero = torch.zeros(d, dtype=DTYPE, device=device)
        # A middle singular pair (s_j nearest √s_min): slow enough to show each method's path,
        # fast enough to converge within a typical budget. x along U[:, j], y along W[:, j].
        slows.append(torch.stack([torch.cat([U[:, j], zero]), torch.cat([zero, W[:, j]])]))
    M, B = torch.stack(Ms), torch.stack(Bs)
    Bbar = B.mean(1)  # (R, d, d); equals U diag(s) W^T up to rounding
    Mbar = skew(Bbar)
    # ‖skew(B)‖ = ‖B‖: the (cheaper) d x d spectral norms give L and L̂.
    L = torch.linalg.matrix_norm(Bbar, ord=2)
    L_hat = torch.linalg.matrix_norm(B, ord=2).pow(2).mean(1).sqrt()
    return Problem(M=M, Mbar=Mbar, q=torch.stack(qs), u_star=torch.stack(us), L=L, L_hat=L_hat,
                   slow=torch.stack(slows))


def plane_index(d: int, s_min: float) -> int:
    """Index of the singular pair the trajectory plot shows: the one nearest √s_min."""
    s = np.logspace(0.0, math.log10(s_min), d)
    return int(np.argmin(np.abs(np.log(s) - 0.5 * math.log(s_min))))


def plane_value(d: int, s_min: float) -> float:
    """The singular value of that pair."""
    return float(np.logspace(0.0, math.log10(s_min), d)[plane_index(d, s_min)])


def resolvent_step(problem: Problem, c: float) -> torch.Tensor:
    """VR-Halpern's ``η = c √n / L̂`` per repeat, (R,)."""
    return c * math.sqrt(problem.n) / problem.L_hat


def lane_values(value, R: int, like: torch.Tensor) -> torch.Tensor:
    """A step constant, one number or one per lane, as an (R,) tensor like ``like``."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).expand(R)


# --------------------------------------------------------------------------------------------
# Deterministic methods: EG and EAG, batched as lanes of one loop


class Deterministic:
    """EG (lanes 0..R-1) and EAG (lanes R..2R-1) on the mean operator, 2n calls per step.

    ``eg_step``, ``eag_step``: the step constants η·L (the theory's 1/2 and 1/8 by default).
    """

    def __init__(self, problem: Problem, eg_step: float = EG_FACTOR, eag_step: float = EAG_FACTOR):
        R = problem.R
        self.p = problem
        self.lanes = torch.arange(2 * R, device=problem.M.device) % R
        L = problem.L[self.lanes]
        eg = torch.arange(2 * R, device=L.device) < R
        eg_step, eag_step = (lane_values(s, R, L)[self.lanes] for s in (eg_step, eag_step))
        self.eta = torch.where(eg, eg_step / L, eag_step / L).unsqueeze(-1)  # (2R, 1)
        self.eag = (~eg).to(DTYPE).unsqueeze(-1)  # anchoring only on the EAG lanes
        self.u0 = torch.zeros(2 * R, problem.M.shape[-1], dtype=DTYPE, device=L.device)
        self.u = self.u0.clone()
        self.k = 0
        self.F = problem.lane_operator(self.lanes)
        self.Fu = self.F(self.u)
        # Records: calls (same for all lanes), residual (2R,), projected point of seed 0 (2, 2).
        self.calls = [0]
        self.res, self.traj = [to_host(self.Fu.norm(dim=-1))[None]], [to_host(self._project())[None]]

    @property
    def calls_now(self) -> int:
        return 2 * self.p.n * self.k

    def _project(self) -> torch.Tensor:
        dev = self.u[:: self.p.R] - self.p.u_star[0]  # seed 0 of EG and of EAG, (2, D)
        return matvec(self.p.slow[0], dev)  # (2, 2)

    def steps(self, count: int) -> None:
        """``count`` iterations; ``‖F(u_k)‖`` is recorded at every k (it is computed anyway)."""
        u, Fu, eta = self.u, self.Fu, self.eta
        if count <= 0:
            return
        res, traj = [], []
        for _ in range(count):
            beta = 1.0 / (self.k + 2)
            u_bar = u + (beta * self.eag) * (self.u0 - u)  # EAG: anchor towards u_0
            u_half = u_bar - eta * Fu
            u = u_bar - eta * self.F(u_half)
            self.k += 1
            self.u = u
            Fu = self.F(u)
            res.append(Fu.norm(dim=-1))
            traj.append(self._project())
        self.Fu = Fu
        self.calls += [2 * self.p.n * k for k in range(self.k - count + 1, self.k + 1)]
        # One host copy per chunk, not per step.
        self.res.append(to_host(torch.stack(res)))
        self.traj.append(to_host(torch.stack(traj)))

    def history(self):
        """Host arrays: calls (K,), residual (K, 2R), trajectory (K, 2, 2)."""
        return np.asarray(self.calls, dtype=float), np.concatenate(self.res), np.concatenate(self.traj)


# --------------------------------------------------------------------------------------------
# Stochastic methods: one loopless VR extragradient, run on F (VR-EG) and on G_k (VR-Halpern)


class LaneRandom:
    """Per-lane component indices and snapshot coins, drawn in fixed blocks on the CPU."""

    def __init__(self, seeds: list[int], streams: list[int], n: int):
        self.gens = [torch_generator(s, "cpu", st) for s, st in zip(seeds, streams)]
        self.n, self.p = n, 1.0 / n
        self.idx = np.zeros((len(seeds), 0), dtype=np.int64)
        self.coin = np.zeros((len(seeds), 0), dtype=bool)

    def take(self, T: int) -> tuple[np.ndarray, np.ndarray]:
        """The next T draws: indices (L, T) and refresh coins (L, T)."""
        while self.idx.shape[1] < T:
            idx = [torch.randint(self.n, (RNG_BLOCK,), generator=g).numpy() for g in self.gens]
            coin = [(torch.rand(RNG_BLOCK, generator=g, dtype=DTYPE) < self.p).numpy() for g in self.gens]
            self.idx = np.concatenate([self.idx, np.stack(idx)], 1)
            self.coin = np.concatenate([self.coin, np.stack(coin)], 1)
        out = self.idx[:, :T], self.coin[:, :T]
        self.idx, self.coin = self.idx[:, T:], self.coin[:, T:]
        return out


def seed_streams(seed: int, R: int, stream: int, n: int, repeats: list[int] | None = None) -> LaneRandom:
    """One stream of draws per repeat r (seed + r): repeat r draws the same whatever R is.
    ``repeats``: each lane's repeat, when lanes are not the repeats 0 .. R-1 (a tiled problem)."""
    repeats = range(R) if repeats is None else repeats
    return LaneRandom([min(seed + r, 2**31 - 1) for r in repeats], [stream] * R, n)


class GameSum:
    """The R games' ``F = (1/n) Σ_i F_i`` as the finite sum the VR solver samples.

    ``mean(v)``: a full pass (n calls). ``difference(rows, v - w) = F_i(v) - F_i(w) = M_i (v - w)``
    for each seed's drawn i (2 calls; the offsets cancel).
    """

    def __init__(self, problem: Problem):
        R, n = problem.R, problem.n
        self.n = n
        self.mean = LaneOperator(problem.Mbar, problem.q)  # F(v) = M̄ v + q, exact for a linear sum
        # Components flattened so that one index_select gathers every seed's drawn M_i.
        self.M_rows = problem.M.reshape(R * n, *problem.M.shape[2:])  # (R n, D, D), row r n + i
        self.row0 = np.arange(R)[:, None] * n

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        """Flat rows ``(T, R)`` of each seed's drawn components ``idx (R, T)``."""
        return torch.as_tensor((idx + self.row0).T.copy(), device=self.M_rows.device)

    def difference(self, rows: torch.Tensor, dv: torch.Tensor) -> torch.Tensor:
        return matvec(self.M_rows.index_select(0, rows), dv)


class ResolventSum:
    """``G_k(v) = v - u_k + η F(v) = (1/n) Σ_i [v - u_k + η F_i(v)]``: 1-strongly monotone, with
    the resolvent ``J_{ηF}(u_k)`` as its zero; ``G_i(v) - G_i(w) = (v - w) + η M_i (v - w)``.
    """

    def __init__(self, F: GameSum, u_k: torch.Tensor, eta: torch.Tensor):
        self.F, self.u_k, self.eta, self.n = F, u_k, eta, F.n  # u_k (R, D), η (R, 1)

    def mean(self, v: torch.Tensor) -> torch.Tensor:
        return v - self.u_k + self.eta * self.F.mean(v)

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        return self.F.rows(idx)

    def difference(self, rows: torch.Tensor, dv: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(dv, self.eta, self.F.difference(rows, dv))


class LooplessVREG:
    """Loopless variance-reduced extragradient (Alacaoglu & Malitsky 2022) on a finite sum
    ``G = (1/n) Σ_i G_i`` (a :class:`GameSum` or :class:`ResolventSum`), R seeds at once.

    ``p = 1/n``, ``α = 1 - p``; the snapshot w carries ``G(w)`` from its full pass. An iteration
    costs 2 calls, plus n when the seed's coin (probability p) moves w to v.
    """

    def __init__(self, G, tau: torch.Tensor, v0: torch.Tensor, rand: LaneRandom):
        self.G, self.rand, self.p = G, rand, 1.0 / G.n
        self.neg_tau = (-tau).unsqueeze(-1)  # (R, 1)
        self.v = self.w = v0  # (R, D)
        self.Gw = G.mean(self.w)  # the first snapshot's full pass
        self.calls = np.full(len(v0), G.n, dtype=np.int64)
        self.t = 0  # iterations done

    @torch.inference_mode()  # no autograd bookkeeping: each of these tiny ops is mostly overhead
    def run(self, T: int) -> None:
        """T iterations for every seed."""
        idx, coin = self.rand.take(T)
        rows = self.G.rows(idx)  # (T, R)
        refresh_at = np.flatnonzero(coin.any(0))
        G, v, w, Gw, neg_tau, p = self.G, self.v, self.w, self.Gw, self.neg_tau, self.p
        for t in range(T):
            v_bar = torch.lerp(v, w, p)  # v̄ = α v + (1 - α) w
            v_half = torch.addcmul(v_bar, neg_tau, Gw)  # v_½ = v̄ - τ G(w)
            g = Gw + G.difference(rows[t], v_half - w)  # G(w) + G_i(v_½) - G_i(w), unbiased for G(v_½)
            v = torch.addcmul(v_bar, neg_tau, g)  # v ← v̄ - τ g
            if refresh_at.size and t == refresh_at[0]:  # some seeds' coins: w ← v, a full pass
                refresh_at = refresh_at[1:]
                moved = torch.as_tensor(coin[:, t], device=v.device).unsqueeze(-1)
                w = torch.where(moved, v, w)
                Gw = torch.where(moved, G.mean(w), Gw)
        self.v, self.w, self.Gw = v, w, Gw
        self.t += T
        self.calls += 2 * T + G.n * coin.sum(1)

    def retarget(self, G, Gw: torch.Tensor) -> None:
        """Go on with the operator ``G`` from the current v and w (warm start), ``Gw = G(w)``."""
        self.G, self.Gw = G, Gw


class Certificates:
    """A method's certificate points: oracle calls so far (R,), ``‖F‖`` there (R,), and seed 0's
    point minus u* projected on the plotted singular pair (2,)."""

    def __init__(self, problem: Problem, calls: np.ndarray, u: torch.Tensor):
        self.problem, self.calls, self.res, self.traj = problem, [], [], []
        self.add(calls, u)

    def add(self, calls: np.ndarray, u: torch.Tensor) -> None:
        p = self.problem
        self.calls.append(calls.astype(float))
        self.res.append(p.F(u).norm(dim=-1))
        self.traj.append(matvec(p.slow[0], u[0] - p.u_star[0]))

    def history(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Host arrays: calls (K, R), residual (K, R), trajectory (K, 2)."""
        return np.stack(self.calls), to_host(torch.stack(self.res)), to_host(torch.stack(self.traj))


def inner_iterations(k: int, n: int, a: float) -> int:
    """``m_k = a n (1 + ln(k+2))`` inner iterations for outer step k (at least 1)."""
    return max(1, int(math.ceil(a * n * (1 + math.log(k + 2)))))


def vr_eg(problem: Problem, seed: int, tau_factor: float = TAU_FACTOR) -> LooplessVREG:
    """VR-EG: the loopless VR extragradient on F itself from u_0 = 0, ``τ = 0.99 √p / L̂``
    (``tau_factor`` replaces the 0.99)."""
    tau = tau_factor * math.sqrt(1.0 / problem.n) / problem.L_hat
    u0 = torch.zeros_like(problem.u_star)
    draws = seed_streams(seed, problem.R, STREAM_VR_EG, problem.n, problem.repeats)
    return LooplessVREG(GameSum(problem), tau, u0, draws)


class VRHalpern:
    """The paper's Algorithm 2 (inexact Halpern iteration), R seeds at once.

    ``u_{k+1} = λ_k u_0 + (1 - λ_k) ṽ_k``, ``λ_k = 1/(k+2)``, where ``ṽ_k ≈ J_{ηF}(u_k)`` is
    ``m_k`` iterations of :class:`LooplessVREG` on ``G_k(v) = v - u_k + η F(v)``, warm-started at
    ``ṽ_{k-1}``; ``η = c √n / L̂``. Its certificate is ``‖F(ṽ_k)‖``, once per outer step.
    """

    def __init__(self, problem: Problem, seed: int, c: float, a: float):
        self.F, self.a = GameSum(problem), a
        self.eta = resolvent_step(problem, c).unsqueeze(-1)  # η = c √n / L̂, (R, 1)
        L_G = torch.sqrt(1 + self.eta[:, 0] ** 2 * problem.L_hat ** 2)  # mean-square Lipschitz of G_i
        tau = TAU_FACTOR * math.sqrt(1.0 / problem.n) / L_G
        self.u0 = torch.zeros_like(problem.u_star)  # u_0 = 0, (R, D)
        self.u, self.k = self.u0, 0  # u_k
        G_0 = ResolventSum(self.F, self.u, self.eta)
        draws = seed_streams(seed, problem.R, STREAM_VR_HALPERN, problem.n, problem.repeats)
        self.inner = LooplessVREG(G_0, tau, self.u0, draws)
        self.m_k, self.t_k = inner_iterations(0, problem.n, a), 0  # m_k, and those done so far
        self.certificates = Certificates(problem, np.zeros(problem.R), self.u0)

    def run(self, T: int) -> None:
        """T inner iterations, taking the outer step whenever m_k of them are done."""
        while T > 0:
            now = min(T, self.m_k - self.t_k)
            self.inner.run(now)
            self.t_k, T = self.t_k + now, T - now
            if self.t_k == self.m_k:
                self.outer_step()

    def outer_step(self) -> None:
        v_tilde = self.inner.v  # ṽ_k ≈ J_{ηF}(u_k)
        self.certificates.add(self.inner.calls, v_tilde)  # ‖F(ṽ_k)‖ ≈ ‖u_k - J_{ηF}(u_k)‖ / η
        lam = 1.0 / (self.k + 2)  # λ_k
        u_next = lam * self.u0 + (1 - lam) * v_tilde  # u_{k+1} = λ_k u_0 + (1 - λ_k) ṽ_k
        # G_{k+1}(w) = G_k(w) + u_k - u_{k+1}: F(w) is unchanged, so re-anchoring costs no calls.
        self.inner.retarget(ResolventSum(self.F, u_next, self.eta), self.inner.Gw + (self.u - u_next))
        self.u, self.k = u_next, self.k + 1
        self.m_k, self.t_k = inner_iterations(self.k, self.F.n, self.a), 0


class VarianceReduced:
    """VR-EG and VR-Halpern for R seeds, advanced side by side in inner iterations.

    The two never interact: this only keeps them in step for the run's bookkeeping (VR-EG's
    certificates are recorded at set iterations; VR-Halpern's at its outer steps).
    """

    def __init__(self, problem: Problem, seed: int, c: float, inner: float, tau_factor: float = TAU_FACTOR):
        self.eg = vr_eg(problem, seed, tau_factor)
        self.eg_certificates = Certificates(problem, np.zeros(problem.R), self.eg.v)
        self.halpern = VRHalpern(problem, seed, c, inner)

    @property
    def t(self) -> int:
        return self.eg.t  # the same for both

    @property
    def calls(self) -> np.ndarray:
        """Oracle calls so far, (2R,): VR-EG's seeds, then VR-Halpern's."""
        return np.concatenate([self.eg.calls, self.halpern.inner.calls])

    @property
    def calls_min(self) -> int:
        return int(self.calls.min())

    def run(self, T: int) -> None:
        """T inner iterations of both methods."""
        self.eg.run(T)
        self.halpern.run(T)

    def record_eg(self) -> None:
        """Record VR-EG's certificate: ``‖F‖`` at its current iterate."""
        self.eg_certificates.add(self.eg.calls, self.eg.v)

    def history(self):
        """Host arrays per method, VR-EG then VR-Halpern: calls (K, R), residual (K, R),
        trajectory (K, 2)."""
        return self.eg_certificates.history(), self.halpern.certificates.history()


# --------------------------------------------------------------------------------------------
# One method alone at a chosen step constant: what step tuning and the claims run

DET_CHUNK = 64  # EG / EAG steps between checks for the target (steps are cheap)
BLOWN_UP = 1e12  # a residual this far above the start counts as diverged


def trace(problem: Problem, seed: int, method: str, steps, passes: float, inner_epochs: float = 2.0,
          epsilon: float | None = None, race: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Certificates of one method run alone at each step constant in ``steps`` (G of them):
    ``calls (K, G, R)`` and ``‖F‖ (K, G, R)``.

    A step constant is η·L for ``eg`` and ``halpern`` (EAG), VR-EG's τ factor, VR-Halpern's c.
    The G steps run as lanes of one batched run on copies of the R games (the same random draws
    for each step). The run stops once every lane has spent ``passes`` passes or, with
    ``epsilon``, once every lane's certificate has reached ``‖F‖ ≤ ε`` or blown up; with ``race``
    too, as soon as one step has reached ε on all R games (the others can only need more calls,
    which is all tuning asks; lanes' calls differ only by VR snapshot refreshes). With one step
    these are the records :func:`run` keeps. A diverging step is a tuning outcome, not an error:
    its residuals read inf.
    """
    steps = np.atleast_1d(np.asarray(steps, dtype=float))
    G, R, n = len(steps), problem.R, problem.n
    lanes = problem.tile(G)  # lane g R + r: game r at steps[g]
    step = lane_values(np.repeat(steps, R), G * R, lanes.L)  # (G R,)
    budget = passes * n
    start = float(problem.F(torch.zeros_like(problem.u_star)).norm(dim=-1).max())
    seen = np.zeros(G * R, dtype=bool)  # which lanes have reached epsilon

    def finished(res: np.ndarray) -> bool:
        """Whether to stop, given ``res (T, G R)``: the certificates just produced."""
        nonlocal seen
        if epsilon is not None:
            seen = seen | (res <= epsilon).any(0)
        blown = ~np.isfinite(res[-1]) | (res[-1] > BLOWN_UP * start)
        won = race and seen.reshape(G, R).all(1).any()
        return bool(blown.all() or won or (epsilon is not None and (seen | blown).all()))

    if method in ("eg", "halpern"):
        det = Deterministic(lanes, eg_step=step, eag_step=step)
        half = slice(0, G * R) if method == "eg" else slice(G * R, 2 * G * R)
        total = math.ceil(budget / (2 * n))
        while det.k < total:
            det.steps(min(DET_CHUNK, total - det.k))
            if finished(det.res[-1][:, half]):
                break
        calls, res, _ = det.history()
        calls, res = np.repeat(calls[:, None], G * R, 1), res[:, half]
    elif method in ("vr_eg", "vr_halpern"):
        if method == "vr_eg":
            solver = vr_eg(lanes, seed, step)
            certificates, inner = Certificates(lanes, np.zeros(G * R), solver.v), solver
        else:
            solver = VRHalpern(lanes, seed, step, inner_epochs)
            certificates, inner = solver.certificates, solver.inner
        # VR-EG's records at run()'s iterations, then on at the same spacing; VR-Halpern's
        # come at its outer steps, which every lane takes at the same iterations.
        records = list(_record_iterations(int(round(budget)), n))
        spacing = max(1, int(records[-1] - records[-2]))
        while inner.calls.min() < budget:
            solver.run(max(0, (records.pop(0) if records else inner.t + spacing) - inner.t))
            if method == "vr_eg":
                certificates.add(inner.calls, inner.v)
            if finished(to_host(certificates.res[-1])[None]):
                break
        calls, res, _ = certificates.history()
    else:
        raise ValueError(f"unknown method {method!r}: one of {METHODS}")
    res = np.where(np.isfinite(res), res, np.inf)
    return calls.reshape(-1, G, R), res.reshape(-1, G, R)


def residual_at(calls: np.ndarray, res: np.ndarray, budget: float) -> np.ndarray:
    """Each seed's last certificate within ``budget`` calls, (R,), from records ``(K, R)``."""
    return np.array([hold(calls[:, r], res[:, r], np.array([budget]))[0] for r in range(res.shape[1])])


def calls_to_reach(calls: np.ndarray, res: np.ndarray, epsilon: float) -> np.ndarray:
    """Oracle calls at each seed's first certificate with ``‖F‖ ≤ ε``, (R,); inf if none."""
    hit = res <= epsilon
    first = np.argmax(hit, 0)
    return np.where(hit.any(0), calls[first, np.arange(res.shape[1])], np.inf)


# --------------------------------------------------------------------------------------------
# Summaries of the records


def display_grid(passes: float) -> np.ndarray:
    """Passes at which curves are drawn: log-spaced from 0.5 (for log axes) plus linear."""
    lo = min(0.5, passes / 2)
    grid = np.concatenate([np.geomspace(lo, passes, N_GRID_LOG),
                           np.linspace(passes / N_GRID_LIN, passes, N_GRID_LIN)])
    return np.unique(np.round(grid, 9))


def hold(calls: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The last value recorded with ``calls <= at`` (calls ascending, starting at 0), per point."""
    i = np.searchsorted(calls, at, side="right") - 1
    return values[np.maximum(i, 0)]


def held_curves(calls: np.ndarray, res: np.ndarray, at: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Per-seed held residuals ``(G, R)`` from records ``calls, res (K, R)``, NaN past ``done (R,)``."""
    out = np.stack([hold(calls[:, r], res[:, r], at) for r in range(res.shape[1])], 1)
    out[at[:, None] > done[None, :]] = np.nan
    return out


def geometric_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.log(np.maximum(values, 1e-300)).mean(axis))


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x (NaN with fewer than 3 finite points)."""
    ok = np.isfinite(y) & (y > 0) & (x > 0)
    if ok.sum() < 3 or np.ptp(np.log(x[ok])) == 0:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# --------------------------------------------------------------------------------------------
# The run


def setting(params: Params) -> str:
    """The knobs that must match for runs at different n to be compared."""
    return (f"{params.passes:g} passes, c={params.step:g}, a={params.inner_epochs:g}, "
            f"s_min={params.s_min:g}, h={params.heterogeneity:g}, d={params.dim}, "
            f"{params.repeats} seeds, steps EG {params.eg_step:g} EAG {params.eag_step:g} "
            f"VR-EG {params.vr_eg_step:g}, ε={params.epsilon:g}")


def _record_iterations(budget: int, n: int) -> np.ndarray:
    """Inner iterations at which VR-EG's residual is recorded (log-spaced early, then linear)."""
    T = max(2, int(budget / 3))  # about 3 calls per iteration (2 + a full pass with prob 1/n)
    its = np.concatenate([np.geomspace(1, 1.5 * T, N_RECORD_LOG),
                          np.arange(1, N_RECORD_LIN * 1.5 + 1) * (T / N_RECORD_LIN)])
    return np.unique(np.maximum(1, np.round(its)).astype(np.int64))


def run(params: Params) -> Iterator[HalpernFrame]:
    """Run EG, EAG, VR-EG and VR-Halpern side by side to the oracle budget; yield snapshots."""
    device, notice = resolve_device_for(params.device, DTYPE)  # the VR loops run in float64
    problem = make_problem(params.seed, params.repeats, params.n, params.dim, params.s_min,
                           params.heterogeneity, device)
    n, R = params.n, params.repeats
    budget = int(round(params.passes * n))
    det = Deterministic(problem, params.eg_step, params.eag_step)
    vr = VarianceReduced(problem, params.seed, params.step, params.inner_epochs, params.vr_eg_step)
    records = list(_record_iterations(budget, n))
    grid = display_grid(params.passes)
    hint = ("the residual blew up: lower the steps (eg_step < 1 and eag_step ≤ 1 for L = 1; "
            f"vr_eg_step={params.vr_eg_step:g}, step c={params.step:g}, "
            f"inner_epochs={params.inner_epochs:g}) or check s_min and heterogeneity")
    L0, Lh0 = float(problem.L[0]), float(problem.L_hat[0])

    def snapshot(final: bool) -> HalpernFrame:
        d_calls, d_res, d_traj = det.history()
        (e_calls, e_res, e_traj), (h_calls, h_res, h_traj) = vr.history()
        check_finite(d_res[-1], step=det.calls_now, what="the EG/EAG residual", hint=hint)
        check_finite(e_res[-1], step=vr.calls_min, what="the VR-EG residual", hint=hint)
        check_finite(h_res[-1], step=vr.calls_min, what="the VR-Halpern residual", hint=hint)
        at = grid * n
        vr_done = np.minimum(vr.calls.astype(float), budget)
        det_done = np.full(R, min(det.calls_now, budget), dtype=float)
        dc = np.repeat(d_calls[:, None], R, 1)
        per_method = [  # (calls (K, R), residual (K, R), done (R,)) in METHODS order
            (dc, d_res[:, :R], det_done), (dc, d_res[:, R:], det_done),
            (e_calls, e_res, vr_done[:R]), (h_calls, h_res, vr_done[R:]),
        ]
        curves = np.stack([geometric_mean(held_curves(c, r, at, done), 1) for c, r, done in per_method], 1)
        progress = np.array([done.min() for _, _, done in per_method]) / n
        final_res = np.stack([
            np.array([hold(c[:, s], r[:, s], np.array([budget]))[0] for s in range(R)])
            for c, r, _ in per_method])  # (M, R)
        final_calls = np.stack([
            np.array([hold(c[:, s], c[:, s], np.array([budget]))[0] for s in range(R)])
            for c, r, _ in per_method])
        within = [np.where(c <= budget, r, np.inf) for c, r, _ in per_method]  # the budget's records
        to_eps = np.stack([calls_to_reach(c, r, params.epsilon) for (c, _, _), r in zip(per_method, within)])
        last = grid >= params.passes / 4
        slopes = np.array([loglog_slope(grid[last], curves[last, m]) for m in range(len(METHODS))])
        paths = (d_traj[:, 0], d_traj[:, 1], e_traj, h_traj)
        start = np.cumsum([0] + [len(t) for t in paths])
        metrics = _metrics(params, budget, final_res, final_calls, slopes, to_eps) if final else None
        return HalpernFrame(
            step=budget if final else int(min(det.calls_now, vr.calls_min, budget)),
            total_steps=budget, metrics=metrics, method=params.method, methods=METHODS, n=n,
            passes=float(params.passes), c=float(params.step), setting=setting(params),
            plane_s=plane_value(params.dim, params.s_min), L=L0, L_hat=Lh0, epochs=grid,
            residual=curves, passes_done=progress, final=final_res, final_calls=final_calls,
            slope=slopes, epsilon=float(params.epsilon), calls_to_epsilon=to_eps,
            trajectory=np.concatenate(paths), trajectory_start=start, notice=notice,
        )

    yield snapshot(False)
    # Advance both loops to the same number of passes, in chunks of PASS_UNITS-ths of the run
    # sized by the pacer. A chunk's cost varies (a VR full pass comes with probability 1/n), so
    # a chunk grows at most 4x over the last one; and it is at most a tenth of the run, so a run
    # of a few frame intervals still shows its curves grow.
    pace, units = Pacer(max_chunk=PASS_UNITS // 10, max_growth=4.0), 0
    for chunk in pace.chunks(PASS_UNITS):
        units += chunk
        target = params.passes * (units / PASS_UNITS)  # exactly passes at the end
        det_steps = max(0, min(math.ceil(target * n / (2 * n)), math.ceil(budget / (2 * n))) - det.k)
        det.steps(det_steps)
        while vr.calls_min < min(target * n, budget):
            # Run to VR-EG's next record, but never far past the target (VR-Halpern takes its
            # outer steps inside run).
            while records and records[0] <= vr.t:
                records.pop(0)
                vr.record_eg()
            stop = records[0] if records else math.inf
            guess = max(1, int((min(target * n, budget) - vr.calls_min) / 3) + 1)
            vr.run(int(min(stop - vr.t, guess)))
            if records and records[0] <= vr.t:
                records.pop(0)
                vr.record_eg()
        if det.calls_now >= budget and vr.calls_min >= budget:
            break  # both budgets spent (rounding up to whole steps can finish a chunk early)
        if pace.due():
            yield snapshot(False)
    vr.record_eg()  # the iterate at the end (past the budget for some seeds: held values ignore it)
    yield snapshot(True)


def _metrics(params: Params, budget: int, final_res, final_calls, slopes, to_eps) -> dict:
    by_method = {}
    for m, name in enumerate(METHODS):
        reached = np.isfinite(to_eps[m]).all()
        by_method[name] = {
            "residual": float(geometric_mean(final_res[m])),  # as the curves at the budget
            "oracle_calls": float(final_calls[m].mean()),
            "slope": float(slopes[m]),
            "residual_by_seed": [float(v) for v in final_res[m]],
            # None (JSON null) where a seed did not reach ε within the budget.
            "calls_to_epsilon": float(geometric_mean(to_eps[m])) if reached else None,
        }
    sel = by_method[params.method]
    return {"method": params.method, "residual": sel["residual"], "oracle_calls": sel["oracle_calls"],
            "budget_calls": budget, "by_method": by_method}


def final_metrics(overrides: dict) -> dict:
    """The last frame's metrics of one CPU run at ``Params(**overrides)`` on one thread."""
    torch.set_num_threads(1)
    *_, last = run(Params(**{"device": "cpu", **overrides}))
    return last.metrics


__all__ = ["PAPER", "Params", "HalpernFrame", "run", "METHODS", "METHOD_LABELS", "Problem",
           "make_problem", "skew", "resolvent_step", "Deterministic", "VarianceReduced",
           "GameSum", "ResolventSum", "LooplessVREG", "VRHalpern", "vr_eg", "inner_iterations",
           "display_grid", "hold", "trace", "residual_at", "calls_to_reach",
           "held_curves", "loglog_slope", "geometric_mean", "final_metrics"]

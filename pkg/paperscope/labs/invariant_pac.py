"""PAC Generalization via Invariant Representations.

Parulekar, Shanmugam, Shakkottai; ICML 2023; arXiv:2205.15196.

Claim: a representation that is (ε-approximately) invariant on m training interventions drawn
i.i.d. from a parameterised intervention family stays invariant on most unseen interventions
once m exceeds a number governed by the dimension of the intervention parameters (s sites),
not by the ambient dimension d: the "invariance sets" are semi-algebraic in the intervention
parameters, so their VC dimension is bounded and realizable-PAC arguments apply.

The lab's instantiation (the spec's, derived for the lab and consistent with the paper's
setting; population covariances in float64, no sampling noise):

* linear SEM on Z = (X_0..X_{d−1}, Y): ``Z = B Z + η``, independent η with ``Cov η = D(t)``
  diagonal, so ``Z = M η`` with ``M = (I − B)⁻¹``. Causes X0, X1, X2 → Y; children of Y: X3,
  X4, X5; extra edges X3 → X6, X0 → X7 → X4, X0 → X1; edge weights ±U(0.5, 1.5).
  ``extra_nodes`` adds covariates that are neither causes of Y nor intervention sites (each the
  child of a random earlier covariate), so d = 8 + extra_nodes;
* intervention t ∈ [0.2, t_max]^s sets the noise variances of s sites (in the order X3, X4,
  X5, X6, X7, X1), all other noise variances 1: ``Σ(t) = M D(t) Mᵀ``;
* representation Φ(x) = wᵀx; environment-optimal rescaling
  ``c_t(w) = Cov_t(wᵀX, Y) / Var_t(wᵀX)``; invariance: c_t ≡ 1;
* violation (the lab's metric) ``r_t(w) = c_t(w) − 1 = g_t(w) / Var_t(wᵀX)`` with
  ``g_t(w) = Cov_t(wᵀX, Y − wᵀX)``. With ``u = Mᵀ(w, 0)`` (the loading of every noise on wᵀX)
  and ``m_Y = Mᵀ e_Y`` (its loading on Y), ``g_t = Σ_k D_kk u_k (m_Y,k − u_k)`` and
  ``Var_t = Σ_k D_kk u_k²``: both **affine in t**, ``g_t = c₀ + Σ_j t_j c_j``. For a site j
  that is not an ancestor of Y, ``c_j = −u_j² ≤ 0``;
* so the exact-invariance set {t : g_t = 0} is a hyperplane of R^s (all of R^s for an
  invariant w), and the ε-invariance set {t : |g_t| ≤ ε Var_t} is an intersection of two
  half-spaces: a class of VC dimension O(s) whatever d is. m generic training environments
  on one hyperplane leave s + 1 − m free coefficients up to scale (and c_j ≤ 0 restricts their
  signs), so exact invariance on m ≥ s + 1 environments forces invariance everywhere, and the
  transition can come as early as m = s;
* realizable PAC (Blumer et al. 1989): a hypothesis consistent with m i.i.d. examples from a
  class of VC dimension h errs on at most ``ε'(m) = (2/m)(h log₂(2em/h) + log₂(2/δ))`` of the
  distribution with probability 1 − δ. The lab plots it with h = s + 1 (hyperplanes of R^s),
  δ = 0.1, as the theory's shape: it is vacuous (≥ 1) over the whole sweep m ≤ 30 at s = 4.

Learners, each fitted to the first m of a shared list of training environments:

* ``adversarial``: the worst case the PAC statement must cover. Its representation is a
  direction θ rescaled so that c averages 1 over the training environments (c(λθ) = c(θ)/λ;
  the scale is otherwise a free direction along which r_t → −1 everywhere as |w| → ∞). It
  maximises ``mean_{t ∈ ref} |r_t|/(1 + |r_t|)`` over 64 random reference environments subject
  to ``|r_e(w)| ≤ ε`` on the m training environments. The spec's objective is mean r²; the
  saturating |r| keeps one huge violation from dominating and, unlike r², has a slope at an
  invariant w (where r ≡ 0 and r² is stationary, which held the adversary there). Solved by an
  augmented Lagrangian (PHR form, Adam inner steps, multipliers updated every ``AL_INNER``
  steps, ρ grown ×3 per update up to 10³: larger ρ collapses the adversary onto invariant w)
  followed by a Gauss–Newton projection onto the constraints with backtracking. A fit whose
  training violation still exceeds ``FEASIBLE_TOL`` = 1e-4 is not a valid worst case: its fail
  fraction is NaN (left out of the medians) and it is counted in ``infeasible_fraction``, so
  failures at test time never come from an unmet constraint.
* For s ≤ 5 every site is a non-ancestor of Y, so c_j = −u_j² ≤ 0: exact invariance on m
  training interventions without invariance everywhere needs a hyperplane through them with a
  normal of one sign (an LP; the compute tests and claims C1-lp-sound and C1-lp-power check
  the adversary against it). That is why the spec's toy saw the transition near m = s, not s + 1, and why at
  m = s − 1 the worst case can fail only on some draws.
* ``irm``: IRMv1 in this model, ``mean_e [R_e(w) + λ ‖∂_c R_e(c w)|_{c=1}‖²]`` with the risk
  ``R_e(w) = E_e (Y − wᵀX)²``; the IRMv1 penalty is exactly ``4 g_e(w)²`` (Arjovsky et al.
  2019), λ = ``irm_lambda``. A typical learner, not the worst case.

All fits of a run (2 graphs × 2 learners × every m of the sweep × ``reps`` repetitions) are one
batched tensor problem trained by one optimiser loop. Repetition i draws its own SEM weights
and environments from stream i of the seed; the graph with extra nodes shares the base graph's
weights and environments (a paired comparison).

Metrics (last frame, base graph, selected learner): ``test_fail_fraction`` = median over
repetitions of the fraction of 2000 fresh test interventions with ``|r_t| > 2ε + 0.01`` at
m = ``train_envs``; ``transition_m`` = smallest m of the sweep whose median fail fraction is
≤ 0.05 (None if none); ``transition_m_extra`` the same with ``extra_nodes`` irrelevant nodes;
``causal_residual`` = max over test interventions and repetitions of |r_t| of the causal
predictor (OLS of Y on X0..X2 in one environment); ``train_violation`` (max over fits of
max_e |r_e| − ε, ≥ 0), ``infeasible_fraction`` (share of fits with that above FEASIBLE_TOL:
for the adversary the fits left out, for IRM, which enforces no ε, how often it ends outside
it); ``by_method[learner]`` the same per learner.

What the claims measured: ``paperscope verify invariant-pac``, recorded in
``paperscope/claims/recorded/invariant_pac.json``.

Audit of the spec's [unverified] items. The paper's full text was not readable with the search
tool (only the abstract, ICML/OpenReview pages and the arXiv listing). Confirmed from the
abstract: the object is ε-approximate invariance of a representation over a parameterised
family of interventions on a linear SEM, the guarantee is PAC-style (holds probabilistically
over the family, no faithfulness assumption), the bounds do not scale with the ambient
dimension when the intervention sites are a constant-size set of in-degree-bounded nodes, and
there is an extension to a linear indirect (latent) observation model. Not confirmed: the
paper's exact definition of ε-approximate invariance (gradient norm or coefficient
difference) and its main theorem's constants and exponents. ``r_t`` above is the lab's own
metric, and the PAC curve is the textbook realizable bound with the lab's VC count, not the
paper's theorem. The finite-sample toggle and the latent observation model of the spec's
scale-up are not implemented.
"""

import dataclasses
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch

from paperscope.core.device import check_fits, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.pacing import Interval, Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="invariant-pac",
    title="PAC generalization of invariant representations",
    paper_title="PAC Generalization via Invariant Representations",
    authors="Parulekar, Shanmugam, Shakkottai",
    venue="ICML 2023",
    arxiv="2205.15196",
    claim=("A representation invariant on m random training interventions stays invariant on most "
           "unseen ones once m passes a count set by the s intervention sites, not by the ambient "
           "dimension: a worst-case learner can fail below m ≈ s and is forced invariant beyond."),
    equations=(
        r"\Sigma(t) = M D(t) M^\top,\quad M = (I - B)^{-1},\quad D_{jj} = t_j \text{ at the } s \text{ sites}",
        r"r_t(w) = \frac{\mathrm{Cov}_t(w^\top X,\, Y - w^\top X)}{\mathrm{Var}_t(w^\top X)} = c_t(w) - 1",
        r"g_t(w) = c_0(w) + \textstyle\sum_{j=1}^{s} t_j\, c_j(w) \quad (\text{affine in } t)",
        r"\varepsilon'(m) = \tfrac{2}{m}\big(h \log_2\tfrac{2em}{h} + \log_2\tfrac{2}{\delta}\big),\ h = s + 1",
    ),
    topics=("causality", "out-of-distribution generalization", "learning theory"),
    checked=("Only the abstract was readable offline: the setting (ε-approximate invariance over a "
             "parameterised intervention family of a linear SEM, PAC-style, dimension-free for a "
             "constant number of in-degree-bounded sites) is confirmed; the paper's exact invariance "
             "definition and theorem constants are not, so r_t and the PAC curve are the lab's."),
)

LEARNERS = ("adversarial", "irm")
GRAPHS = ("base", "extra")  # the spec's 8 covariates, and the same plus extra_nodes irrelevant ones
BASE_COVARIATES = 8
# (parent, child) over X0..X7 and Y (index "Y"): causes X0, X1, X2; children X3, X4, X5.
EDGES = ((0, "Y"), (1, "Y"), (2, "Y"), ("Y", 3), ("Y", 4), ("Y", 5), (3, 6), (0, 7), (7, 4), (0, 1))
CAUSES = (0, 1, 2)
SITE_ORDER = (3, 4, 5, 6, 7, 1)  # the first s are intervened on (the spec's {3, 4, 5, 6} for s = 4)
T_MIN = 0.2
REF_ENVS = 64  # reference environments the adversary spreads its violation over
TEST_ENVS = 2000
M_MAX = 30  # training environments drawn per repetition; m uses the first m
EXTRA_M = (16, 20, 25, 30)  # the sweep: every m up to 3s + 2, then these
FAIL_MEDIAN = 0.05  # transition_m: the first m whose median fail fraction is at most this
PAC_DELTA = 0.1
LR = 0.02
AL_INNER = 50  # Adam steps between multiplier updates
AL_RHO = 100.0  # augmented-Lagrangian penalty weight at the start ...
AL_GROWTH, AL_RHO_MAX = 3.0, 1e3  # ... times AL_GROWTH per multiplier update, up to AL_RHO_MAX
POLISH_STEPS = 60  # Gauss-Newton projection steps onto |r_e| <= ε
BACKTRACK = 8  # step halvings tried per Gauss-Newton step
FEASIBLE_TOL = 1e-4  # a fit counts as infeasible when max_e |r_e| − ε exceeds this (1 % of the fail margin 0.01)
HEAT_GRID = 61
INTERIM_S = 0.3  # seconds between interim frames
STREAM_SEM, STREAM_INIT = 0, 10_000  # stream of repetition i: STREAM_SEM + i; inits after


class Params(LabParams):
    """Hyperparameters of the invariant-PAC lab (defaults: the spec's CPU experiment)."""

    train_envs = param.Integer(
        4, bounds=(1, M_MAX), softbounds=(1, M_MAX),
        doc=("m, training interventions the learner must be invariant on; the headline "
             "test_fail_fraction is at this m (the curves sweep every m)"),
    )
    sites = param.Integer(
        4, bounds=(1, len(SITE_ORDER)), softbounds=(1, len(SITE_ORDER)),
        doc=("s, intervention sites (noise variances of X3, X4, X5, X6, X7, X1, the first s): the "
             "transition moves with s"),
    )
    tolerance = param.Number(
        0.02, bounds=(0.0, 0.1), softbounds=(0.0, 0.1),
        doc=("ε, allowed violation |r_e| on the training interventions; a test intervention fails "
             "when |r_t| > 2ε + 0.01. 0: exact invariance"),
    )
    t_max = param.Number(
        4.0, bounds=(1.5, 10.0), softbounds=(1.5, 10.0),
        doc="Interventions set each site's noise variance to t ~ U(0.2, t_max): wider shifts, larger violations",
    )
    extra_nodes = param.Integer(
        20, bounds=(0, 1000), softbounds=(0, 56),
        doc=("Irrelevant covariates added for the second curve (neither causes of Y nor intervention "
             "sites; each a child of a random covariate): the ambient d = 8 + extra_nodes"),
    )
    learner = param.Selector(
        default="adversarial", objects=list(LEARNERS),
        doc=("Whose numbers are the headline. adversarial: the worst case, maximise the violation "
             "on reference interventions subject to |r_e| ≤ ε on the training ones. irm: IRMv1, "
             "mean risk + λ·IRM penalty. Both are always fitted and drawn"),
    )
    irm_lambda = param.Number(
        100.0, bounds=(0.0, 1e6), softbounds=(0.1, 1e4),
        doc="λ, the IRMv1 penalty weight of the irm learner",
    )
    reps = param.Integer(
        5, bounds=(1, 200), softbounds=(1, 20),
        doc="Repetitions per m (each its own SEM weights and environments); curves show median and quartiles",
    )
    steps = param.Integer(
        400, bounds=(50, 20000), softbounds=(100, 3000),
        doc="Adam steps of every fit (augmented Lagrangian for the adversary), then a Gauss-Newton projection",
    )

    LOG_SCALE: ClassVar[tuple[str, ...]] = ("irm_lambda",)
    QUICK: ClassVar[dict] = {"reps": 2, "steps": 150}
    # The spec's GPU scale-up: more repetitions and d = 108 covariates. Each fit holds its own
    # d × n mixing rows, ~0.7 GB in all here, so it also fits the CPU's allocation limit.
    LARGE: ClassVar[dict] = {"reps": 32, "extra_nodes": 100, "steps": 2000}


@dataclass(frozen=True, kw_only=True)
class InvariantFrame(Frame):
    """A snapshot of every fit after ``step`` of ``total_steps`` optimiser steps.

    ``fail`` and ``train_violation`` are indexed ``[graph, learner, m, rep]`` (``GRAPHS``,
    ``LEARNERS``, ``ms``). The heat map and the c_t distribution show repetition 0 at
    m = ``train_envs`` on the base graph.
    """

    learner: str
    sites: int
    tolerance: float
    extra_nodes: int
    m_chosen: int
    label: str
    ms: np.ndarray  # (M,) the sweep of m
    fail: np.ndarray  # (2, 2, M, R) fraction of test interventions with |r_t| > 2ε + 0.01
    train_violation: np.ndarray  # (2, 2, M, R) max_e |r_e| − ε over the training environments
    pac: np.ndarray  # (M,) realizable PAC bound ε'(m), clipped to 1
    heat_t: np.ndarray  # (G,) grid of t_1 and t_2
    heat: np.ndarray  # (2, G, G) r_t of each learner's w over the slice, [learner, t_2, t_1]
    heat_train: np.ndarray  # (m, 2) the training interventions' (t_1, t_2)
    c_quantiles: np.ndarray  # (Q,) probability levels
    c_sorted: np.ndarray  # (3, Q) c_t of adversarial, irm and causal w over the test interventions
    notice: str = ""


# --------------------------------------------------------------------------------------------
# The SEM and its environments


def sweep_ms(sites: int, chosen: int) -> np.ndarray:
    """The m values of the sweep: every m up to 3s + 2, then EXTRA_M, and the chosen m."""
    ms = set(range(1, min(3 * sites + 2, M_MAX) + 1)) | set(EXTRA_M) | {chosen}
    return np.array(sorted(m for m in ms if m <= M_MAX))


def sem_weights(R: int, extra: int, gen: torch.Generator, device, dtype=torch.float64) -> torch.Tensor:
    """``B (R, n, n)``, n = 8 + extra + 1 nodes ordered X0..X7, the extra covariates, Y (last):
    ``B[i, child, parent]`` the edge weight, ±U(0.5, 1.5). Extra covariate k is the child of a
    uniformly chosen earlier covariate (never Y), so it is neither a cause of Y nor a site."""
    d = BASE_COVARIATES + extra
    n, y = d + 1, d
    B = torch.zeros(R, n, n, dtype=dtype, device=device)
    idx = lambda v: y if v == "Y" else v  # noqa: E731
    pairs = [(idx(p), idx(c)) for p, c in EDGES]
    parents = torch.floor(torch.rand(R, extra, generator=gen, dtype=dtype, device=device)
                          * torch.arange(BASE_COVARIATES, d, dtype=dtype, device=device)).long()
    magnitude = 0.5 + torch.rand(R, len(pairs) + extra, generator=gen, dtype=dtype, device=device)
    sign = torch.where(torch.rand(R, len(pairs) + extra, generator=gen, device=device) < 0.5, -1.0, 1.0)
    weight = magnitude * sign.to(dtype)
    for e, (p, c) in enumerate(pairs):
        B[:, c, p] = weight[:, e]
    rows = torch.arange(R, device=device)[:, None]
    if extra:
        B[rows, torch.arange(BASE_COVARIATES, d, device=device), parents] = weight[:, len(pairs):]
    return B


def mixing(B: torch.Tensor) -> torch.Tensor:
    """``M = (I − B)⁻¹``: Z = M η, column k the loading of noise η_k on every node."""
    eye = torch.eye(B.shape[-1], dtype=B.dtype, device=B.device)
    return torch.linalg.solve(eye - B, eye.expand_as(B))


def environments(R: int, count: int, sites: int, t_max: float, gen, device, dtype=torch.float64):
    """``T (R, count, s)``: intervention parameters t ~ U(T_MIN, t_max)^s."""
    return T_MIN + (t_max - T_MIN) * torch.rand(R, count, sites, generator=gen, dtype=dtype, device=device)


@dataclass(frozen=True)
class Coefficients:
    """g_t = c0 + T·c and Var_t = v0 + T·v for one w per batch row: the affine structure."""

    c0: torch.Tensor  # (A,)
    c: torch.Tensor  # (A, s)
    v0: torch.Tensor  # (A,)
    v: torch.Tensor  # (A, s)


def coefficients(w: torch.Tensor, M: torch.Tensor, site_idx: torch.Tensor) -> Coefficients:
    """The coefficients of g_t(w) and Var_t(wᵀX) in t for ``w (A, d)`` and ``M (A, n, n)``.

    u = Mᵀ(w, 0) is every noise's loading on wᵀX and m_Y = Mᵀe_Y its loading on Y, so with
    D = diag(noise variances) ``g_t = Σ_k D_kk u_k (m_Y,k − u_k)`` and ``Var_t = Σ_k D_kk u_k²``;
    D_kk = t_j at the sites and 1 elsewhere.
    """
    d = w.shape[-1]
    u = torch.einsum("aik,ai->ak", M[:, :d, :], w)  # (A, n)
    mY = M[:, d, :]  # (A, n)
    per_g, per_v = u * (mY - u), u * u  # (A, n) per-noise terms
    c, v = per_g[:, site_idx], per_v[:, site_idx]  # (A, s)
    return Coefficients(per_g.sum(-1) - c.sum(-1), c, per_v.sum(-1) - v.sum(-1), v)


def violation(k: Coefficients, T: torch.Tensor) -> torch.Tensor:
    """``r_t = g_t / Var_t`` for ``T (A, E, s)``: ``(A, E)``."""
    g = k.c0[:, None] + along(T, k.c)
    var = k.v0[:, None] + along(T, k.v)
    return g / var


def causal_predictor(M: torch.Tensor, t: torch.Tensor, site_idx: torch.Tensor) -> torch.Tensor:
    """OLS of Y on X0..X2 (the causes) in the environment ``t (R, s)``, as a full ``w (R, d)``."""
    R, n, _ = M.shape
    d = n - 1
    D = torch.ones(R, n, dtype=M.dtype, device=M.device)
    D[:, site_idx] = t
    Sigma = (M * D[:, None, :]) @ M.transpose(1, 2)  # (R, n, n) = M D Mᵀ
    C = list(CAUSES)
    beta = torch.linalg.solve(Sigma[:, C][:, :, C], Sigma[:, C, d:])  # (R, 3, 1)
    w = torch.zeros(R, d, dtype=M.dtype, device=M.device)
    w[:, C] = beta.squeeze(-1)
    return w


def pac_bound(ms: np.ndarray, sites: int, delta: float = PAC_DELTA) -> np.ndarray:
    """Realizable PAC: ``ε'(m) = (2/m)(h log₂(2em/h) + log₂(2/δ))`` with h = s + 1, clipped to 1."""
    h = sites + 1
    m = np.asarray(ms, dtype=float)
    bound = 2 / m * (h * np.log2(np.maximum(2 * math.e * m / h, 1.0)) + math.log2(2 / delta))
    return np.minimum(bound, 1.0)


# --------------------------------------------------------------------------------------------
# The learners (one batch: rows are (graph, learner, m, rep))


@dataclass
class Problem:
    """Everything the batched fits need; row a of every tensor is one fit."""

    P: torch.Tensor  # (A, d, n) the covariates' rows of M: u = Pᵀw
    mY: torch.Tensor  # (A, n) Y's row of M
    mask: torch.Tensor  # (A, d) 1 on the graph's covariates (0: padded extra nodes of the base graph)
    T_train: torch.Tensor  # (A, M_MAX, s)
    active: torch.Tensor  # (A, M_MAX) bool: e < m
    T_ref: torch.Tensor  # (A, REF_ENVS, s)
    adversarial: torch.Tensor  # (A,) bool
    site_idx: torch.Tensor  # (s,)
    eps: float
    irm_lambda: float

    def rows(self, keep: torch.Tensor) -> "Problem":
        """The fits of the rows ``keep`` (a bool mask or indices)."""
        return dataclasses.replace(self, P=self.P[keep], mY=self.mY[keep], mask=self.mask[keep],
                                   T_train=self.T_train[keep], active=self.active[keep],
                                   T_ref=self.T_ref[keep], adversarial=self.adversarial[keep])


def loadings(w: torch.Tensor, p: Problem) -> torch.Tensor:
    """``u = Pᵀ(w ⊙ mask)``: the loading of every noise on wᵀX, ``(A, n)``."""
    # products and sums, not bmm: torch's CPU bmm loops over hundreds of tiny matrices slowly
    return ((w * p.mask)[:, :, None] * p.P).sum(1)


def along(T: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``T (A, E, s) · c (A, s) -> (A, E)``: Σ_j t_e,j c_j per environment."""
    return (T * c[:, None, :]).sum(-1)


def affine(u: torch.Tensor, p: Problem) -> Coefficients:
    """g_t and Var_t's coefficients in t from the loadings u (see :func:`coefficients`)."""
    per_g, per_v = u * (p.mY - u), u * u
    c, v = per_g[:, p.site_idx], per_v[:, p.site_idx]
    return Coefficients(per_g.sum(-1) - c.sum(-1), c, per_v.sum(-1) - v.sum(-1), v)


def rescaling(k: Coefficients, T: torch.Tensor) -> torch.Tensor:
    """``c_t = Cov_t(wᵀX, Y)/Var_t(wᵀX) = 1 + r_t``, the environment-optimal rescaling: (A, E)."""
    return 1 + violation(k, T)


def scale_free(theta: torch.Tensor, p: Problem):
    """The adversary's representation: direction θ, scaled so that c averages 1 over the active
    training environments (c(λθ) = c(θ)/λ with λ = mean_e c_e(θ)). Returns ``(w, c_train (A, E),
    c_ref (A, R))`` of the rescaled w. The constraint |c_e − 1| ≤ ε then asks c to be nearly the
    same in every training environment, whatever the scale of θ."""
    k = affine(loadings(theta, p), p)
    c_train, c_ref = rescaling(k, p.T_train), rescaling(k, p.T_ref)
    active = p.active.to(theta.dtype)
    lam = (c_train * active).sum(-1) / active.sum(-1)  # (A,)
    return theta * lam[:, None], c_train / lam[:, None], c_ref / lam[:, None]


def saturate(r: torch.Tensor) -> torch.Tensor:
    """``|r|/(1 + |r|)``: at most 1, so that no reference environment with a huge violation
    dominates the adversary's objective, and with a slope that does not vanish at r = 0, so that
    the adversary is not held at an invariant w (where r ≡ 0 and r² has no gradient)."""
    return r.abs() / (1 + r.abs())


def penalty_weight(step: int) -> float:
    """ρ of the augmented Lagrangian at an Adam step: AL_RHO, grown by AL_GROWTH after each
    multiplier update (the usual schedule, so that stubborn constraints are met)."""
    return min(AL_RHO * AL_GROWTH ** (step // AL_INNER), AL_RHO_MAX)


def adversary_loss(theta: torch.Tensor, p: Problem, lam: torch.Tensor, rho: float = AL_RHO):
    """PHR augmented Lagrangian of ``max mean_ref |r|/(1 + |r|) s.t. |r_e| − ε ≤ 0`` on the active
    training environments, per row, and the constraint values h (−inf where inactive):
    ``L = −mean_ref saturate(r) + Σ_e (max(0, λ_e + ρ h_e)² − λ_e²)/(2ρ)``."""
    _, c_train, c_ref = scale_free(theta, p)
    h = torch.where(p.active, (c_train - 1).abs() - p.eps, -math.inf)
    shifted = torch.clamp(lam + rho * h, min=0)
    return -saturate(c_ref - 1).mean(-1) + (shifted ** 2 - lam ** 2).sum(-1) / (2 * rho), h


def irm_loss(w: torch.Tensor, p: Problem) -> torch.Tensor:
    """IRMv1 per row: mean over active e of ``R_e(w) + λ ‖∂_c R_e(c w)|_{c=1}‖² = R_e + 4λ g_e²``,
    with ``R_e = E_e (Y − wᵀX)² = Σ_k D_e,kk (m_Y,k − u_k)²``, affine in t as g_e is."""
    u = loadings(w, p)
    g = violation_numerator(affine(u, p), p.T_train)
    e2 = (p.mY - u) ** 2
    at_sites = e2[:, p.site_idx]
    R = (e2.sum(-1) - at_sites.sum(-1))[:, None] + along(p.T_train, at_sites)
    active = p.active.to(w.dtype)
    return ((R + 4 * p.irm_lambda * g ** 2) * active).sum(-1) / active.sum(-1)


def violation_numerator(k: Coefficients, T: torch.Tensor) -> torch.Tensor:
    """``g_t = c0 + Σ_j t_j c_j`` for ``T (A, E, s)``: ``(A, E)``."""
    return k.c0[:, None] + along(T, k.c)


def train_steps(x: torch.Tensor, opt, lam: torch.Tensor, p: Problem, n: int, step0: int) -> None:
    """n Adam steps of every fit (adversaries on θ, IRM on w); the adversaries' directions are
    kept at unit norm (their loss does not depend on it) and their multipliers are updated every
    AL_INNER steps, λ ← max(0, λ + ρ h), and ρ grows (:func:`penalty_weight`)."""
    adv = p.adversarial
    for i in range(n):
        rho = penalty_weight(step0 + i)
        opt.zero_grad(set_to_none=True)
        loss_adv, h = adversary_loss(x, p, lam, rho)
        torch.where(adv, loss_adv, irm_loss(x, p)).sum().backward()
        opt.step()
        with torch.no_grad():
            x.copy_(torch.where(adv[:, None], x / x.norm(dim=-1, keepdim=True), x))
            if (step0 + i + 1) % AL_INNER == 0:
                lam.copy_(torch.where(adv[:, None] & p.active, torch.clamp(lam + rho * h, min=0), lam))


def representation(x: torch.Tensor, p: Problem) -> torch.Tensor:
    """The fitted w of every row: the adversaries' rescaled θ, the IRM rows' w as they are."""
    return torch.where(p.adversarial[:, None], scale_free(x, p)[0], x) * p.mask


def training_excess(theta: torch.Tensor, p: Problem) -> torch.Tensor:
    """How far each active constraint is violated, signed: ``r_e − clamp(r_e, −ε, ε)`` (A, E)."""
    r = scale_free(theta, p)[1] - 1
    return torch.where(p.active, r - torch.clamp(r, -p.eps, p.eps), torch.zeros_like(r))


def excess_jacobian(theta: torch.Tensor, p: Problem) -> torch.Tensor:
    """``∂r_e/∂θ (A, E, d)`` of the scale-free adversary, in closed form. With κ_e = c_e(θ),
    ``∂κ_e/∂u_k = D_e,kk (m_Y,k − 2 κ_e u_k)/Var_e`` and r_e = κ_e/κ̄ − 1, κ̄ the mean over the
    m active environments: ``∂r_e = ∂κ_e/κ̄ − κ_e/(m κ̄²) Σ_e' ∂κ_e'``; ``∂u_k/∂θ_i = P_ik``."""
    A, E = p.T_train.shape[:2]
    u = loadings(theta, p)  # (A, n)
    D = torch.ones(A, E, u.shape[-1], dtype=u.dtype, device=u.device)
    D[:, :, p.site_idx] = p.T_train
    var = (D * (u * u)[:, None]).sum(-1)  # (A, E)
    kappa = (D * (u * p.mY)[:, None]).sum(-1) / var
    dk = D * (p.mY[:, None] - 2 * kappa[..., None] * u[:, None]) / var[..., None]  # (A, E, n)
    active = p.active.to(u.dtype)
    m = active.sum(-1)
    kbar = (kappa * active).sum(-1) / m  # (A,)
    dkbar = (dk * active[..., None]).sum(1) / m[:, None]  # (A, n)
    dr = dk / kbar[:, None, None] - (kappa / kbar[:, None] ** 2)[..., None] * dkbar[:, None]
    return (dr[:, :, None, :] * p.P[:, None]).sum(-1) * p.mask[:, None, :]  # (A, E, d)


def polish(x: torch.Tensor, p: Problem, steps: int = POLISH_STEPS) -> torch.Tensor:
    """Gauss–Newton projection of the adversaries onto {|r_e| ≤ ε}: θ ← θ − α J⁺ h with J the
    Jacobian of the violated constraints only (satisfied ones are left out), J⁺ its
    pseudo-inverse (the minimum-norm step) and α the first of 1, 1/2, 1/4, … that lowers the
    worst violation (near an invariant w the constraints vanish to second order and full steps
    can overshoot). IRM rows are left as they are."""
    x = x.detach().clone()
    sub = p.rows(p.adversarial)
    theta = x[p.adversarial]
    worst = lambda th: training_excess(th, sub).abs().amax(-1)  # noqa: E731
    for _ in range(steps):
        h = training_excess(theta, sub)  # (A', E)
        now = h.abs().amax(-1)
        if not theta.numel() or float(now.max()) < 1e-15:
            break
        J = excess_jacobian(theta, sub) * (h != 0).to(theta.dtype)[..., None]  # violated rows only
        step = (torch.linalg.pinv(J) @ h[..., None]).squeeze(-1)
        moved = torch.zeros_like(now, dtype=torch.bool)
        for halving in range(BACKTRACK):
            trial = theta - step / 2 ** halving
            trial = trial / trial.norm(dim=-1, keepdim=True)
            better = ~moved & (worst(trial) < now)
            theta = torch.where(better[:, None], trial, theta)
            moved |= better
            if bool(moved.all()):
                break
    x[p.adversarial] = theta
    return x


# --------------------------------------------------------------------------------------------
# The run


def run_label(params: Params) -> str:
    return (f"{params.learner} s={params.sites} ε={params.tolerance:g} t_max={params.t_max:g}")


@dataclass
class Setup:
    """The batch and what the frames need, built once per run."""

    ms: np.ndarray
    problem: Problem
    T_test: torch.Tensor  # (R, TEST_ENVS, s)
    rep_of: torch.Tensor  # (A,)
    shape: tuple  # (2, 2, M, R)
    causal_residual: float
    w_causal: torch.Tensor  # (R, d)
    M_rep: torch.Tensor  # (R, n, n) base graph per repetition
    T_train_rep: torch.Tensor  # (R, M_MAX, s)


def build(params: Params, device, dtype=torch.float64) -> Setup:
    """SEMs, environments and the batch of fits (graph, learner, m, rep)."""
    R, s = params.reps, params.sites
    ms = sweep_ms(s, params.train_envs)
    Ms, Ts = [], []
    for i in range(R):  # each repetition its own stream: results never depend on reps
        gen = torch_generator(params.seed, device, STREAM_SEM + i)
        Ms.append(sem_weights(1, params.extra_nodes, gen, device, dtype))
        Ts.append(environments(1, M_MAX + REF_ENVS + TEST_ENVS, s, params.t_max, gen, device, dtype))
    B_extra, T_all = torch.cat(Ms), torch.cat(Ts)
    d = BASE_COVARIATES + params.extra_nodes
    B_base = B_extra.clone()
    B_base[:, BASE_COVARIATES:d, :] = 0  # the extra nodes become isolated (and are masked out of w)
    M_graph = torch.stack([mixing(B_base), mixing(B_extra)])  # (2, R, n, n)
    T_train, T_ref, T_test = T_all[:, :M_MAX], T_all[:, M_MAX:M_MAX + REF_ENVS], T_all[:, M_MAX + REF_ENVS:]
    site_idx = torch.tensor(SITE_ORDER[:s], device=device)

    G, L, Mn = len(GRAPHS), len(LEARNERS), len(ms)
    g_i, l_i, m_i, r_i = (x.reshape(-1) for x in torch.meshgrid(
        torch.arange(G), torch.arange(L), torch.arange(Mn), torch.arange(R), indexing="ij"))
    g_i, l_i, m_i, r_i = (x.to(device) for x in (g_i, l_i, m_i, r_i))
    m_val = torch.as_tensor(ms, device=device)[m_i]
    mask = torch.ones(G, d, dtype=dtype, device=device)
    mask[0, BASE_COVARIATES:] = 0
    problem = Problem(
        P=M_graph[g_i, r_i, :d, :].contiguous(), mY=M_graph[g_i, r_i, d, :].contiguous(), mask=mask[g_i],
        T_train=T_train[r_i],
        active=torch.arange(M_MAX, device=device)[None, :] < m_val[:, None], T_ref=T_ref[r_i],
        adversarial=l_i == LEARNERS.index("adversarial"), site_idx=site_idx, eps=float(params.tolerance),
        irm_lambda=float(params.irm_lambda))

    # The causal predictor, fitted in each repetition's first test environment, on both graphs.
    residual = 0.0
    w_causal = None
    for g in range(G):
        w = causal_predictor(M_graph[g], T_test[:, 0], site_idx)
        r = violation(coefficients(w, M_graph[g], site_idx), T_test)
        residual = max(residual, float(r.abs().max()))
        if g == 0:
            w_causal = w
    return Setup(ms, problem, T_test, r_i, (G, L, Mn, R), residual, w_causal, M_graph[0], T_train)


def initial_x(setup: Setup, params: Params, device, dtype) -> torch.Tensor:
    """Every fit's starting point: a random direction per row (the init stream). The adversaries
    take it at unit norm; the IRM rows rescale it so that c = 1 in their first environment."""
    p = setup.problem
    gen = torch_generator(params.seed, device, STREAM_INIT)
    x = torch.randn(p.P.shape[0], p.mask.shape[1], generator=gen, dtype=dtype, device=device) * p.mask
    x = x / x.norm(dim=-1, keepdim=True)
    c1 = rescaling(affine(loadings(x, p), p), p.T_train[:, :1])[:, 0]
    return torch.where(p.adversarial[:, None], x, x * c1[:, None])  # c(λw) = c(w)/λ


def evaluate(w: torch.Tensor, setup: Setup, eps: float, final: bool = False):
    """Per fit: the test fail fraction and the worst training violation, shaped (2, 2, M, R).
    On the final frame an adversary whose training violation exceeds FEASIBLE_TOL gets NaN: its
    failures could come from the unmet constraint rather than from the theory."""
    p, R = setup.problem, setup.shape[-1]
    k = affine(loadings(w, p), p)
    # rows are (graph, learner, m, rep) with rep last: one matrix product per repetition against
    # its test interventions, (R, TEST, s) @ (R, s, rows of that rep)
    by_rep = lambda x: x.reshape(-1, R, *x.shape[1:]).transpose(0, 1)  # noqa: E731  (R, K, ...)
    g = by_rep(k.c0)[:, None, :] + setup.T_test @ by_rep(k.c).transpose(1, 2)  # (R, TEST, K)
    var = by_rep(k.v0)[:, None, :] + setup.T_test @ by_rep(k.v).transpose(1, 2)
    fail = ((g / var).abs() > 2 * eps + 0.01).to(w.dtype).mean(1).T.reshape(-1)  # (A,)
    viol = torch.where(p.active, violation(k, p.T_train).abs() - eps, -math.inf).amax(-1).clamp(min=0)
    if final:  # an adversary that missed its constraints is no valid worst case: NaN, counted apart
        fail = torch.where(p.adversarial & (viol > FEASIBLE_TOL), math.nan, fail)
    return to_host(fail).reshape(setup.shape), to_host(viol).reshape(setup.shape)


def heat_slice(params: Params, t0: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """The grid of (t_1, t_2) ∈ [0.2, t_max]² with the other sites at ``t0``'s values:
    ``(grid (G,), T (G·G, s))``, t_1 along columns and t_2 along rows."""
    grid = np.linspace(T_MIN, params.t_max, HEAT_GRID)
    tt = torch.as_tensor(grid, dtype=t0.dtype, device=t0.device)
    T = t0.repeat(HEAT_GRID * HEAT_GRID, 1)
    T[:, 0] = tt.repeat(HEAT_GRID)
    if params.sites >= 2:
        T[:, 1] = tt.repeat_interleave(HEAT_GRID)
    return grid, T


def _views_of_chosen(w: torch.Tensor, setup: Setup, params: Params):
    """Heat map slice and c_t distribution of repetition 0 at m = train_envs, base graph."""
    p, (_, L, Mn, R) = setup.problem, setup.shape
    m_index = int(np.searchsorted(setup.ms, params.train_envs))
    t0 = setup.T_train_rep[0, 0]  # the slice passes through the first training environment
    grid, T = heat_slice(params, t0)
    rows = torch.tensor([(learner * Mn + m_index) * R for learner in range(L)], device=w.device)  # base, rep 0
    sub = p.rows(rows)
    k = affine(loadings(w[rows], sub), sub)
    heat = to_host(violation(k, T.expand(L, -1, -1))).reshape(L, HEAT_GRID, HEAT_GRID)
    c_test = [to_host(rescaling(k, setup.T_test[:1].expand(L, -1, -1)))]
    k = coefficients(setup.w_causal[:1], setup.M_rep[:1], p.site_idx)
    c_test.append(to_host(rescaling(k, setup.T_test[:1])))
    q = np.linspace(0, 1, 101)
    c_sorted = np.quantile(np.concatenate(c_test), q, axis=1).T  # (3, Q)
    train = to_host(setup.T_train_rep[0, :params.train_envs])
    second = train[:, 1] if params.sites >= 2 else np.full(len(train), T_MIN)
    return grid, heat, np.stack([train[:, 0], second], 1), q, c_sorted


def median(fail: np.ndarray) -> np.ndarray:
    """Median over repetitions (the last axis), leaving out fits without a value (NaN: an
    adversary that missed its constraints); NaN where none is left."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        return np.nanmedian(fail, axis=-1)


def _median_transition(ms: np.ndarray, fail: np.ndarray):
    """Smallest m of the sweep whose median fail fraction (over repetitions) is ≤ FAIL_MEDIAN."""
    ok = median(fail) <= FAIL_MEDIAN
    return int(ms[np.argmax(ok)]) if ok.any() else None


def _plain(x) -> float | None:
    """A JSON number (None where no fit had a value)."""
    x = float(x)
    return x if math.isfinite(x) else None


def metrics_of(frame: InvariantFrame, causal_residual: float) -> dict:
    """Headline numbers for the selected learner, and per learner under by_method."""
    m_index = int(np.searchsorted(frame.ms, frame.m_chosen))
    by_method = {}
    for li, learner in enumerate(LEARNERS):
        fail, viol = frame.fail[:, li], frame.train_violation[:, li]  # (2, M, R)
        by_method[learner] = {
            "test_fail_fraction": _plain(median(fail[0, m_index])),
            "transition_m": _median_transition(frame.ms, fail[0]),
            "transition_m_extra": _median_transition(frame.ms, fail[1]),
            "test_fail_fraction_extra": _plain(median(fail[1, m_index])),
            "train_violation": float(viol.max()),
            "infeasible_fraction": float((viol > FEASIBLE_TOL).mean()),
        }
    out = dict(by_method[frame.learner])
    out["causal_residual"] = causal_residual
    out["by_method"] = by_method
    out["m_sweep"] = [int(m) for m in frame.ms]
    out["median_fail_by_m"] = [_plain(x) for x in median(frame.fail[0, LEARNERS.index(frame.learner)])]
    return out


def check_memory(params: Params, device) -> None:
    """The batch's largest tensors: one n × n mixing matrix per fit, and the test violations."""
    A = 4 * len(sweep_ms(params.sites, params.train_envs)) * params.reps
    n = BASE_COVARIATES + params.extra_nodes + 1
    check_fits(8 * A * (3 * n * n + 2 * TEST_ENVS), device, f"{A} fits with {n} nodes", "lower reps or extra_nodes")


def run(params: Params) -> Iterator[InvariantFrame]:
    """Fit every learner at every m of the sweep, streaming the fail curves as they form."""
    device, notice = resolve_device_for(params.device, torch.float64)
    dtype = torch.float64
    check_memory(params, device)
    setup = build(params, device, dtype)
    p = setup.problem
    x = initial_x(setup, params, device, dtype).requires_grad_(True)
    lam = torch.zeros_like(p.T_train[..., 0])  # the adversaries' multipliers, (A, M_MAX)
    opt = torch.optim.Adam([x], lr=LR)
    total = params.steps + 1  # the last "step" is the Gauss-Newton projection

    def frame(step: int, x_now: torch.Tensor, final: bool = False) -> InvariantFrame:
        with torch.no_grad():
            w = representation(x_now, p)
            fail, viol = evaluate(w, setup, params.tolerance, final)
            grid, heat, train_xy, q, c_sorted = _views_of_chosen(w, setup, params)
        f = InvariantFrame(step=step, total_steps=total, learner=params.learner, sites=params.sites,
                           tolerance=params.tolerance, extra_nodes=params.extra_nodes,
                           m_chosen=params.train_envs, label=run_label(params), ms=setup.ms, fail=fail,
                           train_violation=viol, pac=pac_bound(setup.ms, params.sites), heat_t=grid,
                           heat=heat, heat_train=train_xy, c_quantiles=q, c_sorted=c_sorted, notice=notice)
        return dataclasses.replace(f, metrics=metrics_of(f, setup.causal_residual)) if final else f

    yield frame(0, x.detach())
    pace = Pacer()
    interim = Interval(INTERIM_S)  # evaluating 2000 test interventions per fit: a few frames a second
    done = 0
    hint = "lower irm_lambda"
    for n in pace.chunks(params.steps):
        train_steps(x, opt, lam, p, n, done)
        done += n
        check_finite(x.detach(), step=done, what="the representation", hint=hint)
        pace.chunk_done()
        if interim.due():
            yield frame(done, x.detach())
    x_final = polish(x.detach(), p)
    check_finite(x_final, step=total, what="the projected representation", hint=hint)
    yield frame(total, x_final, final=True)

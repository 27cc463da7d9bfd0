"""How connectivity structure shapes rich and lazy learning in neural circuits.

Liu, Baratin, Cornford, Mihalas, Shea-Brown, Lajoie; ICLR 2024; arXiv:2310.08513.

Claim reproduced: at a fixed weight norm, a high-rank initial connectivity learns more lazily
than a low-rank one: the weight moves less and the tangent kernel stays better aligned with its
initial value (unless the low-rank start is already aligned with the task).

Key equations (symbols as in the paper and its code, ``Helena-Yuhan-Liu/BioRNN_RichLazy``):

* rank-r start at fixed norm: ``W_0 = g G / sqrt(N)``, ``G_ij ~ N(0, 1)``;
  ``W_0 = U S V^T``, ``W_r = U[:, :r] S[:r] V[:, :r]^T * ||W_0||_F / ||W_r||_F``;
* effective rank (Roy & Vetterli 2007): ``p_i = s_i / sum_j s_j``,
  ``erank(W) = exp(-sum_i p_i log p_i)``. Not confirmed against the paper's text: the public
  repository's ``main.py`` sweeps the truncation rank r and never computes an effective rank,
  so this follows the lab spec;
* RNN (``rnn``): ``h_{t+1} = ReLU(W_in x_t + W h_t)``, ``y_t = W_out h_t`` (no biases,
  dt/tau = 1), cross-entropy over all 8 steps of a two-alternative decision task;
* two-layer linear student (``linear``): ``f(x) = W_2 W_1 x`` against a random linear teacher
  ``y = beta . x`` (MSE), ``W_1`` N x N and rank r; the aligned variant puts ``beta`` in the row
  space of the rank-r ``W_1``. (The paper's aligned case, its Proposition 1 and Figure 3, also
  has a feature-modulation matrix F, z = F x, and aligns ``W_1`` with ``beta = w^T F``; this lab
  keeps features isotropic, F = I, where that alignment reduces to the row-space condition.
  Checked against the paper's summary pages, not its full text);
* laziness: ``||W_T - W_0||_F``; tangent-kernel alignment
  ``KA = <K_T, K_0>_F / (||K_T||_F ||K_0||_F)`` with ``K = J J^T`` over every output entry of a
  fixed probe batch, J taken w.r.t. ``W`` only (rnn, as the repo does) or w.r.t. ``W_1`` and
  ``W_2`` (linear: w.r.t. ``W_1`` alone that kernel is ``||W_2||^2 X X^T``, whose alignment is
  always 1); representation alignment ``RA``: the same for the uncentred Gram matrix ``H H^T``
  of hidden states at the decision step (rnn) or of ``W_1 x`` (linear). Both layers' changes
  are also reported relative to their start, ``||Delta W||_F / ||W(0)||_F`` (the rank-r layer and
  the readout ``W_out`` or ``W_2``: with an aligned low-rank ``W_1`` the readout does the learning);
* the classic control (``scale_sweep``): the same measures against the initial scale g at each
  rank, over seeds.

All K ranks are trained side by side as one batched model: weights carry a leading K axis and
one optimiser steps the stacked tensors. Every rank sees the same ``G``, ``W_in``, ``W_out``
and data; only the rank of ``W_0`` differs.
"""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch
import torch.nn.functional as F

from paperscope.core.device import resolve_device
from paperscope.core.errors import DivergenceError
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.optim import MomentumSGD
from paperscope.core.pacing import Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="rich-lazy",
    title="Rich and lazy learning vs. connectivity rank",
    paper_title="How connectivity structure shapes rich and lazy learning in neural circuits",
    authors="Liu, Baratin, Cornford, Mihalas, Shea-Brown, Lajoie",
    venue="ICLR 2024",
    arxiv="2310.08513",
    claim=("At a fixed weight norm, high-rank initial connectivity learns more lazily than "
           "low-rank: smaller weight change, higher tangent-kernel alignment."),
    equations=(
        r"W_r = U_{:,:r} S_{:r} V_{:,:r}^\top \, \|W_0\|_F / \|W_r\|_F",
        (r"\operatorname{erank}(W) = \exp\big(-\textstyle\sum_i p_i \log p_i\big),\quad p_i = s_i /"
         r" \textstyle\sum_j s_j"),
        r"\mathrm{KA} = \frac{\langle K_T, K_0 \rangle_F}{\|K_T\|_F \, \|K_0\|_F},\quad K = J J^\top",
    ),
    topics=("learning theory", "initialization", "neuroscience"),
    checked=("Rank-r initialization, weight change and kernel alignment follow the paper and its code "
             "(BioRNN_RichLazy); the effective rank and the aligned linear case follow the lab spec and "
             "the paper's summary pages, not its full text."),
)

# The synthetic 2AF task (neurogym PerceptualDecisionMaking-v0 at dt = 100 ms, as in the repo):
# 7 stimulus steps then 1 decision step; classes 0 = fixate, 1 = left, 2 = right.
T_STEPS = 8
STIM_STEPS = 7
N_IN = 3
N_OUT = 3
COHERENCES = (0.0, 0.064, 0.128, 0.256, 0.512)
STIM_NOISE = 0.1  # neurogym's sigma = 1 scaled by 1/sqrt(dt) with dt = 100

# Seed streams: every random draw has its own stream so changing one size never reshuffles
# another draw (and a K = 1 model gets exactly the numbers of the batched one).
STREAM_INIT, STREAM_DATA, STREAM_PROBE, STREAM_TEACHER = 0, 1, 2, 3

LOSS_HINT = "the learning rate is probably too high for this init scale; lower lr or init_scale"
N_FRAMES = 100  # logged points per run (plus step 0)
N_KERNELS = 10  # tangent-kernel checkpoints per run (step 0 and the last step included)

# The smallest rnn run at which the paper's direction (r = N moves less and keeps its kernel)
# held on most of six seeds (the quick preset's size); below it, rank 1 is still catching up with
# the task, moves less than full rank on many seeds, and the app and notebook say so.
DIRECTION_SIZE = {"hidden_size": 100, "steps": 1000}
SMALL_SIZE_NOTICE = (
    "Small run (N < 100 or fewer than 1000 steps): at this size the weight change often does not "
    "show the paper's direction, because rank 1 is still catching up with the task (kernel "
    "alignment usually still does). Compare ranks at N = 100 and 1000 steps or more.")


class Params(LabParams):
    """Hyperparameters of the rich/lazy lab (defaults: the spec's faithful CPU experiment)."""

    network = param.Selector(
        default="rnn", objects=["rnn", "linear"],
        doc=("rnn: ReLU RNN (no biases) trained on a synthetic two-alternative decision task, "
             "the rank-r weight is the recurrent W. linear: the paper's two-layer linear "
             "student f(x) = W2 W1 x fitting a random linear teacher with MSE; the rank-r weight "
             "is W1 (N x N, input dimension = N)"),
    )
    hidden_size = param.Integer(
        100, bounds=(8, 512), softbounds=(50, 300),
        doc="N, the number of hidden units (laziness grows with width)",
    )
    n_ranks = param.Integer(
        3, bounds=(2, 8), softbounds=(2, 5),
        doc=("How many initial ranks to compare: log-spaced integers from 1 to N, duplicates "
             "removed (N = 100 and 3 give 1, 10, 100)"),
    )
    init_scale = param.Number(
        1.25, bounds=(0.05, 5.0), softbounds=(0.5, 2.0),
        doc=("g in W0 = g G / sqrt(N): the classic scale knob (lazier as g grows), kept at the "
             "same Frobenius norm for every rank"),
    )
    lr = param.Number(
        3e-3, bounds=(0, 1), inclusive_bounds=(False, True), softbounds=(1e-3, 1e-2),
        doc="SGD learning rate (more or less movement of the weights)",
    )
    momentum = param.Number(
        0.9, bounds=(0, 0.999), softbounds=(0.0, 0.99), doc="SGD momentum (the repo uses 0.9)",
    )
    steps = param.Integer(
        2000, bounds=(1, 100000), softbounds=(100, 10000), doc="Number of SGD steps",
    )
    batch_size = param.Integer(
        32, bounds=(1, 1024), softbounds=(8, 128), doc="Trials per SGD step (fresh each step)",
    )
    probe_size = param.Integer(
        32, bounds=(4, 128), softbounds=(8, 64),
        doc=("P, trials in the fixed, seeded probe batch on which the tangent and "
             "representation kernels are measured (the same probes for every rank)"),
    )
    aligned = param.Boolean(
        False,
        doc=("Linear network only: give the low-rank W1 a row space aligned with the teacher "
             "(its top right-singular vector becomes the teacher direction), the paper's "
             "exception that stays lazy at low rank. Ignored for the rnn"),
    )

    # The smallest size at which the paper's direction shows on most seeds (N = 48 with 600 steps,
    # the earlier preset, reversed the weight change on most seeds): the default width, half the
    # steps and half the probes.
    QUICK: ClassVar[dict] = {"hidden_size": 100, "steps": 1000, "probe_size": 16}


@dataclass(frozen=True, kw_only=True)
class RichLazyFrame(Frame):
    """A complete snapshot of the K side-by-side runs (histories included).

    Shapes: K ranks, L logged steps, M kernel checkpoints, N hidden units, P probes. ``loss`` and
    ``accuracy`` at step 0 are the initial networks' on the probe batch; later points are means
    over the training batches since the previous point. Accuracy is the decision-step choice
    (rnn) or the fraction of the teacher's output power explained, ``1 - |f - y|^2 / |y|^2``
    (linear). ``metrics`` (last frame only) holds ``network`` and ``by_rank``: for each rank, as
    a string, its effective_rank, weight_change, kernel_alignment, representation_alignment,
    final_loss and accuracy at the end, and the change of both layers relative to their start:
    relative_weight_change ``||W_T - W_0||_F / ||W_0||_F`` (the rank-r layer), weight_change_out
    ``||W_out,T - W_out,0||_F`` and relative_weight_change_out (the readout, ``W_out`` or ``W_2``).
    ``notice`` says when the run is smaller than the sizes at which the paper's direction holds.
    """

    network: str
    ranks: np.ndarray  # (K,) int
    effective_rank: np.ndarray  # (K,) erank of W_0
    logged_steps: np.ndarray  # (L,)
    loss: np.ndarray  # (L, K)
    accuracy: np.ndarray  # (L, K)
    weight_change: np.ndarray  # (L, K) ||W_t - W_0||_F
    weight_change_out: np.ndarray  # (L, K) ||W_out,t - W_out,0||_F of the readout (W_out or W2)
    norm_init: np.ndarray  # (K,) ||W_0||_F (the same for every rank: the rescaling keeps it)
    norm_out_init: np.ndarray  # (K,) ||W_out,0||_F
    kernel_steps: np.ndarray  # (M,), starts at 0
    kernel_alignment: np.ndarray  # (M, K)
    representation_alignment: np.ndarray  # (M, K)
    sv_init: np.ndarray  # (K, N) singular values of W_0, descending
    sv_now: np.ndarray  # (K, N) singular values of W_t, descending
    kernel_init: np.ndarray  # (K, P, P) tangent kernel at step 0, summed over (t, k) blocks
    kernel_now: np.ndarray  # (K, P, P) the same at the latest checkpoint
    probe_labels: np.ndarray  # (P,) class of each probe, in kernel order
    notice: str = ""


# --------------------------------------------------------------------------------------------
# Small numerical pieces (public: tests and benchmarks use them)


def ranks_for(N: int, n_ranks: int) -> list[int]:
    """Log-spaced integer ranks from 1 to N inclusive, duplicates removed."""
    # Log spacing because the effect is about orders of magnitude of rank (1 vs 10 vs 100);
    # rounding can merge neighbours at small N, hence fewer than n_ranks values then.
    r = np.unique(np.rint(np.logspace(0.0, np.log10(N), int(n_ranks))).astype(int))
    return [int(v) for v in np.clip(r, 1, N)]


def effective_rank(singular_values) -> float:
    """Roy & Vetterli effective rank ``exp(H(p))`` with ``p = s / sum(s)``.

    Singular values below the numerical-rank tolerance of their dtype (as in
    ``torch.linalg.matrix_rank``) count as zero, so a float32 rank-1 matrix has erank 1.
    """
    s = torch.as_tensor(singular_values)
    if not s.is_floating_point():
        s = s.to(torch.float64)
    return float(_erank(s))


def _erank(s: torch.Tensor) -> torch.Tensor:
    # Batched over leading dims. Round-off singular values (~eps * s_max) would each add a
    # little entropy; zero them, and 0 log 0 = 0 (xlogy) handles exact zeros.
    tol = s.amax(-1, keepdim=True) * s.shape[-1] * torch.finfo(s.dtype).eps
    s = torch.where(s > tol, s, torch.zeros_like(s)).to(torch.float64)
    p = s / s.sum(-1, keepdim=True)
    return torch.exp(-torch.special.xlogy(p, p).sum(-1))


def low_rank_init(W0: torch.Tensor, r: int, align_to: torch.Tensor | None = None) -> torch.Tensor:
    """Rank-r truncation of ``W0`` rescaled to ``||W0||_F`` (batched over leading dims).

    ``align_to`` (a vector of length ``W0.shape[-1]``) makes the top right-singular vector point
    along it and orthogonalises the next r - 1 against it: same singular values, but the row
    space of the result contains ``align_to`` (the aligned low-rank start).
    """
    U, S, Vh = torch.linalg.svd(W0, full_matrices=False)  # U (.., N, q), S (.., q), Vh (.., q, M)
    V_r = Vh[..., :r, :].transpose(-1, -2)  # (.., M, r)
    if align_to is not None:
        a = (align_to / align_to.norm()).to(W0.dtype)
        # QR of [a, v_1 .. v_{r-1}] keeps a as the first direction (up to sign) and the rest
        # random but orthogonal to it.
        basis = torch.cat([a.expand(*V_r.shape[:-2], -1).unsqueeze(-1), V_r[..., : r - 1]], -1)
        V_r, _ = torch.linalg.qr(basis)
    W_r = (U[..., :r] * S[..., None, :r]) @ V_r.transpose(-1, -2)
    # The rescaling is essential: without it the scale changes together with the rank.
    scale = torch.linalg.matrix_norm(W0) / torch.linalg.matrix_norm(W_r)
    return W_r * scale[..., None, None]


def alignment(A, B) -> torch.Tensor:
    """``<A, B>_F / (||A||_F ||B||_F)`` over the last two dims (batched; 0-d for matrices)."""
    A, B = torch.as_tensor(A), torch.as_tensor(B)
    # A cosine between matrices: 1 when the kernel kept its shape, whatever its overall scale.
    inner = (A * B).sum((-1, -2))
    return inner / (torch.linalg.matrix_norm(A) * torch.linalg.matrix_norm(B))


# --------------------------------------------------------------------------------------------
# Tasks


def two_af_batch(B: int, gen: torch.Generator, device, dtype=torch.float32):
    """One batch of the synthetic 2AF task.

    Returns ``x (T, B, 3)`` (fixation, left, right evidence), ``labels (T, B)`` (0 on the 7
    stimulus steps, 1 = left / 2 = right on the decision step) and the signed coherence ``(B,)``.
    """
    # Coherence c and side s per trial; evidence (1 +- c s) / 2 as neurogym's cos-tuned stimulus.
    coh = torch.tensor(COHERENCES, device=device, dtype=dtype)[
        torch.randint(len(COHERENCES), (B,), generator=gen, device=device)]
    s = torch.randint(2, (B,), generator=gen, device=device).to(dtype) * 2 - 1  # +1 left, -1 right
    noise = STIM_NOISE * torch.randn(STIM_STEPS, B, 2, generator=gen, device=device, dtype=dtype)
    x = torch.zeros(T_STEPS, B, N_IN, device=device, dtype=dtype)
    x[:STIM_STEPS, :, 0] = 1.0  # fixation cue, off at the decision step
    x[:STIM_STEPS, :, 1] = (1 + coh * s) / 2 + noise[..., 0]
    x[:STIM_STEPS, :, 2] = (1 - coh * s) / 2 + noise[..., 1]
    labels = torch.zeros(T_STEPS, B, dtype=torch.long, device=device)
    labels[-1] = torch.where(s > 0, 1, 2)  # with coherence 0 the answer is a coin flip
    return x, labels, coh * s


def rnn_forward(W_in, W, W_out, x):
    """ReLU RNN for K stacked models on shared inputs.

    ``W_in (K, N, 3)``, ``W (K, N, N)``, ``W_out (K, 3, N)``, ``x (T, B, 3)``.
    Returns ``y (T, K, B, 3)`` and hidden states ``H (T, K, B, N)``.
    """
    K, N = W.shape[0], W.shape[1]
    # The input drive does not depend on h: one matmul for all steps before the loop.
    u = torch.matmul(x.unsqueeze(1), W_in.transpose(1, 2))  # (T, K, B, N) input drive
    h = x.new_zeros(K, x.shape[1], N)  # h_0 = 0
    hs = []
    for t in range(x.shape[0]):
        h = torch.relu(torch.baddbmm(u[t], h, W.transpose(1, 2)))  # W_in x_t + W h_t, (K, B, N)
        hs.append(h)
    H = torch.stack(hs)  # (T, K, B, N)
    # A readout at every step: the loss also asks for fixation during the stimulus.
    return torch.matmul(H, W_out.transpose(1, 2)), H  # y (T, K, B, 3)


def linear_forward(W1, W2, X):
    """Two-layer linear student for K stacked models: ``X (B, d)`` -> ``f (K, B)``, ``Z (K, B, N)``."""
    Z = torch.matmul(X, W1.transpose(1, 2))  # hidden layer W1 x, (K, B, N)
    return torch.matmul(Z, W2.transpose(1, 2)).squeeze(-1), Z


# --------------------------------------------------------------------------------------------
# The batched trainer


@dataclass(eq=False)
class Trainer:
    """K networks that differ only in the rank of their initial weight, trained as one model.

    Build with :func:`make_trainer`; a single model is the same object with one rank.
    """

    network: str
    ranks: list[int]
    weights: dict  # name -> (K, ...) leaf tensors; "W" (rnn) or "W1" (linear) is the rank-r one
    W0: torch.Tensor  # (K, N, N) the rank-r weight at step 0
    optimizer: MomentumSGD
    data: torch.Generator
    batch_size: int
    teacher: torch.Tensor | None = None  # (d,) teacher map beta (norm sqrt(d)), linear only
    out0: torch.Tensor | None = None  # (K, C, N) the readout (W_out or W2) at step 0
    step: int = 0

    @property
    def key(self) -> str:
        return "W" if self.network == "rnn" else "W1"

    @property
    def W(self) -> torch.Tensor:
        """The rank-r weight now, ``(K, N, N)``."""
        return self.weights[self.key]

    @property
    def out(self) -> torch.Tensor:
        """The readout layer now: ``W_out (K, 3, N)`` (rnn) or ``W2 (K, 1, N)`` (linear)."""
        return self.weights["W_out" if self.network == "rnn" else "W2"]

    def batch(self, B: int, gen: torch.Generator):
        """Inputs and targets for B trials, shared by every rank."""
        W = self.W
        if self.network == "rnn":
            x, labels, _ = two_af_batch(B, gen, W.device, W.dtype)
            return x, labels
        d = W.shape[-1]
        # x ~ N(0, I/d) has unit expected norm, so every rank's hidden W1 x has the same
        # expected norm (||W1||_F is fixed) whatever its rank.
        X = torch.randn(B, d, generator=gen, device=W.device, dtype=W.dtype) / d**0.5  # (B, d)
        return X, X @ self.teacher  # teacher y = beta . x ~ N(0, 1), (B,)

    def loss_and_accuracy(self, inputs, targets):
        """Per-rank loss ``(K,)`` and accuracy ``(K,)`` (differentiable loss)."""
        w = self.weights
        if self.network == "rnn":
            y, _ = rnn_forward(w["W_in"], w["W"], w["W_out"], inputs)  # (T, K, B, 3)
            T, K, B, C = y.shape
            # Labels are shared by the K ranks: broadcast them rather than copy the batch.
            ce = F.cross_entropy(y.reshape(-1, C), targets.unsqueeze(1).expand(T, K, B).reshape(-1),
                                 reduction="none")
            loss = ce.view(T, K, B).mean((0, 2))  # over all steps, fixation included
            # Accuracy: the choice at the decision step (the fixation steps are easy).
            acc = (y[-1].argmax(-1) == targets[-1]).to(y.dtype).mean(-1)
            return loss, acc
        f, _ = linear_forward(w["W1"], w["W2"], inputs)  # (K, B)
        sq_err = (f - targets).pow(2).mean(-1)
        # Accuracy for regression: fraction of the teacher's output power explained.
        return 0.5 * sq_err, 1 - sq_err / targets.pow(2).mean()

    def train_steps(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` SGD steps of all K ranks at once; returns loss and accuracy, each ``(n, K)``."""
        # Losses stay on the device until the caller asks: no host sync inside the loop.
        losses, accs = [], []
        for _ in range(n):
            # One fresh batch per step from the data stream, the same for every rank.
            inputs, targets = self.batch(self.batch_size, self.data)
            loss, acc = self.loss_and_accuracy(inputs, targets)
            self.optimizer.zero_grad()
            # The sum of per-rank means: each rank's gradient is its own (they never interact).
            loss.sum().backward()
            self.optimizer.step()
            losses.append(loss.detach())
            accs.append(acc.detach())
            self.step += 1
        return torch.stack(losses), torch.stack(accs)

    @torch.no_grad()
    def weight_change(self) -> torch.Tensor:
        """``||W_t - W_0||_F`` per rank, ``(K,)``."""
        return torch.linalg.matrix_norm(self.W - self.W0)

    @torch.no_grad()
    def weight_change_out(self) -> torch.Tensor:
        """``||W_out,t - W_out,0||_F`` of the readout per rank, ``(K,)``."""
        return torch.linalg.matrix_norm(self.out - self.out0)

    def measure(self, probe):
        """Tangent kernel and hidden Gram matrix on the probe batch.

        Returns ``K_full (K, R, R)`` over every output entry (R = T*3*P for the rnn, ordered
        (t, k, b); R = P for the linear net), its per-probe summary ``(K, P, P)`` (the sum of the
        (t, k) diagonal blocks) and the representation Gram ``H H^T (K, P, P)``.
        """
        w = self.weights
        if self.network == "rnn":
            return rnn_kernel(w["W_in"], w["W"], w["W_out"], probe)
        with torch.no_grad():
            _, Z = linear_forward(w["W1"], w["W2"], probe)  # hidden layer, (K, P, N)
            # One scalar output per probe, so the full kernel already is P x P.
            K_full = linear_kernel(w["W1"], w["W2"], probe)
            return K_full, K_full, Z @ Z.transpose(1, 2)


def make_trainer(params: Params, ranks: list[int] | None = None,
                 dtype: torch.dtype = torch.float32) -> Trainer:
    """The K = len(ranks) side-by-side models of ``params`` (default ranks: :func:`ranks_for`)."""
    device = resolve_device(params.device)
    N, g = params.hidden_size, params.init_scale
    ranks = ranks_for(N, params.n_ranks) if ranks is None else [int(r) for r in ranks]
    K = len(ranks)
    # One generator per purpose (init, data, probe, teacher), all derived from the seed.
    gen = torch_generator(params.seed, device, STREAM_INIT)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=device, dtype=dtype)

    def uniform(*shape, bound):  # torch.nn.Linear's default init, as the repo uses
        return (torch.rand(*shape, generator=gen, device=device, dtype=dtype) * 2 - 1) * bound

    # Draw order is fixed and independent of K, so one rank alone gets the same numbers.
    W0_full = g * randn(N, N) / N**0.5  # W0 = g G / sqrt(N), (N, N)
    teacher = None
    if params.network == "rnn":
        W_in = uniform(N, N_IN, bound=N_IN**-0.5)
        W_out = uniform(N_OUT, N, bound=N**-0.5)
        # The same G truncated to each rank: only the rank differs between the K models.
        W = torch.stack([low_rank_init(W0_full, r) for r in ranks])  # (K, N, N)
        weights = {"W_in": W_in.expand(K, N, N_IN), "W": W, "W_out": W_out.expand(K, N_OUT, N)}
    else:
        W2 = randn(1, N) / N**0.5  # readout with unit expected norm
        teacher_gen = torch_generator(params.seed, device, STREAM_TEACHER)
        beta = torch.randn(N, generator=teacher_gen, device=device, dtype=dtype)
        # ||beta|| = sqrt(d) gives unit-variance targets, while the student's end-to-end map
        # W2 W1 starts with norm ~ g: it must grow ~sqrt(N)/g-fold, the small-initialisation
        # setting of the paper's linear theory (with a target already of the size of the
        # initial map, every rank stays lazy and there is nothing to compare).
        teacher = beta / beta.norm() * N**0.5
        align = teacher if params.aligned else None
        W1 = torch.stack([low_rank_init(W0_full, r, align_to=align) for r in ranks])  # (K, N, d)
        weights = {"W1": W1, "W2": W2.expand(K, 1, N)}
    # Every rank owns a copy of the shared tensors: they are trained independently.
    weights = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    key, out_key = ("W", "W_out") if params.network == "rnn" else ("W1", "W2")
    # SGD is elementwise, so one optimiser over stacked tensors = K separate optimisers.
    opt = MomentumSGD(list(weights.values()), lr=params.lr, momentum=params.momentum)
    return Trainer(network=params.network, ranks=ranks, weights=weights,
                   W0=weights[key].detach().clone(), out0=weights[out_key].detach().clone(), optimizer=opt,
                   data=torch_generator(params.seed, device, STREAM_DATA),
                   batch_size=params.batch_size, teacher=teacher)


# --------------------------------------------------------------------------------------------
# Tangent kernels


def rnn_output_grads(W, W_out, H):
    """``dy_{t,k} / dpre_s`` for every output slot (t, k), step s, rank and trial.

    Backprop written out for the ReLU RNN (exact; the tests compare it with autograd), all
    T * 3 output slots at once: ``delta_t = relu'(pre_t) * W_out[k]`` and
    ``delta_s = relu'(pre_s) * (W^T delta_{s+1})``. ``W (K, N, N)``, ``W_out (K, C, N)``,
    ``H (T, K, P, N)``; returns ``D (T*C, S, K, P, N)`` with ``S = T`` (zero where s > t).
    """
    T, K, P, N = H.shape
    C = W_out.shape[1]
    active = (H > 0).to(H.dtype)  # relu'(pre_s): h_s > 0 exactly when pre_s > 0
    # G[t, k] carries the signal of output (t, k) back through time; outputs after the current
    # step s are propagated, the output at s enters fresh, earlier ones stay zero.
    G = H.new_zeros(T, C, K, P, N)
    D = H.new_zeros(T, C, T, K, P, N)
    for s in reversed(range(T)):
        G = torch.matmul(G, W)  # delta_{s+1} -> dy/dh_s (row vectors times W)
        G[s] = W_out.transpose(0, 1)[:, :, None, :]  # dy_{s,k}/dh_s = W_out[k], (C, K, 1, N)
        G = G * active[s]
        D[:, :, s] = G
    return D.view(T * C, T, K, P, N)


def rnn_kernel(W_in, W, W_out, x):
    """Tangent kernel of the RNN outputs w.r.t. the recurrent ``W`` only, for K stacked models.

    ``dy/dW = sum_s delta_s h_{s-1}^T`` with ``delta_s = dy/dpre_s``, so
    ``K[a, a'] = sum_{s, s'} <delta_s^a, delta_{s'}^{a'}> <h_{s-1}^b, h_{s'-1}^{b'}>``: the N^2
    columns of J are never formed (memory O(T^2 * 3 * P * N) instead of O(T * 3 * P * N^2)).
    Returns ``(K_full (K, R, R), K_sum (K, P, P), H_dec H_dec^T (K, P, P))``, R = T * 3 * P.
    """
    T, P = x.shape[0], x.shape[1]
    K, N = W.shape[0], W.shape[1]
    C = W_out.shape[1]
    # Kernels are measurements, not training: no graph is kept.
    with torch.no_grad():
        _, H = rnn_forward(W_in, W, W_out, x)  # (T, K, P, N)
        D = rnn_output_grads(W, W_out, H)  # (T*C, S, K, P, N)
    # D (T*C, S, K, P, N): D[(t,k), s] = dy_{t,k}/dpre_s -> rows ordered (t, k, b) per step s.
    D = D.permute(2, 1, 0, 3, 4).reshape(K, T, T * C * P, N)  # (K, S, R, N)
    R, CP = T * C * P, C * P
    K_full = W.new_zeros(K, R, R)
    # h_{s-1} is zero for s = 0, and delta_s vanishes for outputs before step s (t < s),
    # so only blocks with t >= s and t' >= s' are computed; the (s', s) block is a transpose.
    for s in range(1, T):
        A = D[:, s, s * CP:]  # (K, R_s, N)
        for s2 in range(s, T):
            Bm = D[:, s2, s2 * CP:]  # (K, R_s2, N)
            Gh = torch.bmm(H[s - 1], H[s2 - 1].transpose(1, 2))  # (K, P, P) hidden overlaps
            G = torch.bmm(A, Bm.transpose(1, 2))  # (K, R_s, R_s2) backprop overlaps
            G = (G.view(K, -1, P, G.shape[-1] // P, P) * Gh[:, None, :, None, :]).view_as(G)
            K_full[:, s * CP:, s2 * CP:] += G
            if s2 != s:
                K_full[:, s2 * CP:, s * CP:] += G.transpose(1, 2)
    # For display: probe-by-probe similarity, summing the blocks where both outputs share (t, k).
    K_sum = K_full.view(K, T * C, P, T * C, P).diagonal(dim1=1, dim2=3).sum(-1)  # (K, P, P)
    H_dec = H[-1]  # hidden states at the decision step, (K, P, N)
    return K_full, K_sum, H_dec @ H_dec.transpose(1, 2)


def linear_kernel(W1, W2, X):
    """Tangent kernel of ``f = W2 W1 x`` w.r.t. both W1 and W2, ``(K, P, P)``.

    ``K(x, x') = x^T W1^T W1 x' + ||W2||^2 x^T x'``. (W.r.t. W1 alone it would be
    ``||W2||^2 X X^T``, which only changes scale, so its alignment is always 1.)
    """
    Z = torch.matmul(X, W1.transpose(1, 2))  # (K, P, N)
    return Z @ Z.transpose(1, 2) + W2.pow(2).sum((1, 2))[:, None, None] * (X @ X.T)


# --------------------------------------------------------------------------------------------
# The run


def probe_batch(params: Params, trainer: Trainer):
    """The fixed probe trials, sorted by class so the kernels show block structure.

    Returns inputs, targets and the class of each probe (rnn: 1 = left, 2 = right;
    linear: 1 if the teacher's output is positive, else 0).
    """
    W = trainer.W
    # Its own stream: the probes do not change when steps or batch size do (KA is noisy on
    # small probe batches, so they must stay fixed across ranks and checkpoints).
    gen = torch_generator(params.seed, W.device, STREAM_PROBE)
    P = params.probe_size
    if params.network == "rnn":
        x, labels, signed = two_af_batch(P, gen, W.device, W.dtype)
        cls = labels[-1].cpu().numpy()
        order = np.lexsort((-signed.cpu().numpy(), cls))  # by class, then by evidence
        idx = torch.as_tensor(order, device=W.device)
        return x[:, idx], labels[:, idx], cls[order]
    X, y = trainer.batch(P, gen)
    # Regression has no classes: order by the teacher's output, classes = its sign.
    order = np.argsort(y.cpu().numpy())
    idx = torch.as_tensor(order, device=W.device)
    return X[idx], y[idx], (y[idx] > 0).long().cpu().numpy()



def scale_sweep(params: Params, scales, seeds) -> dict:
    """The paper's classic control: laziness against the initial scale g at each rank.

    Runs ``params`` once per (g, seed) with ``init_scale = g``. Returns ``scales (S,)``, ``seeds``,
    ``ranks (K,)``, ``diverged (S, n_seeds)`` and, each ``(S, n_seeds, K)`` at the end of training
    (NaN where the run diverged), ``weight_change``, ``relative_weight_change``
    ``||W_T - W_0||_F / ||W_0||_F`` (relative, since ``||W_0||_F`` grows with g),
    ``kernel_alignment``, ``representation_alignment`` and ``accuracy``.
    """
    names = ("weight_change", "relative_weight_change", "kernel_alignment", "representation_alignment",
             "accuracy")
    ranks = ranks_for(params.hidden_size, params.n_ranks)
    shape = (len(scales), len(seeds), len(ranks))
    out = {name: np.full(shape, np.nan) for name in names}
    diverged = np.zeros(shape[:2], dtype=bool)
    for i, g in enumerate(scales):
        for j, seed in enumerate(seeds):
            try:
                *_, last = run(Params(**{**params.values(), "init_scale": float(g), "seed": int(seed)}))
            except DivergenceError:
                # A large g at a fixed learning rate can blow up (rank 1 first: all of the norm
                # sits in one singular value): a gap in the sweep, not the end of it.
                diverged[i, j] = True
                continue
            for name in names:
                out[name][i, j] = [last.metrics["by_rank"][str(r)][name] for r in ranks]
    return {"scales": np.asarray(scales, dtype=float), "seeds": np.asarray(seeds), "ranks": np.array(ranks),
            "diverged": diverged, **out}


def small_size_notice(params: Params) -> str:
    """A warning for rnn runs smaller than :data:`DIRECTION_SIZE`, "" otherwise."""
    small = any(getattr(params, name) < size for name, size in DIRECTION_SIZE.items())
    return SMALL_SIZE_NOTICE if params.network == "rnn" and small else ""


def _schedule(steps: int) -> tuple[list[int], set[int]]:
    """Logged steps (~N_FRAMES, the last included) and the kernel checkpoints among them."""
    # ceil(steps / N_FRAMES): ~100 frames whatever the length, enough for smooth curves.
    every = max(1, -(-steps // N_FRAMES))
    logged = list(range(every, steps + 1, every))
    if not logged or logged[-1] != steps:
        logged.append(steps)
    grid = np.array([0, *logged])
    # Checkpoints: the logged steps nearest to an even grid, so each lands on a frame.
    targets = np.linspace(0, steps, N_KERNELS)
    kernel = {int(grid[np.abs(grid - t).argmin()]) for t in targets}
    return logged, kernel


def run(params: Params) -> Iterator[RichLazyFrame]:
    """Train every rank side by side and yield a complete frame at each logged step."""
    trainer = make_trainer(params)
    ranks = np.array(trainer.ranks)
    K = len(ranks)
    logged, kernel_at = _schedule(params.steps)
    hint = f"{LOSS_HINT} (lr={params.lr:g}, init_scale={params.init_scale:g})"

    # Set-up: the probes, W_0's spectrum and the step-0 kernels that KA and RA compare against.
    probe, probe_targets, probe_labels = probe_batch(params, trainer)
    with torch.no_grad():
        sv_init = torch.linalg.svdvals(trainer.W0)  # (K, N)
        erank = to_host(_erank(sv_init))
        loss0, acc0 = trainer.loss_and_accuracy(probe, probe_targets)
    check_finite(loss0, step=0, what="training loss", hint=hint)
    K0_full, K0_sum, R0 = trainer.measure(probe)
    # Step 0 is the initial network on the probe batch; later points are training-batch means.
    hist = {"steps": [0], "loss": [to_host(loss0)], "acc": [to_host(acc0)], "dW": [np.zeros(K)],
            "dW_out": [np.zeros(K)]}
    # The scales of the relative changes: a readout that moves by its own size did the learning.
    norms = to_host(torch.linalg.matrix_norm(trainer.W0)), to_host(torch.linalg.matrix_norm(trainer.out0))
    notice = small_size_notice(params)
    kern = {"steps": [0], "KA": [np.ones(K)], "RA": [np.ones(K)]}
    # Frames hold host copies only, so the views never touch device tensors.
    sv_init_np, K0_np = to_host(sv_init), to_host(K0_sum)
    K_now_np = K0_np

    def frame(step, sv_now, metrics=None):
        return RichLazyFrame(
            step=step, total_steps=params.steps, metrics=metrics, network=params.network,
            ranks=ranks, effective_rank=erank,
            logged_steps=np.array(hist["steps"]), loss=np.array(hist["loss"]),
            accuracy=np.array(hist["acc"]), weight_change=np.array(hist["dW"]),
            weight_change_out=np.array(hist["dW_out"]), norm_init=norms[0], norm_out_init=norms[1],
            kernel_steps=np.array(kern["steps"]), kernel_alignment=np.array(kern["KA"]),
            representation_alignment=np.array(kern["RA"]),
            sv_init=sv_init_np, sv_now=sv_now, kernel_init=K0_np, kernel_now=K_now_np,
            probe_labels=probe_labels, notice=notice,
        )

    yield frame(0, sv_init_np)
    sv_now, pace = sv_init_np, Pacer()
    for step in logged:
        # Train up to the next logged step in paced chunks, so a long window still streams: an
        # interim frame shows the window so far as a provisional last point.
        window = []
        for n in pace.chunks(step - trainer.step):
            window.append(trainer.train_steps(n))
            if trainer.step < step and pace.due():
                yield _interim(frame(trainer.step, sv_now), window, trainer)
        loss, acc = (torch.cat(parts) for parts in zip(*window))  # (n, K) each
        # One host transfer per logged point, not per step.
        hist["steps"].append(step)
        hist["loss"].append(to_host(loss.mean(0)))
        hist["acc"].append(to_host(acc.mean(0)))
        hist["dW"].append(to_host(trainer.weight_change()))
        hist["dW_out"].append(to_host(trainer.weight_change_out()))
        # Weights can blow up a step before the loss shows it; the spectrum below needs them finite.
        check_finite(hist["dW"][-1], step=step, what="the trained weights", hint=hint)
        if step in kernel_at:  # ~10 per run: the kernel costs ~25 SGD steps at the defaults
            KT_full, KT_sum, RT = trainer.measure(probe)
            kern["steps"].append(step)
            kern["KA"].append(to_host(alignment(KT_full, K0_full)))
            kern["RA"].append(to_host(alignment(RT, R0)))
            K_now_np = to_host(KT_sum)
            del KT_full
        with torch.no_grad():  # the spectrum is cheap (a few ms at N = 100): every frame
            sv_now = to_host(torch.linalg.svdvals(trainer.W))
        metrics = _metrics(params, ranks, erank, hist, kern, norms) if step == params.steps else None
        yield frame(step, sv_now, metrics)
        pace.shown()


def _interim(base: RichLazyFrame, window, trainer: Trainer) -> RichLazyFrame:
    """``base`` plus a provisional point for the partial window since the last logged step."""
    loss, acc = (torch.cat(parts).mean(0) for parts in zip(*window))  # (K,) each
    return dataclasses.replace(
        base,
        logged_steps=np.append(base.logged_steps, trainer.step),
        loss=np.vstack([base.loss, to_host(loss)]),
        accuracy=np.vstack([base.accuracy, to_host(acc)]),
        weight_change=np.vstack([base.weight_change, to_host(trainer.weight_change())]),
        weight_change_out=np.vstack([base.weight_change_out, to_host(trainer.weight_change_out())]),
    )


def _metrics(params, ranks, erank, hist, kern, norms) -> dict:
    by_rank = {}
    norm, norm_out = norms
    for i, r in enumerate(ranks):
        dW, dW_out = float(hist["dW"][-1][i]), float(hist["dW_out"][-1][i])
        by_rank[str(int(r))] = {
            "effective_rank": float(erank[i]),
            "weight_change": dW,
            "relative_weight_change": dW / float(norm[i]),
            "weight_change_out": dW_out,
            "relative_weight_change_out": dW_out / float(norm_out[i]),
            "kernel_alignment": float(kern["KA"][-1][i]),
            "representation_alignment": float(kern["RA"][-1][i]),
            "final_loss": float(hist["loss"][-1][i]),
            "accuracy": float(hist["acc"][-1][i]),
        }
    return {"network": params.network, "by_rank": by_rank}

"""Smooth Diffusion: Crafting Smooth Latent Spaces in Diffusion Models.

Guo, Xu, Pu, Ni, Wang, Vasu, Song, Huang, Shi; CVPR 2024; arXiv:2312.04410.

Claim: Step-wise Variation Regularization (SVR) makes a diffusion model's latent space smooth:
equal steps between two noise latents give evenly paced images, so the interpolation standard
deviation (ISTD) falls (SD-1.5 38.63 -> 16.54 in the paper, FID 12.70 -> 12.10; lambda ablation
ISTD/FID 24.23/12.15 at lambda = 0.1, 16.54/12.11 at 1, 11.51/17.44 at 10; DDIM-inversion MSE
0.1756 -> 0.1086).

Reproduced here on scikit-learn's 8x8 digits; the claims are declared in
``paperscope/claims/smooth_diffusion.py`` and what they measured is recorded by
``paperscope verify smooth-diffusion --record`` in ``paperscope/claims/recorded/smooth_diffusion.json``.

Key equations (DDPM forward process ``x_t = alpha_t x_0 + sigma_t eps``, ``alpha_t = sqrt(abar_t)``,
``sigma_t = sqrt(1 - abar_t)``):

* base loss ``L_base = E ||eps_theta(x_t, t) - eps||^2``;
* one-step prediction as a function of the noise, ``x0_hat(eps) = (x_t(eps) - sigma_t
  eps_theta(x_t(eps), t)) / alpha_t``: the noise is made differentiable *before* x_t is formed, so
  the derivative flows through the explicit ``sigma_t eps`` path and through the network;
* SVR (paper Eq. 9-10, repo function ``step_regularize``): ``u ~ N(0, I) / sqrt(D)``,
  ``g = grad_eps <x0_hat(eps), sigma_t u>`` (one vector-Jacobian product with create_graph),
  ``v = ||g||`` per sample, running target ``a <- a + decay (mean_batch v - a)`` (a starts at 0;
  the updated, not yet detached value enters the penalty), ``L_reg = mean_batch (v - a)^2``,
  total ``L = L_base + lambda L_reg``. A minimiser has ``J J^T = K I`` (a scaled orthogonal
  Jacobian of x0_hat w.r.t. eps), i.e. the same output/input variation ratio for every latent;
* ISTD (paper Sec. 4.1): for each of P fixed latent pairs (z_A, z_B), 11 latents
  ``slerp(z_A, z_B; a)``, a = 0, 0.1, ..., 1, generated with DDIM (eta = 0); the 10 adjacent
  pixel distances ``d_j = ||x^(j) - x^(j-1)||_2``; ``ISTD = mean_pairs std_j(d_j)``;
* DDIM (eta = 0) step t -> s: ``x0_hat = (x_t - sigma_t eps_theta) / alpha_t``,
  ``x_s = alpha_s x0_hat + sigma_s eps_theta``; DDIM inversion runs the same map upwards with
  ``eps_theta`` evaluated at the lower noise level.

Checked against the sources (the spec marked nothing [unverified]; each item was still checked):

* confirmed against the public code (``SHI-Labs/Smooth-Diffusion``, ``train_smooth_diffusion.py``):
  ``noise.requires_grad_(True)`` before ``add_noise``; ``step_regularize(fake_img, noise, ...)``
  with the projection ``randn / sqrt(C H W) * sqrt(1 - abar_t)``, ``v = sqrt(sum grad^2)``, the
  EMA with decay 0.01 from 0 whose undetached update enters the penalty; ``loss + lambda_reg *
  reg_loss`` with ``--lambda_reg`` default 1.0. The author list is from the arXiv/CVF pages.
* not checked: the ISTD text of Sec. 4.1 and the table numbers quoted above (the paper's full
  text was not reachable offline); they follow the lab spec. ISTD uses the population standard
  deviation (numpy's default, ddof = 0), an assumption. Not copied from the repo: its gradient
  clipping (max norm 1), AdamW weight decay and the SD/LoRA setting.

What this module implements (CPU-sized; the same code runs on CUDA):

* data: the 1797 8x8 digits of ``sklearn.datasets.load_digits`` (read from the package's data
  file), scaled to [-1, 1] (D = 64); images are shown and measured on the digits' 0..16 scale;
* eps-network: MLP [64 + 32-dim sinusoidal t-embedding] -> H -> H -> H -> 64, SiLU (weights with
  a leading model axis, so several models run as one batched model); schedule T = 200, linear beta
  from 1e-4 (1000/T) to 0.02 (1000/T); Adam with cosine decay. The lambda = 0 baseline is always
  trained alongside the lambda model on the same digits, noise, projections and initial weights
  (on a CPU as two models stepped together, elsewhere as one batched pair: the same numbers);
* ``mode="finetune"`` (default, the paper's setting in miniature): a lambda = 0 model is
  pre-trained once (cached), then LoRA adapters (rank 8 on every layer, base frozen, as the
  paper's Smooth-LoRA) are fine-tuned at lambda = 0 (the baseline) and at the chosen lambda for
  the same number of steps; ``mode="scratch"``: both models trained from scratch (the spec's toy);
* metrics on a fixed evaluation set (the same latent pairs for every lambda and seed): ISTD,
  mean adjacent distance, CV = std/mean of d_j (per pair, averaged) and the path length sum_j d_j
  (ISTD is scale-dependent: a shorter path alone lowers it); sample quality as an FID-like score
  (the Frechet distance between Gaussian fits of a small digit classifier's hidden features of
  samples and of real digits, the paper's FID in miniature) and that classifier's confidence on
  samples, next to the older proxy (RMS pixel distance to the nearest training digit, which
  rewards blur); the DDIM-inversion round-trip MSE of 64 real digits ([-1, 1] scale) and the
  distribution of v;
* a collapse check: a model whose samples went NaN, drifted far from every digit (quality proxy
  > 2x the baseline's), stopped denoising (diffusion loss > 2x the baseline's: with Adam a huge
  lambda means "the penalty alone") or whose samples all look alike gets ``collapsed = True`` and
  a warning instead of an ISTD that would be read as smoothness;
* trained models are kept in the framework's memo (``core.memo``: bounded LRU, held while the
  sessions that used them live) per training configuration, seed and device, so an
  evaluation-only knob (DDIM steps, slerp/lerp, pairs, samples) only re-evaluates, a new lambda
  trains only its own model, and the trade-off curve collects every kept lambda.

Sizes: ``Params`` declares the defaults and ``Params.QUICK`` the first-paint sizes; the spec's toy
(batch 256, lr 1e-3, 1500 steps from scratch) is reachable through the knobs.

Claims (lambda = 0.3 against lambda = 0 on the same latent pairs and budget, from scratch and
fine-tuned): C1 ISTD falls, C2 the scale-free CV falls, C3 no sample-quality loss in the
FID-like score (fine-tune mode only), C4 the inversion error falls; the recorded verify run says
which hold. Not asserted: "no quality loss" in general (large lambda collapses) and monotonicity
of ISTD in lambda.
"""

import importlib.util
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import param
import torch
import torch.nn.functional as F

from paperscope.core.device import resolve_device
from paperscope.core.errors import PaperscopeError
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.memo import Memo
from paperscope.core.optim import Adam
from paperscope.core.pacing import Interval, Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="smooth-diffusion",
    title="Smooth latent spaces in diffusion models",
    paper_title="Smooth Diffusion: Crafting Smooth Latent Spaces in Diffusion Models",
    authors="Guo, Xu, Pu, Ni, Wang, Vasu, Song, Huang, Shi",
    venue="CVPR 2024",
    arxiv="2312.04410",
    claim=("Step-wise Variation Regularization makes equal latent steps give evenly paced images: "
           "the interpolation standard deviation (ISTD) falls; too large a λ costs sample quality."),
    equations=(
        r"\hat x_0(\epsilon) = \big(x_t(\epsilon) - \sigma_t \epsilon_\theta(x_t(\epsilon), t)\big) / \alpha_t",
        (r"v = \big\|\nabla_\epsilon \langle \hat x_0(\epsilon), \sigma_t u \rangle\big\|,\quad u \sim"
         r" \mathcal N(0, I) / \sqrt D"),
        (r"L = \mathbb E \|\epsilon_\theta(x_t, t) - \epsilon\|^2 + \lambda"
         r" \operatorname{mean}_{\text{batch}} (v - a)^2"),
        r"\mathrm{ISTD} = \operatorname{mean}_{\text{pairs}} \operatorname{std}_j \|x^{(j)} - x^{(j-1)}\|_2",
    ),
    topics=("diffusion", "generative models"),
    checked=("SVR (noise made differentiable before x_t, the σ_t-scaled projection, the EMA target) is "
             "checked against the public code SHI-Labs/Smooth-Diffusion; the ISTD definition and the "
             "paper's table numbers follow the lab spec (the full text was not readable offline)."),
)

D = 64  # 8 x 8 pixels
SIDE = 8
PIXEL_MAX = 16.0  # the digits' native 0..16 scale, where distances are measured
T_STEPS = 200
EMB_DIM = 32
N_FRAMES = 11  # mix ratios 0, 0.1, ..., 1
N_SHOW = 4  # latent pairs shown as filmstrips
N_INVERT = 64  # real digits in the DDIM-inversion round trip
N_V = 512  # (x0, t, eps, u) draws for the distribution of v
N_V_BINS = 30
N_T_BINS = 10
LORA_RANK = 8  # train.sh of the public code: LoRA rank 8
EVAL_SEED = 20231207  # the fixed evaluation set (pairs, sample latents, digits) for every run
INTERIM_EVAL_S = (0.6, 1.5)  # first interim filmstrip after 0.6 s of training, then every 1.5 s
INTERIM_PAIRS, INTERIM_DDIM = 16, 10  # interim ISTD: few pairs, few DDIM steps
N_LOG = 300  # logged training points per phase
CACHE_SIZE = 12  # trained models kept in the memo
# A model is ~0.2 MB at H = 128 but ~137 MB at H = 4096: bound the bytes too, so twelve wide
# models cannot fill a GPU shared by a workshop.
CACHE_BYTES = 1 << 30
COLLAPSE_QUALITY = 2.0  # quality proxy this many times the baseline's: collapsed
COLLAPSE_LOSS = 2.0  # final diffusion loss this many times the baseline's: collapsed
COLLAPSE_DIVERSITY = 0.3  # sample spread below this fraction of the data's: collapsed

# Seed streams: one per purpose, so changing one size never reshuffles another draw.
STREAM_INIT, STREAM_DATA, STREAM_PROJ, STREAM_LORA, STREAM_FT_DATA, STREAM_FT_PROJ = range(6)
STREAM_PAIRS, STREAM_SAMPLES, STREAM_DIGITS, STREAM_V = range(10, 14)

MODE_LABELS = {"scratch": "trained from scratch",
               "finetune": "LoRA fine-tune of a pretrained λ = 0 model"}


class Params(LabParams):
    """Hyperparameters of the Smooth Diffusion lab.

    The defaults are the lab's own CPU sizes, not the spec's toy (batch 256, lr 1e-3, 1500
    steps, reachable through the knobs; ``paperscope verify`` runs it). Each knob's default is
    its declaration below; ``QUICK`` (first paint, tests) overrides a few of them. The width is
    the spec's: narrower nets at these budgets sample speckle, not digits.
    """

    reg_weight = param.Number(
        0.3, bounds=(0, 100), softbounds=(0.01, 3),
        doc=("λ, the weight of the Step-wise Variation Regularization (L = L_base + λ L_reg; 0 turns it "
             "off; the paper uses 1 for SD-1.5). Its effect is roughly logarithmic: try 0.01, 0.1, 0.3, "
             "1, 3. A λ = 0 baseline is always trained alongside for comparison"),
    )
    ema_decay = param.Number(
        0.01, bounds=(1e-4, 1.0), softbounds=(0.001, 0.1),
        doc="Decay of the running target a <- a + decay (mean v - a) that v is pulled towards (paper code: 0.01)",
    )
    mode = param.Selector(
        default="finetune", objects=["finetune", "scratch"],
        doc=("finetune: the paper's setting: a λ = 0 model is pre-trained for train_steps (once: it is "
             "cached), then rank-8 LoRA adapters are fine-tuned for finetune_steps at λ = 0 (the baseline) "
             "and at the chosen λ. scratch: the λ = 0 baseline and the λ model are both trained from "
             "scratch for train_steps (the lab spec's toy; slower and harder on sample quality)"),
    )
    train_steps = param.Integer(
        2000, bounds=(1, 100000), softbounds=(100, 3000),
        doc="Adam steps from scratch (cosine-decayed learning rate); the pre-training in finetune mode",
    )
    finetune_steps = param.Integer(
        500, bounds=(1, 100000), softbounds=(50, 2000),
        doc="LoRA fine-tuning steps (finetune mode only)",
    )
    ddim_steps = param.Integer(
        25, bounds=(2, 200), softbounds=(5, 50),
        doc="DDIM (η = 0) sampling and inversion steps; evaluation only, no retraining",
    )
    interpolation = param.Selector(
        default="slerp", objects=["slerp", "lerp"],
        doc=("How latents between a pair are formed (evaluation only): slerp keeps the Gaussian norm; "
             "lerp shrinks it mid-path, which gives faint middle frames"),
    )
    hidden = param.Integer(
        256, bounds=(8, 4096), softbounds=(64, 512),
        doc="Width H of the three hidden layers (narrower nets sample speckle at these step counts)",
    )
    batch_size = param.Integer(128, bounds=(1, 8192), softbounds=(64, 512), doc="Digits per training step")
    lr = param.Number(
        2e-3, bounds=(0, 1), inclusive_bounds=(False, True), softbounds=(1e-4, 1e-2),
        doc="Adam learning rate at the start of each phase (cosine decay to 0)",
    )
    n_pairs = param.Integer(
        64, bounds=(1, 2000), softbounds=(8, 500),
        doc="Fixed latent pairs ISTD averages over (the paper: 500 prompts); evaluation only",
    )
    n_samples = param.Integer(
        500, bounds=(10, 10000), softbounds=(100, 2000),
        doc=("Samples for the quality scores (the FID-like score in a digit classifier's features, its "
             "confidence, the RMS distance to the nearest training digit); evaluation only"),
    )

    # The quick sizes keep the full width and the default DDIM steps (a narrower net's first
    # filmstrips were speckle, not digits) and halve pre-training.
    LOG_SCALE: ClassVar[tuple] = ("reg_weight",)
    QUICK: ClassVar[dict] = {"train_steps": 1000, "finetune_steps": 200, "ddim_steps": 25, "n_pairs": 16,
                             "n_samples": 200}


TRAINING_KNOBS = ("mode", "train_steps", "finetune_steps", "hidden", "batch_size", "lr")
EVAL_KNOBS = ("ddim_steps", "interpolation", "n_pairs", "n_samples")


@dataclass(frozen=True, kw_only=True)
class SmoothFrame(Frame):
    """A complete snapshot of one run: the λ = 0 baseline (index 0) against the chosen λ (index 1).

    Shapes: L logged training steps, S = 4 shown pairs, F = 11 frames, E interim evaluations,
    M models on the trade-off curve. Images are on the digits' 0..16 scale, ``(8, 8)`` with row 0
    the top pixel row. ``metrics`` (last frame) holds istd, mean_distance, cv,
    path_length, quality, fid, sample_confidence, confident_fraction, inversion_mse (the chosen
    λ), the same with ``_baseline`` for λ = 0, reg_weight, istd_ratio, cv_ratio, fid_ratio, the
    real digits' quality_reference, fid_reference and sample_confidence_reference, collapsed and
    warning.
    """

    mode: str
    mode_label: str
    phase: str
    notice: str
    reg_weight: float
    collapsed: bool
    log_steps: np.ndarray  # (L,)
    loss_base: np.ndarray  # (L, 2) L_base
    loss_reg: np.ndarray  # (L, 2) L_reg (the baseline's is measured, not optimised; NaN if not measured)
    target_a: np.ndarray  # (L, 2) running target a (NaN where not regularised)
    v_mean: np.ndarray  # (L, 2) batch mean of v
    eval_label: str  # what the filmstrips show ("interim, step 400, 10 DDIM steps" / "final")
    filmstrip: np.ndarray  # (2, S, F, 8, 8)
    distances: np.ndarray  # (2, S, F - 1) d_j of the shown pairs
    profile: np.ndarray  # (2, F - 1) mean d_j over all evaluated pairs
    istd_steps: np.ndarray  # (E,) training step of each interim evaluation
    istd_trace: np.ndarray  # (E, 2)
    trade_lambda: np.ndarray  # (M,) λ of every cached model with these settings
    trade_istd: np.ndarray  # (M,)
    trade_cv: np.ndarray  # (M,)
    trade_quality: np.ndarray  # (M,)
    trade_fid: np.ndarray  # (M,) the classifier's FID-like score
    quality_reference: float  # the same proxy for real digits (leave-one-out nearest neighbour)
    fid_reference: float  # the FID-like score of as many real digits as samples (its finite-sample floor)
    v_bins: np.ndarray  # (N_V_BINS,) geometric bin centres
    v_hist: np.ndarray  # (N_V_BINS, 2) fraction of v per log-spaced bin, on a fixed batch
    v_t: np.ndarray  # (N_T_BINS,) timestep bin centres
    v_median: np.ndarray  # (N_T_BINS, 2) median v per timestep bin


# --------------------------------------------------------------------------------------------
# Data, noise schedule, time embedding


@lru_cache(maxsize=1)
def _digits_table() -> np.ndarray:
    """scikit-learn's ``load_digits`` as one ``(1797, 65)`` table: 64 pixels (0..16), then the label.

    Read straight from the package's data file (importing scikit-learn takes ~1 s, which would
    delay the first frame); scikit-learn's own loader is the fallback.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise PaperscopeError("this lab needs scikit-learn for its 8x8 digits: pip install scikit-learn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        return np.loadtxt(path, delimiter=",", dtype=np.float64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.column_stack([np.asarray(digits.data, dtype=np.float64), digits.target])


def digits_pixels() -> np.ndarray:
    """The 1797 digits of scikit-learn's ``load_digits``, ``(1797, 64)`` on the 0..16 scale."""
    return _digits_table()[:, :D]


def digits_labels() -> np.ndarray:
    """The class (0..9) of each digit, ``(1797,)``."""
    return _digits_table()[:, D].astype(int)


def to_model_scale(pixels):
    """0..16 pixels -> the model's [-1, 1]."""
    return pixels / (PIXEL_MAX / 2) - 1


def to_pixels(x):
    """Model outputs -> 0..16 pixels, clipped like any decoded image."""
    return (x.clamp(-1, 1) + 1) * (PIXEL_MAX / 2)


@dataclass(frozen=True)
class Schedule:
    """``alpha_t = sqrt(abar_t)`` and ``sigma_t = sqrt(1 - abar_t)``, each ``(T,)``."""

    alpha: torch.Tensor
    sigma: torch.Tensor

    @property
    def T(self) -> int:
        return self.alpha.shape[0]


def make_schedule(T: int = T_STEPS, device="cpu", dtype=torch.float32) -> Schedule:
    """Linear betas from 1e-4 (1000/T) to 0.02 (1000/T) (DDPM's range, rescaled to T steps)."""
    beta = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
    abar = torch.cumprod(1 - beta, 0)
    return Schedule(abar.sqrt().to(device, dtype), (1 - abar).sqrt().to(device, dtype))


def timestep_embedding(t: torch.Tensor, dim: int = EMB_DIM) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps ``(B,) -> (B, dim)`` (Transformer/DDPM style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angle = t.to(torch.float32)[:, None] * freqs
    return torch.cat([angle.sin(), angle.cos()], -1)


# --------------------------------------------------------------------------------------------
# The eps-network: K stacked MLPs (optionally with LoRA adapters)


@dataclass(eq=False)
class EpsMLP:
    """K eps-prediction MLPs side by side: [x, emb(t)] -> H -> H -> H -> D, SiLU.

    ``weights[l]`` is ``(K, in, out)`` and ``biases[l]`` ``(K, 1, out)``. With LoRA adapters the
    effective weight is ``W + A B`` (``A (K, in, r)``, ``B (K, r, out)``); only A and B train.
    """

    weights: list
    biases: list
    lora_A: list | None = None
    lora_B: list | None = None

    @property
    def K(self) -> int:
        return self.weights[0].shape[0]

    @property
    def hidden(self) -> int:
        return self.weights[0].shape[2]

    def trainable(self) -> list:
        if self.lora_A is not None:
            return [*self.lora_A, *self.lora_B]
        return [*self.weights, *self.biases]

    def effective_weights(self) -> list:
        if self.lora_A is None:
            return self.weights
        return [W + A @ B for W, A, B in zip(self.weights, self.lora_A, self.lora_B)]

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x (K, B, D)``, integer ``t (B,)`` shared by the K models -> ``eps (K, B, D)``."""
        K, B, _ = x.shape
        emb = timestep_embedding(t).to(x.dtype)  # (B, EMB_DIM)
        h = torch.cat([x, emb.expand(K, B, EMB_DIM)], -1)  # (K, B, D + EMB_DIM)
        Ws = self.effective_weights()
        for i, (W, b) in enumerate(zip(Ws, self.biases)):
            h = torch.baddbmm(b, h, W)  # (K, B, out)
            if i < len(Ws) - 1:
                h = F.silu(h)
        return h

    def member(self, k: int) -> "EpsMLP":
        """A detached copy of model k alone (K = 1), LoRA merged into its weights."""
        return EpsMLP([W[k:k + 1].detach().clone() for W in self.effective_weights()],
                      [b[k:k + 1].detach().clone() for b in self.biases])

    @staticmethod
    def stack(members: list["EpsMLP"]) -> "EpsMLP":
        """Plain models (no LoRA) side by side as one batched model."""
        return EpsMLP([torch.cat(ws) for ws in zip(*(m.weights for m in members))],
                      [torch.cat(bs) for bs in zip(*(m.biases for m in members))])


def init_mlp(hidden: int, gen: torch.Generator, K: int = 1, device="cpu", dtype=torch.float32) -> EpsMLP:
    """K copies of one seeded initialisation (torch.nn.Linear's default uniform bounds)."""
    sizes = [D + EMB_DIM, hidden, hidden, hidden, D]
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        W = (torch.rand(1, fan_in, fan_out, generator=gen, device=device, dtype=dtype) * 2 - 1) * bound
        b = (torch.rand(1, 1, fan_out, generator=gen, device=device, dtype=dtype) * 2 - 1) * bound
        # Every model starts from the same weights: only lambda differs between them.
        weights.append(W.repeat(K, 1, 1).requires_grad_(True))
        biases.append(b.repeat(K, 1, 1).requires_grad_(True))
    return EpsMLP(weights, biases)


def with_lora(base: EpsMLP, K: int, gen: torch.Generator, rank: int = LORA_RANK) -> EpsMLP:
    """K LoRA fine-tunes of one frozen model: ``A ~ N(0, 1/r^2)`` (the same draw for all K),
    ``B = 0``, so every fine-tune starts exactly at the base model (diffusers' LoRA layer init)."""
    Ws = [W.detach()[:1].expand(K, -1, -1) for W in base.weights]
    bs = [b.detach()[:1].expand(K, -1, -1) for b in base.biases]
    A = [(torch.randn(1, W.shape[1], rank, generator=gen, device=W.device, dtype=W.dtype) / rank)
         .repeat(K, 1, 1).requires_grad_(True) for W in Ws]
    B = [torch.zeros(K, rank, W.shape[2], device=W.device, dtype=W.dtype, requires_grad=True) for W in Ws]
    return EpsMLP(Ws, bs, A, B)


# --------------------------------------------------------------------------------------------
# Step-wise Variation Regularization


def step_variation(net: EpsMLP, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, u: torch.Tensor | None,
                   sched: Schedule, create_graph: bool):
    """One training snapshot: ``L_base (K,)`` and the SVR statistic ``v (K, B)`` (or None).

    ``x0 (B, D)``, ``t (B,)``, ``eps (B, D)`` are shared by the K models; ``u (B, D)`` is the
    random direction ``N(0, I)/sqrt(D)`` (None: no v). ``v = ||grad_eps <x0_hat(eps), sigma_t u>||``
    = ``||sigma_t J^T u||`` with ``J = d x0_hat / d eps``.
    """
    K, (B, _) = net.K, x0.shape
    alpha, sigma = sched.alpha[t, None], sched.sigma[t, None]  # (B, 1)
    # One copy of the noise per model, made a leaf *before* x_t is formed, so the Jacobian holds
    # the explicit sigma_t eps path as well as the network's (the paper code's requires_grad_).
    E = eps.expand(K, B, D).clone().requires_grad_(u is not None)
    x_t = alpha * x0 + sigma * E  # x_t = alpha_t x_0 + sigma_t eps, (K, B, D)
    eps_pred = net(x_t, t)  # eps_theta(x_t, t)
    L_base = (eps_pred - eps).pow(2).mean((1, 2))  # L_base = E ||eps_theta - eps||^2, (K,)
    if u is None:
        return L_base, None
    x0_hat = (x_t - sigma * eps_pred) / alpha  # x0_hat = (x_t - sigma_t eps_theta) / alpha_t, (K, B, D)
    # g = grad_eps <x0_hat(eps), sigma_t u> = sigma_t J^T u: one vector-Jacobian product, kept in the
    # graph when training (create_graph) so the penalty on v can be differentiated (a double backward)
    (g,) = torch.autograd.grad((x0_hat * (sigma * u)).sum(), E, create_graph=create_graph, retain_graph=True)
    v = g.pow(2).sum(-1).sqrt()  # v = ||g||, (K, B), as the repo's sqrt(sum grad^2)
    return L_base, v


def svr_penalty(v: torch.Tensor, a: torch.Tensor, decay: float):
    """``L_reg (K,)`` and the new running target ``a (K,)`` (not detached: the caller detaches).

    ``a_new = a + decay (mean_batch v - a)``; ``L_reg = mean_batch (v - a_new)^2``: the paper
    code's ``step_regularize`` (paper Eq. 9-10), where the updated target enters the penalty with
    its gradient.
    """
    a_new = a + decay * (v.mean(1) - a)
    return (v - a_new[:, None]).pow(2).mean(1), a_new


class Trainer:
    """K eps-models trained side by side on one data stream; model k has weight ``lambdas[k]``.

    Every model sees the same digits, timesteps, noise and projection directions, so a model
    gets the same updates whether it is trained alone or in a pair (see the tests).
    """

    def __init__(self, net: EpsMLP, lambdas, *, X: torch.Tensor, sched: Schedule, batch_size: int,
                 lr: float, steps: int, ema_decay: float, data_gen: torch.Generator,
                 proj_gen: torch.Generator, monitor_every: int = 10):
        self.net, self.X, self.sched = net, X, sched
        self.lam = torch.tensor([float(v) for v in lambdas], device=X.device, dtype=X.dtype)  # (K,)
        self.regularise = bool((self.lam > 0).any())
        self.batch_size, self.lr, self.steps, self.decay = batch_size, lr, steps, ema_decay
        self.data_gen, self.proj_gen = data_gen, proj_gen
        self.monitor_every = monitor_every
        self.opt = Adam(net.trainable(), lr)
        self.a = torch.zeros(net.K, device=X.device, dtype=X.dtype)  # a starts at 0 (paper code)
        self.v_last = torch.full((net.K,), float("nan"), device=X.device, dtype=X.dtype)
        self.reg_last = self.v_last.clone()
        self.step = 0

    def lr_at(self, step: int) -> float:
        return self.lr * 0.5 * (1 + math.cos(math.pi * step / max(1, self.steps)))

    def train_steps(self, n: int) -> torch.Tensor:
        """``n`` Adam steps of all K models; returns ``(n, 4, K)``: L_base, L_reg, a, mean v.

        Without regularisation v is measured every ``monitor_every`` steps only (it costs an extra
        backward pass) and L_reg, a and v repeat their latest measured values.
        """
        return torch.stack([self._train_step() for _ in range(n)])

    def _train_step(self) -> torch.Tensor:
        """One Adam step on ``L = L_base + lambda L_reg`` (per model; the K losses are summed, their
        gradients do not mix); returns ``(4, K)``: L_base, L_reg, a, mean v."""
        x0, t, eps, u = self._draw()
        L_base, v = step_variation(self.net, x0, t, eps, u, self.sched, self.regularise)
        loss = L_base.sum()
        if self.regularise:
            L_reg, a_new = svr_penalty(v, self.a, self.decay)  # a <- a + decay (mean v - a)
            loss = loss + (self.lam * L_reg).sum()  # L = L_base + lambda L_reg
            self.a, self.reg_last = a_new.detach(), L_reg.detach()
        elif v is not None:  # monitoring only: the penalty it would pay, EMA stretched over the gap
            decay = 1 - (1 - self.decay) ** self.monitor_every
            L_reg, a_new = svr_penalty(v.detach(), self.a, decay)
            self.a, self.reg_last = a_new, L_reg
        if v is not None:
            self.v_last = v.detach().mean(1)
        self.opt.lr = self.lr_at(self.step)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1
        return torch.stack([L_base.detach(), self.reg_last, self.a, self.v_last])

    def _draw(self) -> tuple:
        """The step's batch, shared by the K models: digits ``x0 (B, D)``, timesteps ``t (B,)``,
        noise ``eps (B, D)`` and, where v is measured, the direction ``u ~ N(0, I)/sqrt(D) (B, D)``
        (from its own stream, so measuring v or not never changes the digits and noise drawn)."""
        B, N, dev, dtype = self.batch_size, self.X.shape[0], self.X.device, self.X.dtype
        idx = torch.randint(N, (B,), generator=self.data_gen, device=dev)
        t = torch.randint(self.sched.T, (B,), generator=self.data_gen, device=dev)
        eps = torch.randn(B, D, generator=self.data_gen, device=dev, dtype=dtype)
        measure = self.regularise or self.step % self.monitor_every == 0
        u = torch.randn(B, D, generator=self.proj_gen, device=dev, dtype=dtype) / math.sqrt(D) if measure else None
        return self.X[idx], t, eps, u

    def release(self) -> None:
        self.opt = None
        self.net = self.X = None


class TrainerGroup:
    """Several trainers stepped together and seen as one: model k of the group is model k of the
    concatenated trainers. On a CPU the λ = 0 baseline and the λ model train as two trainers (the
    baseline skips the double backward: 1.3x faster here, ``paperscope bench smooth-diffusion``);
    elsewhere as one batched pair."""

    def __init__(self, trainers: list):
        self.trainers = trainers
        self._where = [(tr, k) for tr in trainers for k in range(tr.net.K)]

    @property
    def step(self) -> int:
        return self.trainers[0].step

    @property
    def regularise(self) -> bool:
        return any(tr.regularise for tr in self.trainers)

    def train_steps(self, n: int) -> torch.Tensor:
        return torch.cat([tr.train_steps(n) for tr in self.trainers], dim=2)  # (n, 4, K)

    def member(self, k: int) -> EpsMLP:
        tr, i = self._where[k]
        return tr.net.member(i)

    def release(self) -> None:
        for tr in self.trainers:
            tr.release()


# --------------------------------------------------------------------------------------------
# DDIM sampling and inversion, interpolation, ISTD


def ddim_timesteps(steps: int, T: int = T_STEPS) -> list[int]:
    """``steps`` timesteps from 0 to T - 1, evenly spaced and ascending (fewer if they round together)."""
    return sorted({int(round(v)) for v in np.linspace(0, T - 1, max(2, int(steps)))})


def _t(x: torch.Tensor, t: int) -> torch.Tensor:
    return torch.full((x.shape[1],), t, device=x.device, dtype=torch.long)


@torch.no_grad()
def ddim_sample(net: EpsMLP, z: torch.Tensor, sched: Schedule, taus: list[int]) -> torch.Tensor:
    """DDIM (eta = 0) from latents ``z (K, N, D)`` at ``taus[-1]`` down to x_0 ``(K, N, D)``."""
    x = z
    for i in range(len(taus) - 1, -1, -1):
        t = taus[i]
        eps = net(x, _t(x, t))
        x0_hat = (x - sched.sigma[t] * eps) / sched.alpha[t]
        if i == 0:
            return x0_hat
        s = taus[i - 1]
        x = sched.alpha[s] * x0_hat + sched.sigma[s] * eps
    return x


@torch.no_grad()
def ddim_invert(net: EpsMLP, x0: torch.Tensor, sched: Schedule, taus: list[int]) -> torch.Tensor:
    """DDIM inversion: the sampler's map run upwards from clean ``x0 (K, N, D)`` to ``taus[-1]``,
    with eps evaluated at the lower noise level (at ``taus[0]`` for the clean input)."""
    x, alpha_s, sigma_s = x0, 1.0, 0.0
    for i, t in enumerate(taus):
        s = taus[i - 1] if i > 0 else taus[0]
        eps = net(x, _t(x, s))
        x0_hat = (x - sigma_s * eps) / alpha_s
        x = sched.alpha[t] * x0_hat + sched.sigma[t] * eps
        alpha_s, sigma_s = sched.alpha[t], sched.sigma[t]
    return x


def interpolate(zA: torch.Tensor, zB: torch.Tensor, n_frames: int = N_FRAMES, kind: str = "slerp") -> torch.Tensor:
    """Latents between each pair: ``zA, zB (P, D) -> (P, n_frames, D)`` at ratios 0, 1/(n-1), ..., 1.

    slerp: ``[sin((1 - a) theta) zA + sin(a theta) zB] / sin(theta)``, ``cos(theta) = <zA, zB> / (|zA| |zB|)``.
    """
    w = torch.linspace(0, 1, n_frames, device=zA.device, dtype=zA.dtype)[None, :, None]  # (1, F, 1)
    A, B = zA[:, None], zB[:, None]  # (P, 1, D)
    if kind == "lerp":
        return (1 - w) * A + w * B
    if kind != "slerp":
        raise ValueError(f"unknown interpolation {kind!r}")
    cos = (A * B).sum(-1, keepdim=True) / (A.norm(dim=-1, keepdim=True) * B.norm(dim=-1, keepdim=True))
    theta = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - w) * theta) * A + torch.sin(w * theta) * B) / torch.sin(theta)


def adjacent_distances(frames: torch.Tensor) -> torch.Tensor:
    """``d_j = ||x^(j) - x^(j-1)||_2`` over the last axis: ``(..., F, D) -> (..., F - 1)``."""
    return (frames[..., 1:, :] - frames[..., :-1, :]).norm(dim=-1)


def istd(d: torch.Tensor) -> torch.Tensor:
    """ISTD: the (population) std over adjacent distances, averaged over pairs, ``(..., P, F-1) -> (...)``."""
    return d.std(-1, unbiased=False).mean(-1)


def coefficient_of_variation(d: torch.Tensor) -> torch.Tensor:
    """std/mean of the adjacent distances per pair, averaged over pairs (scale-free smoothness)."""
    return (d.std(-1, unbiased=False) / d.mean(-1).clamp_min(1e-12)).mean(-1)


def nearest_rms(samples: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Per-pixel RMS distance of each sample to its nearest data point: ``(K, N, D), (M, D) -> (K, N)``."""
    K, N, _ = samples.shape
    dist = torch.cdist(samples.reshape(K * N, D).double(), data.double())  # (K N, M)
    return (dist.min(-1).values / math.sqrt(D)).view(K, N).to(samples.dtype)


def mean_pairwise_rms(x: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel RMS distance between distinct rows, ``(K, N, D) -> (K,)`` (sample spread)."""
    N = x.shape[1]
    dist = torch.cdist(x.double(), x.double()) / math.sqrt(D)  # (K, N, N)
    return (dist.sum((1, 2)) / (N * (N - 1))).to(x.dtype)


@lru_cache(maxsize=1)
def data_reference() -> tuple[float, float]:
    """For the real digits: mean leave-one-out nearest-neighbour RMS distance (what the quality
    proxy gives for real digits) and the mean pairwise RMS distance (their spread)."""
    X = torch.as_tensor(digits_pixels())
    dist = torch.cdist(X, X) / math.sqrt(D)  # (N, N), float64
    N = X.shape[0]
    spread = float(dist.sum() / (N * (N - 1)))
    dist.fill_diagonal_(float("inf"))
    return float(dist.min(1).values.mean()), spread


# --------------------------------------------------------------------------------------------
# Sample quality in a digit classifier's feature space (an FID-like score, as the paper's FID
# uses Inception features): the nearest-digit RMS proxy rewards blur, features do not.


@dataclass(frozen=True, eq=False)
class DigitClassifier:
    """A 64 -> H -> 10 MLP (ReLU) trained on scikit-learn's digits, float64 on the CPU.

    ``features`` are its penultimate (hidden) activations; ``mu``/``cov`` their Gaussian fit over
    all 1797 real digits (the reference an FID compares against); ``held_out`` the digits it never
    trained on and ``test_accuracy`` its accuracy there.
    """

    W1: torch.Tensor  # (D, H)
    b1: torch.Tensor  # (H,)
    W2: torch.Tensor  # (H, 10)
    b2: torch.Tensor  # (10,)
    held_out: np.ndarray  # indices of the held-out digits
    test_accuracy: float
    mu: np.ndarray  # (H,) feature mean of the real digits
    cov: np.ndarray  # (H, H) feature covariance of the real digits

    def features(self, pixels) -> np.ndarray:
        """Penultimate activations of 0..16 images ``(N, D) -> (N, H)``."""
        x = torch.as_tensor(np.asarray(pixels, dtype=np.float64)) / PIXEL_MAX
        return torch.relu(x @ self.W1 + self.b1).numpy()

    def probabilities(self, pixels) -> np.ndarray:
        """Class probabilities of 0..16 images ``(N, D) -> (N, 10)``."""
        h = torch.as_tensor(self.features(pixels))
        return torch.softmax(h @ self.W2 + self.b2, -1).numpy()


CLASSIFIER_HIDDEN, CLASSIFIER_STEPS, CLASSIFIER_LR, CLASSIFIER_DECAY = 64, 150, 2e-2, 1e-4
HELD_OUT = 0.2  # fraction of the digits the classifier never sees (its test accuracy)
CONFIDENT = 0.9  # a sample counts as a confident digit above this top-class probability


@lru_cache(maxsize=1)
def digit_classifier() -> DigitClassifier:
    """Train the classifier once per process (full-batch Adam in float64 from a fixed seed, about
    a second): deterministic, so every run and every λ is scored by the same features."""
    pixels, labels = digits_pixels(), digits_labels()
    order = np.random.default_rng(EVAL_SEED).permutation(len(labels))
    n_test = int(HELD_OUT * len(labels))
    test, train = order[:n_test], order[n_test:]
    gen = torch.Generator().manual_seed(EVAL_SEED)
    x = torch.as_tensor(pixels[train]) / PIXEL_MAX
    y = torch.as_tensor(labels[train])
    W1 = (torch.randn(D, CLASSIFIER_HIDDEN, generator=gen, dtype=torch.float64) * math.sqrt(2 / D)).requires_grad_()
    W2 = (torch.randn(CLASSIFIER_HIDDEN, 10, generator=gen, dtype=torch.float64)
          * math.sqrt(1 / CLASSIFIER_HIDDEN)).requires_grad_()
    b1 = torch.zeros(CLASSIFIER_HIDDEN, dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([W1, b1, W2, b2], CLASSIFIER_LR, weight_decay=CLASSIFIER_DECAY)
    with torch.enable_grad():  # callers may evaluate under no_grad
        for _ in range(CLASSIFIER_STEPS):
            opt.zero_grad()
            F.cross_entropy(torch.relu(x @ W1 + b1) @ W2 + b2, y).backward()
            opt.step()
    clf = DigitClassifier(W1.detach(), b1.detach(), W2.detach(), b2.detach(), test, 0.0, np.zeros(0), np.zeros(0))
    accuracy = float((clf.probabilities(pixels[test]).argmax(1) == labels[test]).mean())
    mu, cov = feature_stats(clf.features(pixels))
    return DigitClassifier(clf.W1, clf.b1, clf.W2, clf.b2, test, accuracy, mu, cov)


def feature_stats(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian fit of features ``(N, H)``: mean ``(H,)`` and covariance ``(H, H)``."""
    return h.mean(0), np.cov(h, rowvar=False)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance of two Gaussians, ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)``
    (FID's formula; the symmetric form avoids a non-symmetric matrix square root)."""
    w, V = np.linalg.eigh(cov1)
    root1 = (V * np.sqrt(np.clip(w, 0, None))) @ V.T  # C1^1/2
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ cov2 @ root1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def classifier_scores(samples: np.ndarray) -> dict:
    """FID-like score, mean top-class probability and the fraction of confident digits of samples
    ``(K, N, D)`` (0..16 scale), each ``(K,)``."""
    clf = digit_classifier()
    rows = np.array([_scores(clf, x) for x in samples]).reshape(-1, 3)  # (K, 3)
    return {"fid": rows[:, 0], "confidence": rows[:, 1], "confident": rows[:, 2]}


def _scores(clf: DigitClassifier, x: np.ndarray) -> tuple[float, float, float]:
    if not np.isfinite(x).all():  # a diverged model: no score (the collapse check names it)
        return np.nan, np.nan, np.nan
    top = clf.probabilities(x).max(1)
    return frechet_distance(*feature_stats(clf.features(x)), clf.mu, clf.cov), top.mean(), (top > CONFIDENT).mean()


@lru_cache(maxsize=8)
def classifier_reference(n: int) -> dict:
    """What real digits score: the FID-like score of ``n`` real digits (drawn without replacement
    from the fixed evaluation seed) against all of them, the floor a finite sample reaches, and
    the mean top-class probability on the held-out digits."""
    pixels, clf = digits_pixels(), digit_classifier()
    pick = np.random.default_rng(EVAL_SEED).permutation(len(pixels))[:min(n, len(pixels))]
    return {"fid": float(classifier_scores(pixels[pick][None])["fid"][0]),
            "confidence": float(clf.probabilities(pixels[clf.held_out]).max(1).mean())}


@dataclass(eq=False)
class EvalSet:
    """The fixed evaluation set, the same for every run, λ and seed (drawn from ``EVAL_SEED``)."""

    pairs: torch.Tensor  # (P, 2, D) latent pairs
    z_samples: torch.Tensor  # (N, D) latents for the quality proxy
    digits: torch.Tensor  # (N_INVERT, D) real digits in [-1, 1] for the inversion round trip
    v_x0: torch.Tensor  # (N_V, D) the fixed batch on which v's distribution is measured
    v_t: torch.Tensor  # (N_V,) stratified over 0..T-1
    v_eps: torch.Tensor  # (N_V, D)
    v_u: torch.Tensor  # (N_V, D) directions N(0, I)/sqrt(D)


def make_eval_set(n_pairs: int, n_samples: int, device, dtype=torch.float32) -> EvalSet:
    """Drawn with numpy (sequential streams: the first k pairs are the same for any n_pairs >= k)."""
    from paperscope.core.seeding import numpy_generator

    def normal(stream, shape):
        return torch.as_tensor(numpy_generator(EVAL_SEED, stream).standard_normal(shape), dtype=dtype, device=device)

    pixels = digits_pixels()
    rng = numpy_generator(EVAL_SEED, STREAM_DIGITS)
    inv = rng.permutation(pixels.shape[0])[:N_INVERT]
    vx = rng.integers(0, pixels.shape[0], N_V)
    vnoise = normal(STREAM_V, (N_V, 2, D))
    return EvalSet(
        pairs=normal(STREAM_PAIRS, (max(n_pairs, INTERIM_PAIRS, N_SHOW), 2, D)),
        z_samples=normal(STREAM_SAMPLES, (n_samples, D)),
        digits=torch.as_tensor(to_model_scale(pixels[inv]), dtype=dtype, device=device),
        v_x0=torch.as_tensor(to_model_scale(pixels[vx]), dtype=dtype, device=device),
        v_t=torch.as_tensor(np.arange(N_V) * T_STEPS // N_V, dtype=torch.long, device=device),
        v_eps=vnoise[:, 0].contiguous(), v_u=vnoise[:, 1] / math.sqrt(D),
    )


def interpolation_eval(net: EpsMLP, ev: EvalSet, sched: Schedule, *, n_pairs: int, ddim_steps: int,
                       kind: str) -> dict:
    """Filmstrips and adjacent distances of the first ``n_pairs`` latent pairs, all K models at once.

    Returns tensors: ``frames (K, P, F, D)`` in 0..16 pixels, ``d (K, P, F - 1)``, ``istd``,
    ``mean_distance``, ``cv`` and ``path_length`` (the mean over pairs of the total path
    ``sum_j d_j``: a smaller ISTD can mean evener steps or just a shorter path), each ``(K,)``.
    """
    K, P = net.K, n_pairs
    Z = interpolate(ev.pairs[:P, 0], ev.pairs[:P, 1], N_FRAMES, kind)  # (P, F, D)
    x = ddim_sample(net, Z.reshape(1, P * N_FRAMES, D).expand(K, -1, -1), sched, ddim_timesteps(ddim_steps))
    frames = to_pixels(x).view(K, P, N_FRAMES, D)
    d = adjacent_distances(frames)  # (K, P, F - 1)
    return {"frames": frames, "d": d, "istd": istd(d), "mean_distance": d.mean((1, 2)),
            "cv": coefficient_of_variation(d), "path_length": d.sum(-1).mean(-1)}


def sample_eval(net: EpsMLP, ev: EvalSet, sched: Schedule, data_pixels: torch.Tensor, *, n_samples: int,
                ddim_steps: int) -> dict:
    """Quality proxy, the classifier's FID-like score and confidence (``fid``, ``confidence``,
    ``confident``: host arrays), sample spread and the DDIM-inversion round trip, all K models at once."""
    K, taus = net.K, ddim_timesteps(ddim_steps)
    z = ev.z_samples[:n_samples].expand(K, -1, -1)
    samples = to_pixels(ddim_sample(net, z, sched, taus))  # (K, N, D)
    spread = mean_pairwise_rms(samples[:, :1000])
    digits = ev.digits.expand(K, -1, -1)
    recon = ddim_sample(net, ddim_invert(net, digits, sched, taus), sched, taus).clamp(-1, 1)
    return {"quality": nearest_rms(samples, data_pixels).mean(-1), "spread": spread,
            "inversion_mse": (recon - digits).pow(2).mean((1, 2)), "samples": samples,
            **classifier_scores(to_host(samples).astype(np.float64))}


def v_distribution(net: EpsMLP, ev: EvalSet, sched: Schedule) -> torch.Tensor:
    """The SVR statistic v on the fixed batch, ``(K, N_V)`` (one VJP, no training)."""
    with torch.enable_grad():
        _, v = step_variation(net, ev.v_x0, ev.v_t, ev.v_eps, ev.v_u, sched, create_graph=False)
    return v.detach()


def collapse_warning(cand: dict, base: dict | None, reference_spread: float) -> str:
    """Why the chosen model looks collapsed ("" if it does not).

    ``cand``/``base`` hold istd, mean_distance, quality, spread and loss_base (floats; base None
    when the chosen model *is* the baseline). Too large a λ makes the model give up denoising:
    its samples stop being digits and its ISTD, small or not, says nothing about smoothness.
    """
    if not all(np.isfinite(cand[k]) for k in ("istd", "mean_distance", "quality", "spread")):
        return "collapsed: samples became NaN/inf; λ is far too large for this model"
    reasons = []
    if base is not None and cand["quality"] > COLLAPSE_QUALITY * base["quality"]:
        reasons.append(f"its samples are far from every digit (quality proxy {cand['quality']:.2f} vs "
                       f"{base['quality']:.2f} at λ = 0)")
    if base is not None and cand.get("loss_base", 0) > COLLAPSE_LOSS * base.get("loss_base", np.inf):
        reasons.append(f"it stopped denoising (diffusion loss {cand['loss_base']:.3f} vs {base['loss_base']:.3f} "
                       "at λ = 0), so its samples are not digits")
    if cand["spread"] < COLLAPSE_DIVERSITY * reference_spread:
        reasons.append(f"its samples all look alike (spread {cand['spread']:.2f} vs {reference_spread:.2f} "
                       "for real digits)")
    if not reasons:
        return ""
    return ("collapsed: " + "; ".join(reasons) + ". Its ISTD says nothing about smoothness; lower λ"
            + (" or train longer" if base is not None else ""))


# --------------------------------------------------------------------------------------------
# Trained models, kept in the framework's memo


@dataclass(eq=False)
class Trained:
    """A trained model (K = 1, LoRA merged), its logged training history ``(L, 4)`` (L_base,
    L_reg, a, mean v on the run's log grid) and its evaluation summaries per evaluation setting."""

    net: EpsMLP
    history: np.ndarray
    summaries: dict = field(default_factory=dict)


MODELS = Memo("smooth-diffusion models", size=CACHE_SIZE, max_bytes=CACHE_BYTES)  # key -> Trained


def clear_cache() -> None:
    """Forget every trained model (tests use it to time training)."""
    MODELS.clear()


def model_key(params: Params, lam: float, device, stage: str) -> tuple:
    """Everything that shapes a trained model (the dtype is always float32), so sessions share a
    model safely. The last two entries are λ and the EMA decay (None at λ = 0, which never uses
    it): the trade-off curve collects keys equal up to those two."""
    common = (stage, params.hidden, params.batch_size, float(params.lr), params.train_steps,
              params.finetune_steps if stage == "finetune" else None, params.seed, str(device))
    return (*common, float(lam), float(params.ema_decay) if lam > 0 else None)


def eval_key(params: Params) -> tuple:
    return (params.ddim_steps, params.interpolation, params.n_pairs, params.n_samples)


def log_every(steps: int) -> int:
    return max(1, -(-steps // N_LOG))


def log_grid(steps: int, offset: int = 0) -> np.ndarray:
    return offset + np.arange(0, steps, log_every(steps))


# --------------------------------------------------------------------------------------------
# The run, in the order it happens: set up the data, plan which models to train (the memo may
# hold some), train each phase, evaluate both slots, collect the trade-off curve, report.


@dataclass(eq=False)
class _Lab:
    """What every part of one run reads: the knobs, the device, the digits, the noise schedule and
    the fixed evaluation set."""

    params: Params
    device: torch.device
    X: torch.Tensor  # (N, D) the digits on the model's [-1, 1] scale
    data_pixels: torch.Tensor  # (N, D) the same on the 0..16 scale, for the quality proxy
    sched: Schedule
    ev: EvalSet
    ref_quality: float  # the quality proxy of real digits (leave-one-out)
    ref_spread: float  # the sample spread of real digits
    dtype: ClassVar[torch.dtype] = torch.float32  # every model is float32 (model_key relies on it)


def _setup(params: Params) -> _Lab:
    device, dtype = resolve_device(params.device), _Lab.dtype
    pixels = digits_pixels()
    ref_quality, ref_spread = data_reference()
    return _Lab(params, device, X=torch.as_tensor(to_model_scale(pixels), dtype=dtype, device=device),
                data_pixels=torch.as_tensor(pixels, dtype=dtype, device=device),
                sched=make_schedule(T_STEPS, device, dtype),
                ev=make_eval_set(params.n_pairs, params.n_samples, device, dtype),
                ref_quality=ref_quality, ref_spread=ref_spread)


@dataclass
class _Phase:
    """One stretch of training: the models under ``keys`` (weights ``lambdas``) trained side by side."""

    name: str
    stage: str  # "scratch" or "finetune" (LoRA on the pre-trained λ = 0 model)
    lambdas: list
    keys: list
    steps: int
    offset: int  # first step of this phase on the run's step axis
    rows: slice  # this phase's rows in the logged history


@dataclass(eq=False)
class _Plan:
    """Which models the run shows, which of them the memo holds already and what must be trained."""

    mode: str
    lam: float
    keys: list  # memo keys of display slot 0 (the λ = 0 baseline) and slot 1 (the chosen λ)
    pre_key: tuple | None  # the pre-trained λ = 0 model that fine-tuning starts from (finetune mode)
    cached: dict  # key -> Trained: what the memo holds already
    phases: list  # _Phase, in training order (none: evaluation only)
    trade: list  # (key, Trained): the memo's models at another λ, for the trade-off curve
    log_steps: np.ndarray  # (L,) logged steps over the whole run (pre-training, then fine-tuning)
    hist: np.ndarray  # (L, 4, 2) L_base, L_reg, a, mean v per slot: from the memo, then from training
    first_rows: slice  # the first stage's rows in hist (pre-training, or all of a scratch run)
    notice: str

    @property
    def total(self) -> int:
        """The run's step axis: training steps, then evaluation units (two for the final
        evaluation, one for this run's trade-off points, one per other model on the curve)."""
        return sum(p.steps for p in self.phases) + 3 + len(self.trade)


def _plan(params: Params, device) -> _Plan:
    """Look the run's models up in the memo and lay out the rest: the phases to train, the logged
    history (cached models bring theirs) and the other models on the trade-off curve."""
    lam, finetune = float(params.reg_weight), params.mode == "finetune"
    keys = [model_key(params, 0.0, device, params.mode), model_key(params, lam, device, params.mode)]
    pre_key = model_key(params, 0.0, device, "scratch") if finetune else None
    cached = {}
    for key in {*keys, pre_key} - {None}:
        item = MODELS.get(key)
        if item is not None:
            cached[key] = item
    # λ = 0 and the chosen λ, each once (at λ = 0 they are one model), where the memo lacks them
    todo = [(lv, k) for lv, k in dict.fromkeys(((0.0, keys[0]), (lam, keys[1]))) if k not in cached]
    log_steps, first_rows, last_rows = _log_rows(params)
    phases = _phases(params, todo, pre_key, pre_key in cached, first_rows, last_rows)
    notice = "λ = 0: the chosen model is the baseline itself" if lam == 0 else ""
    if not phases:
        notice = "; ".join(filter(None, [notice, "trained models from the cache: evaluation only"]))
    hist = _cached_history(len(log_steps), keys, pre_key, cached, first_rows)
    return _Plan(mode=params.mode, lam=lam, keys=keys, pre_key=pre_key, cached=cached, phases=phases,
                 trade=_trade_models(keys), log_steps=log_steps, hist=hist, first_rows=first_rows, notice=notice)


def _log_rows(params: Params) -> tuple[np.ndarray, slice, slice]:
    """The logged steps of the whole run (one grid per stage) and the rows of its first and last stage."""
    grids = [log_grid(params.train_steps)]
    if params.mode == "finetune":  # fine-tuning continues the step axis after pre-training
        grids.append(log_grid(params.finetune_steps, params.train_steps))
    log_steps, first = np.concatenate(grids), slice(0, len(grids[0]))
    return log_steps, first, (slice(len(grids[0]), len(log_steps)) if len(grids) > 1 else first)


def _phases(params: Params, todo: list, pre_key, pretrained: bool, first_rows: slice, last_rows: slice) -> list:
    """The training phases for the models in ``todo`` ((λ, key) pairs): in finetune mode the λ = 0
    pre-training first unless the memo holds it, then the models themselves, trained together."""
    if not todo:
        return []
    if params.mode == "scratch":
        return [_Phase("training", "scratch", [lv for lv, _ in todo], [k for _, k in todo], params.train_steps, 0,
                       last_rows)]
    pre = [] if pretrained else [_Phase("pre-training λ = 0", "scratch", [0.0], [pre_key], params.train_steps, 0,
                                        first_rows)]
    return pre + [_Phase("fine-tuning (LoRA)", "finetune", [lv for lv, _ in todo], [k for _, k in todo],
                         params.finetune_steps, params.train_steps, last_rows)]


def _cached_history(n_rows: int, keys: list, pre_key, cached: dict, first_rows: slice) -> np.ndarray:
    """The ``(L, 4, 2)`` history as far as the memo knows it: a cached model's own log, or, for a
    model still to be fine-tuned, the cached pre-training; NaN where nothing is logged yet."""
    hist = np.full((n_rows, 4, 2), np.nan)
    for slot, key in enumerate(keys):
        if key in cached:
            hist[:, :, slot] = cached[key].history
        elif pre_key in cached:  # (pre_key is None outside finetune mode, never a memo key)
            hist[first_rows, :, slot] = cached[pre_key].history
    return hist


def _trade_models(keys: list) -> list:
    """The memo's other models on this run's trade-off curve: the same settings up to λ, at
    λ = 0 or at this run's EMA decay. Read without holding them: the curve shows what the memo
    happens to keep."""
    return [(k, item) for k, item in MODELS.items()
            if k[:-2] == keys[0][:-2] and k not in keys and (k[-2] == 0 or k[-1] == keys[1][-1])]


@dataclass(eq=False)
class _Slots:
    """Which model fills each display slot now (0: the λ = 0 baseline, 1: the chosen λ): one in
    training, a finished one (cached or trained by this run), the pre-trained model while its
    fine-tunes have not started or, before any training, the fresh initialisation."""

    lab: _Lab
    keys: list
    pre_key: tuple | None
    nets: dict  # key -> finished K = 1 model
    live: dict = field(default_factory=dict)  # key -> (trainer, index) of a model in training

    def pair(self) -> tuple[EpsMLP, list[int]]:
        """The slots' models as one batched model (each distinct model once) and the slot ->
        model index map."""
        names = [self._name(key) for key in self.keys]
        models = {name: self._model(name) for name in dict.fromkeys(names)}
        return EpsMLP.stack(list(models.values())), [list(models).index(name) for name in names]

    def start(self, keys: list, trainer) -> None:
        for i, key in enumerate(keys):
            self.live[key] = (trainer, i)

    def finish(self, key) -> EpsMLP:
        """The model under ``key`` finished training: a detached K = 1 copy takes its slot."""
        trainer, k = self.live.pop(key)
        self.nets[key] = trainer.member(k)
        return self.nets[key]

    def _name(self, key):
        if self.pre_key is not None and key not in self.live and key not in self.nets:
            key = self.pre_key  # fine-tuning has not started: the slot shows its starting point
        return key if key in self.live or key in self.nets else "fresh"

    def _model(self, name) -> EpsMLP:
        if name in self.live:
            trainer, k = self.live[name]
            return trainer.member(k)
        if name in self.nets:
            return self.nets[name]
        p, lab = self.lab.params, self.lab
        return init_mlp(p.hidden, torch_generator(p.seed, lab.device, STREAM_INIT), 1, lab.device, lab.dtype)


@dataclass(eq=False)
class _View:
    """What the next frame shows: the steps of the run update it, ``frame`` takes a snapshot."""

    plan: _Plan
    quality_reference: float
    fid_reference: float = np.nan  # set by the final evaluation: the classifier trains there, after first paint
    done: int = 0  # steps of this run so far (training steps, then evaluation units)
    phase: str = "starting"
    eval_label: str = ""
    filmstrip: np.ndarray | None = None  # (2, S, F, 8, 8)
    distances: np.ndarray | None = None  # (2, S, F - 1)
    profile: np.ndarray | None = None  # (2, F - 1)
    istd_steps: list = field(default_factory=list)
    istd_trace: list = field(default_factory=list)  # a (2,) ISTD per interim evaluation
    collapsed: bool = False
    trade: tuple = field(default_factory=lambda: (np.zeros(0),) * 5)  # λ, ISTD, CV, quality, FID of its models
    v: tuple = field(default_factory=lambda: (np.zeros(N_V_BINS), np.zeros((N_V_BINS, 2)), np.zeros(N_T_BINS),
                                              np.zeros((N_T_BINS, 2))))  # _v_views of the final models

    def show_filmstrips(self, res: dict, label: str) -> None:
        """Show an interpolation evaluation (host arrays, one row per slot)."""
        S = min(N_SHOW, res["frames"].shape[1])
        self.filmstrip = res["frames"][:, :S].reshape(2, S, N_FRAMES, SIDE, SIDE)
        self.distances, self.profile = res["d"][:, :S], res["d"].mean(1)
        self.eval_label = label

    def show_trade(self, points: dict) -> None:
        """Show the trade-off curve of ``points`` (λ -> evaluation summary)."""
        lams = np.array(sorted(points))
        self.trade = (lams, *(np.array([points[lv][k] for lv in lams]) for k in ("istd", "cv", "quality", "fid")))

    def frame(self, metrics: dict | None = None) -> SmoothFrame:
        plan, hist = self.plan, self.plan.hist
        return SmoothFrame(
            step=self.done, total_steps=plan.total, metrics=metrics, mode=plan.mode,
            mode_label=MODE_LABELS[plan.mode], phase=self.phase, notice=plan.notice, reg_weight=plan.lam,
            collapsed=self.collapsed, log_steps=plan.log_steps, loss_base=hist[:, 0].copy(),
            loss_reg=hist[:, 1].copy(), target_a=hist[:, 2].copy(), v_mean=hist[:, 3].copy(),
            eval_label=self.eval_label, filmstrip=self.filmstrip, distances=self.distances, profile=self.profile,
            istd_steps=np.array(self.istd_steps, dtype=int), istd_trace=np.array(self.istd_trace).reshape(-1, 2),
            trade_lambda=self.trade[0], trade_istd=self.trade[1], trade_cv=self.trade[2],
            trade_quality=self.trade[3], trade_fid=self.trade[4], quality_reference=self.quality_reference,
            fid_reference=self.fid_reference, v_bins=self.v[0],
            v_hist=self.v[1], v_t=self.v[2], v_median=self.v[3],
        )


def _interpolations(lab: _Lab, net: EpsMLP, index: list, n_pairs: int, ddim_steps: int) -> dict:
    """``interpolation_eval`` of the batched models, as host arrays with one row per slot."""
    res = interpolation_eval(net, lab.ev, lab.sched, n_pairs=n_pairs, ddim_steps=ddim_steps,
                             kind=lab.params.interpolation)
    sel = torch.tensor(index, device=lab.device)
    return {k: to_host(res[k].index_select(0, sel))
            for k in ("frames", "d", "istd", "mean_distance", "cv", "path_length")}


def _show_interim(lab: _Lab, slots: _Slots, view: _View, step: int, where: str) -> None:
    """A quick look at the slots' models now: filmstrips and ISTD from few pairs and DDIM steps."""
    net, index = slots.pair()
    res = _interpolations(lab, net, index, INTERIM_PAIRS, INTERIM_DDIM)
    view.show_filmstrips(res, f"{where}: {INTERIM_PAIRS} pairs, {INTERIM_DDIM} DDIM steps")
    view.istd_steps.append(step)
    view.istd_trace.append(res["istd"])


def _trainers(lab: _Lab, phase: _Phase, base: EpsMLP | None) -> TrainerGroup:
    """The phase's models as trainers: on a CPU one per λ (the λ = 0 one skips the double
    backward), elsewhere one batched trainer. ``base``: the pre-trained model LoRA fine-tunes."""
    groups = [phase.lambdas] if lab.device.type != "cpu" else [[lv] for lv in phase.lambdas]
    return TrainerGroup([_trainer(lab, phase, lambdas, base) for lambdas in groups])


def _trainer(lab: _Lab, phase: _Phase, lambdas: list, base: EpsMLP | None) -> Trainer:
    # Every trainer draws the same initial weights, LoRA init, digits, noise and directions, so a
    # model trains the same alone or in a batch; fine-tuning draws from streams of its own.
    p, scratch = lab.params, phase.stage == "scratch"
    data_stream, proj_stream = (STREAM_DATA, STREAM_PROJ) if scratch else (STREAM_FT_DATA, STREAM_FT_PROJ)
    if scratch:
        net = init_mlp(p.hidden, torch_generator(p.seed, lab.device, STREAM_INIT), len(lambdas), lab.device,
                       lab.dtype)
    else:
        net = with_lora(base, len(lambdas), torch_generator(p.seed, lab.device, STREAM_LORA))
    return Trainer(net, lambdas, X=lab.X, sched=lab.sched, batch_size=p.batch_size, lr=p.lr, steps=phase.steps,
                   ema_decay=p.ema_decay, data_gen=torch_generator(p.seed, lab.device, data_stream),
                   proj_gen=torch_generator(p.seed, lab.device, proj_stream))


def _check_losses(out: np.ndarray, trainer: TrainerGroup, phase: _Phase, params: Params) -> None:
    step = phase.offset + trainer.step
    check_finite(out[:, 0], step=step, what=f"the diffusion loss ({phase.name})", hint=_hint(params))
    if trainer.regularise:
        check_finite(out[:, 1:], step=step, what=f"the variation regularizer ({phase.name})", hint=_hint(params))


def _log_chunk(hist: np.ndarray, out: np.ndarray, start: int, every: int, rows: slice, fills: list) -> None:
    """Copy a chunk's logged steps (every ``every``-th step of the phase) of ``out (n, 4, K)``
    into the history rows, model k into the display slots ``fills[k]``."""
    steps = start + np.arange(out.shape[0])
    logged = steps % every == 0
    for k, targets in enumerate(fills):
        for slot in targets:
            hist[rows.start + steps[logged] // every, :, slot] = out[logged, :, k]


def _train_phase(lab: _Lab, plan: _Plan, phase: _Phase, slots: _Slots, view: _View) -> Iterator[SmoothFrame]:
    """Train one phase's models side by side, log their history and yield frames as the pacer
    asks (with interim filmstrips, which are slower, on their own interval); then keep each
    model and its history in the memo."""
    view.phase = phase.name
    trainer = _trainers(lab, phase, slots.nets.get(plan.pre_key))
    slots.start(phase.keys, trainer)
    # Which display slots each trained model fills (the pre-trained model: both, for now).
    fills = [[s for s, key in enumerate(plan.keys) if key == k] or [0, 1] for k in phase.keys]
    every = log_every(phase.steps)
    pace = Pacer()  # per phase: a fine-tuning step (LoRA, double backward) costs more than pre-training's
    evals = Interval(INTERIM_EVAL_S[1], first=INTERIM_EVAL_S[0])
    for n in pace.chunks(phase.steps):
        start = trainer.step
        out = to_host(trainer.train_steps(n))  # (n, 4, K)
        _check_losses(out, trainer, phase, lab.params)
        _log_chunk(plan.hist, out, start, every, phase.rows, fills)
        view.done += n
        if trainer.step == phase.steps:
            break  # the phase's last chunk: the final evaluation follows
        show = pace.due()  # asked first: it also ends the chunk's timing, before any evaluation
        if evals.due():
            step = phase.offset + trainer.step
            _show_interim(lab, slots, view, step, f"{phase.name}, step {step}")
            evals.reset()  # the next one a full interval after this one ended
            show = True  # the new filmstrip at once
            pace.shown()
        if show:
            yield view.frame()
    for i, key in enumerate(phase.keys):  # phase done: keep each model and its history for later runs
        history = plan.hist[plan.first_rows, :, 0] if key == plan.pre_key else plan.hist[:, :, fills[i][0]]
        MODELS.put(key, Trained(slots.finish(key), history.copy()))
    trainer.release()


def _final_eval(lab: _Lab, plan: _Plan, slots: _Slots, view: _View) -> Generator[SmoothFrame, None, tuple]:
    """Evaluate both slots at the chosen settings: filmstrips and ISTD first (what the eye wants:
    a frame), then sample quality, the inversion round trip, v's distribution and the collapse
    check. A generator; it returns the two slots' summaries, their inversion MSE ``(2,)`` and the
    collapse warning."""
    p = lab.params
    view.phase = "evaluating"
    net, index = slots.pair()
    final = _interpolations(lab, net, index, p.n_pairs, p.ddim_steps)
    view.show_filmstrips(final, f"final: {p.n_pairs} pairs, {p.ddim_steps} DDIM steps, {p.interpolation}")
    view.done += 1
    yield view.frame()

    samples = sample_eval(net, lab.ev, lab.sched, lab.data_pixels, n_samples=p.n_samples, ddim_steps=p.ddim_steps)
    sel = torch.tensor(index, device=lab.device)
    for name in ("quality", "spread", "inversion_mse"):
        final[name] = to_host(samples[name].index_select(0, sel))
    for name in ("fid", "confidence", "confident"):  # host arrays already
        final[name] = samples[name][index]
    view.fid_reference = classifier_reference(p.n_samples)["fid"]
    v = to_host(v_distribution(net, lab.ev, lab.sched).index_select(0, sel))  # (2, N_V)
    view.v = _v_views(v, to_host(lab.ev.v_t))
    summary = _summaries(final, plan.hist)
    warning = collapse_warning(summary[1], None if plan.lam == 0 else summary[0], lab.ref_spread)
    view.collapsed = bool(warning)
    ekey = eval_key(p)
    for slot, key in enumerate(plan.keys):  # kept with the model: the trade-off curve of later runs reads it
        item = MODELS.get(key)
        if item is not None:
            item.summaries[ekey] = summary[slot]
    view.done += 1
    return summary, final["inversion_mse"], warning


# What a model's evaluation keeps (per evaluation setting, with the model in the memo)
SUMMARY_KEYS = ("istd", "mean_distance", "cv", "path_length", "quality", "spread", "fid", "confidence", "confident")


def _summaries(final: dict, hist: np.ndarray) -> list[dict]:
    """Per slot, the final evaluation as floats and the diffusion loss over the last 5 % of the
    logged points (what the collapse check compares)."""
    summary = [{k: float(final[k][s]) for k in SUMMARY_KEYS} for s in (0, 1)]
    tail = hist[-max(1, len(hist) // 20):, 0]  # (rows, 2)
    for slot in (0, 1):
        summary[slot]["loss_base"] = float(np.nanmean(tail[:, slot])) if np.isfinite(tail[:, slot]).any() else np.nan
    return summary


def _trade_off(lab: _Lab, plan: _Plan, view: _View, points: dict) -> Iterator[SmoothFrame]:
    """The trade-off curve: this run's ``points`` (λ -> summary), then every other model the memo
    keeps with these settings, each evaluated once per evaluation setting (kept with the model)."""
    view.show_trade(points)
    yield view.frame()
    ekey = eval_key(lab.params)
    for key, item in plan.trade:
        if ekey not in item.summaries:
            item.summaries[ekey] = _summarise(lab, item.net)
        points[key[-2]] = item.summaries[ekey]
        view.show_trade(points)
        view.done += 1
        yield view.frame()


def _summarise(lab: _Lab, net: EpsMLP) -> dict:
    """The summary (``SUMMARY_KEYS``) of one model (K = 1) at the run's settings."""
    p = lab.params
    r = interpolation_eval(net, lab.ev, lab.sched, n_pairs=p.n_pairs, ddim_steps=p.ddim_steps, kind=p.interpolation)
    q = sample_eval(net, lab.ev, lab.sched, lab.data_pixels, n_samples=p.n_samples, ddim_steps=p.ddim_steps)
    return {k: float((r[k] if k in r else q[k])[0]) for k in SUMMARY_KEYS}


def _metrics(lab: _Lab, plan: _Plan, summary: list, inversion_mse: np.ndarray, warning: str) -> dict:
    """The last frame's metrics: the chosen λ's model, and the λ = 0 baseline's with ``_baseline``."""
    b, c = summary
    ref = classifier_reference(lab.params.n_samples)
    a_logged = plan.hist[:, 2, 1][np.isfinite(plan.hist[:, 2, 1])]
    return {
        "reg_weight": plan.lam, "mode": plan.mode,
        "istd": _num(c["istd"]), "mean_distance": _num(c["mean_distance"]), "cv": _num(c["cv"]),
        "quality": _num(c["quality"]), "inversion_mse": _num(inversion_mse[1]),
        "istd_baseline": _num(b["istd"]), "mean_distance_baseline": _num(b["mean_distance"]),
        "cv_baseline": _num(b["cv"]), "quality_baseline": _num(b["quality"]),
        "inversion_mse_baseline": _num(inversion_mse[0]),
        "istd_ratio": _num(c["istd"] / b["istd"]) if b["istd"] > 0 else None,
        "cv_ratio": _num(c["cv"] / b["cv"]) if b["cv"] > 0 else None,
        "quality_reference": lab.ref_quality, "spread": _num(c["spread"]), "spread_baseline": _num(b["spread"]),
        "path_length": _num(c["path_length"]), "path_length_baseline": _num(b["path_length"]),
        "fid": _num(c["fid"]), "fid_baseline": _num(b["fid"]), "fid_reference": ref["fid"],
        "fid_ratio": _num(c["fid"] / b["fid"]) if b["fid"] > 0 else None,
        "sample_confidence": _num(c["confidence"]), "sample_confidence_baseline": _num(b["confidence"]),
        "sample_confidence_reference": ref["confidence"],
        "confident_fraction": _num(c["confident"]), "confident_fraction_baseline": _num(b["confident"]),
        "spread_reference": lab.ref_spread,
        "target_a": _num(a_logged[-1]) if plan.lam > 0 and len(a_logged) else None,
        "loss_base": _num(c["loss_base"]), "loss_base_baseline": _num(b["loss_base"]),
        "collapsed": bool(warning), "warning": warning,
    }


def _num(x) -> float | None:
    """A JSON-safe float (None for NaN/inf)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _hint(params: Params) -> str:
    if params.reg_weight > 0:
        return (f"λ = {params.reg_weight:g} is probably too large for this model (the penalty's double "
                f"backward blew up); lower reg_weight or lr (lr = {params.lr:g})")
    return f"the optimiser diverged; lower lr (lr = {params.lr:g})"


def _v_views(v: np.ndarray, t: np.ndarray):
    """Fraction of v per log-spaced bin (v spans decades: sigma_t scales it) and the median per
    timestep bin, one column per model."""
    finite = v[np.isfinite(v) & (v > 0)]
    lo, hi = (np.quantile(finite, [0.01, 0.99]) if finite.size else (1e-3, 1.0))
    edges = np.geomspace(max(lo, 1e-6), max(hi, lo * 10, 1e-5), N_V_BINS + 1)
    hist = np.stack([np.histogram(np.clip(col, edges[0], edges[-1]), edges)[0] / max(1, col.size) for col in v], 1)
    t_edges = np.linspace(0, T_STEPS, N_T_BINS + 1)
    which = np.clip(np.digitize(t, t_edges) - 1, 0, N_T_BINS - 1)
    median = np.array([[np.median(col[which == b]) for col in v] for b in range(N_T_BINS)])
    return np.sqrt(edges[:-1] * edges[1:]), hist, (t_edges[:-1] + t_edges[1:]) / 2, median


def run(params: Params) -> Iterator[SmoothFrame]:
    """Train (or fetch from the memo) the λ = 0 baseline and the λ model, evaluate; yield frames.

    Cancelling closes this generator (and the step it is in), which frees its locals (trainers,
    optimiser state, data) at once: no object of the run refers back to itself, so no reference
    cycle waits for the collector.
    """
    lab = _setup(params)
    plan = _plan(params, lab.device)
    slots = _Slots(lab, plan.keys, plan.pre_key, nets={key: item.net for key, item in plan.cached.items()})
    view = _View(plan, lab.ref_quality)
    if plan.phases:  # the first frame at once: what the slots hold now (fresh or cached models)
        view.phase = plan.phases[0].name
        _show_interim(lab, slots, view, 0, "step 0")
        yield view.frame()
    for phase in plan.phases:
        yield from _train_phase(lab, plan, phase, slots, view)
    summary, inversion_mse, warning = yield from _final_eval(lab, plan, slots, view)
    yield from _trade_off(lab, plan, view, {0.0: summary[0], plan.lam: summary[1]})
    view.phase, view.done = "done", plan.total
    yield view.frame(_metrics(lab, plan, summary, inversion_mse, warning))


__all__ = ["PAPER", "Params", "SmoothFrame", "run", "EpsMLP", "init_mlp", "with_lora", "Trainer", "TrainerGroup",
           "step_variation", "svr_penalty", "make_schedule", "ddim_timesteps", "ddim_sample", "ddim_invert",
           "interpolate", "adjacent_distances", "istd", "coefficient_of_variation", "nearest_rms",
           "interpolation_eval", "sample_eval", "v_distribution", "collapse_warning", "make_eval_set",
           "digits_pixels", "clear_cache", "MODELS", "final_metrics"]


def final_metrics(overrides: dict) -> dict:
    """The last frame's metrics of one CPU run at ``Params(**overrides)`` on one thread (a plain
    top-level function so a process pool can run several seeds side by side)."""
    torch.set_num_threads(1)
    *_, last = run(Params(**{"device": "cpu", **overrides}))
    return last.metrics

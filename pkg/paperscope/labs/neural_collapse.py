"""Perturbation Analysis of Neural Collapse.

Tirer, Huang, Niles-Weed; ICML 2023; arXiv:2210.16658.

Claim: when the last-layer features H are optimized but kept near a predefined feature matrix X
(e.g. the features of an earlier layer), the minimizer's within-class variability is *smaller*
than X's: NC1(H*) < NC1(X). The closer H must stay to X (larger β), the smaller the reduction;
the feature term β matters more than the last-layer weight decay λ_W. Real networks show the
same depthwise decrease without reaching exact collapse.

The model (N = K·n samples, features H, X ∈ R^{d×N}, one-hot labels Y ∈ R^{K×N}, W ∈ R^{K×d}):

    min_{W,H} (1/2N)‖WH − Y‖²_F + (λ_W/2)‖W‖²_F + (β/2N)‖H − X‖²_F.

β → 0 leaves the unconstrained-features model (without feature decay: exact collapse in the
limit); β → ∞ pins H = X. Its two blocks have closed forms, alternated here until the relative
change of H falls below ``tol`` (the iterations taken are reported; at tiny β with small λ_W
the scheme converges slowly, the spec's footnote, so the sweep says which lanes converged):

* H-step: ``(WᵀW + β I) H = WᵀY + β X``;
* W-step: ``W (HHᵀ + N λ_W I) = Y Hᵀ``.

Gradient descent on the same objective (``mode=gd``, the training-dynamics view):
``∇_W = (1/N)(WH − Y)Hᵀ + λ_W W``, ``∇_H = (1/N)(Wᵀ(WH − Y) + β(H − X))``, with step sizes
η_W = η and η_H = η·N (H's gradient carries a 1/N that W's loss term shares but its own
regularizer does not), starting at H = X.

NC metrics (as in ``rhubarbwu/neural-collapse``): class means μ_k, global mean μ_G,
``Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ``, ``Σ_B = (1/K) Σ_k (μ_k − μ_G)(μ_k − μ_G)ᵀ``,
``NC1 = tr(Σ_W Σ_B^†)/K`` (Σ_B has rank ≤ K − 1: a pseudo-inverse with a relative cutoff);
NC2 = ‖M̃M̃ᵀ/‖M̃M̃ᵀ‖_F − (I − 11ᵀ/K)/√(K − 1)‖_F with M̃ the centred class means (K × d);
NC3 the same with W M̃ᵀ in place of M̃M̃ᵀ.

Modes (``mode``): ``closed_form`` (the alternating scheme; its iterations are the trajectory),
``gd`` (gradient descent from H = X) and ``digits``: an MLP 64-128-128-10 on
``sklearn.datasets.load_digits`` (1797 images, shipped with scikit-learn), MSE on one-hot
targets, AdamW, full batch; NC1 of each hidden layer's (post-ReLU) features, and the ratio
NC1(last hidden)/NC1(first hidden) plays NC1(H)/NC1(X) (the paper's reading of X as the
features of an earlier layer). ``data`` swaps the digits for a user's data set (``core.data``),
its features standardized per column, its k classes the network's outputs. In every mode the
β sweep (NC1(H*)/NC1(X) against β, one curve per λ_W) solves the model on the toy X in one
batched computation, β and λ_W as leading dimensions of batched ``linalg.solve`` calls.

Below β = 0.1 with small λ_W the ratio need not fall with β: the spec put its non-monotone
entry at β = 0.01 down to slow convergence, but run to tol = 1e-8 (thousands of iterations) the
scheme's fixed point stays above the β = 0.1 value, so the non-monotonicity belongs to the
minimizer reached from H = X, not to the iteration count. The claims assert monotonicity only for
β ≥ 0.1, as the spec does.

Toy X (the spec's model lab): class means ~ N(0, I_d), each sample its class mean plus σ_w·N(0, I_d).

Checked against the paper: only its abstract (and the ICML text's opening, which is all the
search tool returns) could be read offline: the model's structure (features forced to stay near
a predefined X, perturbation analysis, NC1 reduction along the central path, regularization
effects) is confirmed there. The spec's [unverified] normalization of the β and λ terms (the
1/2N on the fit and the feature term, λ_W/2 on ‖W‖²) could NOT be confirmed from the paper's
text: the search tool returned only each copy's first page. It is the normalization used here
and throughout (it is the usual one for MSE unconstrained-features models with N = Kn samples);
another normalization rescales β and λ_W by constant factors (N), not the qualitative claims.
What the claims measured: ``paperscope verify neural-collapse``, recorded in
``paperscope/claims/recorded/neural_collapse.json``.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import param
import torch

from paperscope.core import data
from paperscope.core.device import check_fits, resolve_device_for
from paperscope.core.frames import Frame, check_finite, to_host
from paperscope.core.pacing import Interval, Pacer
from paperscope.core.paper import Paper
from paperscope.core.params import LabParams
from paperscope.core.seeding import torch_generator

PAPER = Paper(
    slug="neural-collapse",
    title="Neural collapse near predefined features",
    paper_title="Perturbation Analysis of Neural Collapse",
    authors="Tirer, Huang, Niles-Weed",
    venue="ICML 2023",
    arxiv="2210.16658",
    claim=("Features optimized near a predefined feature matrix X collapse more than X: "
           "NC1(H*) < NC1(X), less so as the feature term β grows; deep layers of a real "
           "network show the same depthwise decrease without exact collapse."),
    equations=(
        r"\min_{W,H}\ \frac{1}{2N}\|WH - Y\|_F^2 + \frac{\lambda_W}{2}\|W\|_F^2 + \frac{\beta}{2N}\|H - X\|_F^2",
        r"(W^\top W + \beta I) H = W^\top Y + \beta X,\qquad W (H H^\top + N\lambda_W I) = Y H^\top",
        r"\mathrm{NC1} = \tfrac1K \operatorname{tr}(\Sigma_W \Sigma_B^\dagger)",
        r"\mathrm{NC1}(H^*) < \mathrm{NC1}(X)",
    ),
    topics=("deep learning theory", "neural collapse", "optimization"),
    checked=("Only the abstract was readable offline: the model's structure is confirmed there, the "
             "normalization of the beta and lambda_W terms (1/2N on the fit and feature terms) is not "
             "and is documented as the one used."),
)

MODES = ("closed_form", "gd", "digits")
SWEEP_BETAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
SWEEP_LAMBDAS = (1e-3, 1e-2, 1e-1)
PINV_RTOL = 1e-10  # Σ_B has rank ≤ K − 1: eigenvalues below this share of the largest are dropped
DIGITS_CLASSES = 10
RECORDS = 60  # points of a digits trajectory (NC1 of two layers costs ~3 training steps)
PCA_EVERY_S = 0.5  # the digits PCA panels are refreshed at most this often
MAX_SNAPSHOT_BYTES = 64 * 2**20  # GD keeps a chunk's iterates to measure NC1 on all of them at once
STREAM_X, STREAM_W, STREAM_NET = 0, 1, 2


class Params(LabParams):
    """Hyperparameters of the neural-collapse lab (defaults: the spec's CPU experiment)."""

    mode = param.Selector(
        default="gd", objects=list(MODES),
        doc=("closed_form: the model's minimizer by alternating closed-form block updates (its "
             "iterations are the trajectory); gd: gradient descent on the model from H = X, the "
             "training dynamics; digits: a real MLP on scikit-learn's digits, NC1 per hidden layer. "
             "The β sweep is the closed-form model's in every mode"),
    )
    beta = param.Number(
        0.1, bounds=(1e-4, 1e4), softbounds=(1e-3, 100.0),
        doc="β, weight of (1/2N)‖H − X‖²: how close the optimized features must stay to X (β → ∞: H = X)",
    )
    lambda_w = param.Number(
        1e-2, bounds=(1e-6, 10.0), softbounds=(1e-4, 1e-1),
        doc="λ_W, last-layer weight decay (λ_W/2)‖W‖²: the paper finds it matters less than β",
    )
    sigma_w = param.Number(
        1.0, bounds=(0.0, 10.0), softbounds=(0.1, 2.0),
        doc="σ_w, within-class noise of X (X = class means ~ N(0, I) plus σ_w·N(0, I)): sets NC1(X)",
    )
    classes = param.Integer(
        4, bounds=(2, 50), softbounds=(2, 10),
        doc="K, number of classes of the model (digits mode: the data's, 10 for the digits)",
    )
    dim = param.Integer(
        20, bounds=(1, 1024), softbounds=(2, 64),
        doc="d, feature dimension of the model; d < K − 1 leaves no room for a simplex ETF",
    )
    per_class = param.Integer(
        50, bounds=(2, 10000), softbounds=(5, 200),
        doc="n, samples per class of the model (N = K·n)",
    )
    iterations = param.Integer(
        5000, bounds=(1, 200000), softbounds=(100, 20000),
        doc="Gradient-descent iterations (gd mode); NC1 keeps falling after 100% training accuracy",
    )
    eta = param.Number(
        0.05, bounds=(1e-5, 1.0), softbounds=(0.005, 0.2),
        doc="GD step size: η for W and η·N for H (gd mode)",
    )
    tol = param.Number(
        1e-9, bounds=(1e-14, 1e-2), softbounds=(1e-12, 1e-4),
        doc="Alternating scheme: stop when ‖H_t − H_{t−1}‖ ≤ tol·‖H_t‖ (closed_form mode and the β sweep)",
    )
    max_iter = param.Integer(
        20000, bounds=(1, 1000000), softbounds=(100, 50000),
        doc="Alternating scheme: iterations at most (tiny β with small λ_W converges slowly)",
    )
    epochs = param.Integer(
        1000, bounds=(1, 50000), softbounds=(50, 3000),
        doc="Digits mode: full-batch AdamW epochs (the spec's claim reads epoch 1000)",
    )
    depth = param.Integer(2, bounds=(1, 6), doc="Digits mode: hidden layers of the MLP")
    width = param.Integer(128, bounds=(4, 2048), softbounds=(16, 512), doc="Digits mode: units per hidden layer")
    lr = param.Number(1e-3, bounds=(1e-6, 1.0), softbounds=(1e-4, 1e-2), doc="Digits mode: AdamW learning rate")
    weight_decay = param.Number(
        1e-4, bounds=(0.0, 1.0), softbounds=(0.0, 1e-2), doc="Digits mode: AdamW (decoupled) weight decay",
    )
    data = data.data_parameter(
        doc=("Digits mode: what the MLP learns, builtin (scikit-learn's digits, pixels/16) or the key of "
             "your own data set (--data PATH, the app's upload, data= in Python): numeric features, "
             "standardized per column, and k ≥ 2 classes, all rows used for training as with the digits"),
    )

    BUILTIN_DATA: ClassVar[str] = "digits"

    LOG_SCALE: ClassVar[tuple[str, ...]] = ("beta", "lambda_w", "eta", "tol", "lr")
    # Quick: about a second on one CPU core in every mode; quick digits are far from converged.
    QUICK: ClassVar[dict] = {"iterations": 1500, "max_iter": 500, "epochs": 60}
    # The spec's GPU scale-up is CIFAR-10 ResNet-18 features, not reachable offline: LARGE is
    # the model at ten classes in 256 dimensions and a long digits run instead.
    LARGE: ClassVar[dict] = {"classes": 10, "dim": 256, "per_class": 500, "iterations": 20000,
                             "max_iter": 100000, "epochs": 3000}


@dataclass(frozen=True, kw_only=True)
class CollapseFrame(Frame):
    """One snapshot of a run (T trajectory points, R per-layer records, L layers, N samples).

    ``iters``: iteration (closed_form, gd) or epoch (digits) of each trajectory point; ``ratio``:
    NC1(H_t)/NC1(X) there (digits: NC1(last hidden)/NC1(first hidden)); ``accuracy``: training
    accuracy of argmax(W H) (digits: of the network). ``nc1_layers (R, L)``: NC1 of X and H_t
    (model) or of each hidden layer (digits) at ``layer_iters``. The sweep: ``sweep (Λ, B)``
    NC1(H*)/NC1(X) for ``lambdas`` × ``betas`` (NaN until computed), ``sweep_converged``,
    ``sweep_iterations``. ``pca_x``, ``pca_h (N, 2)``: X and H on principal axes (model: X's
    axes for both; digits: each layer its own), ``labels (N,)``.
    """

    mode: str
    label: str
    iters: np.ndarray
    ratio: np.ndarray
    accuracy: np.ndarray
    layer_iters: np.ndarray
    nc1_layers: np.ndarray
    layer_names: tuple[str, ...]
    betas: np.ndarray
    lambdas: np.ndarray
    sweep: np.ndarray
    sweep_converged: np.ndarray
    sweep_iterations: np.ndarray
    beta: float
    pca_x: np.ndarray
    pca_h: np.ndarray
    labels: np.ndarray
    notice: str = ""


# --------------------------------------------------------------------------------------------
# Neural-collapse metrics


def one_hot(labels: torch.Tensor, K: int, dtype=torch.float64) -> torch.Tensor:
    """Y (K, N): column i is the indicator of sample i's class."""
    return torch.nn.functional.one_hot(labels, K).mT.to(dtype)


def class_means(H: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """M (..., d, K): class k's mean feature μ_k in column k."""
    return H @ Y.mT / Y.sum(-1)


def nc1(H: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """NC1 = tr(Σ_W Σ_B^†)/K for features H (..., d, N) and one-hot labels Y (K, N); batched
    over leading dimensions; float64."""
    H = H.double()
    Y = Y.double()
    K, N = Y.shape
    M = class_means(H, Y)  # (..., d, K)
    within = H - M @ Y  # h_i − μ_{y_i}
    Sigma_W = within @ within.mT / N  # (..., d, d)
    centred = M - H.mean(-1, keepdim=True)  # μ_k − μ_G
    Sigma_B = centred @ centred.mT / K
    # tr(A B) = Σ A ∘ Bᵀ, and Σ_B^† is symmetric
    return (Sigma_W * torch.linalg.pinv(Sigma_B, rtol=PINV_RTOL, hermitian=True)).sum((-2, -1)) / K


def _etf_distance(G: torch.Tensor) -> torch.Tensor:
    """‖G/‖G‖_F − (I − 11ᵀ/K)/√(K − 1)‖_F for a K × K matrix G (batched)."""
    K = G.shape[-1]
    etf = (torch.eye(K, dtype=G.dtype, device=G.device) - 1.0 / K) / math.sqrt(K - 1)
    return torch.linalg.matrix_norm(G / torch.linalg.matrix_norm(G)[..., None, None] - etf)


def nc2(H: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """NC2: distance of the centred class means' Gram matrix from the simplex ETF's."""
    Mc = (class_means(H.double(), Y.double()) - H.double().mean(-1, keepdim=True)).mT  # (..., K, d)
    return _etf_distance(Mc @ Mc.mT)


def nc3(W: torch.Tensor, H: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """NC3: the same with W M̃ᵀ (classifier against centred means) in place of M̃M̃ᵀ."""
    Mc = (class_means(H.double(), Y.double()) - H.double().mean(-1, keepdim=True)).mT
    return _etf_distance(W.double() @ Mc.mT)


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Share of samples whose largest score (scores (..., K, N)) is their class."""
    return (scores.argmax(-2) == labels).double().mean(-1)


# --------------------------------------------------------------------------------------------
# The model: data, closed-form blocks, gradient descent


def toy_features(K: int, n: int, d: int, sigma_w: float, gen: torch.Generator, device,
                 dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """X (d, N): class means ~ N(0, I_d) plus σ_w·N(0, I_d) per sample; labels (N,) in class
    blocks of n."""
    means = torch.randn(d, K, generator=gen, device=device, dtype=dtype)
    labels = torch.arange(K, device=device).repeat_interleave(n)
    noise = torch.randn(d, K * n, generator=gen, device=device, dtype=dtype)
    return means[:, labels] + sigma_w * noise, labels


def objective(W, H, X, Y, lambda_w, beta) -> torch.Tensor:
    """(1/2N)‖WH − Y‖² + (λ_W/2)‖W‖² + (β/2N)‖H − X‖² (batched over leading dimensions)."""
    N = Y.shape[-1]
    fit = ((W @ H - Y) ** 2).sum((-2, -1))
    return fit / (2 * N) + lambda_w / 2 * (W**2).sum((-2, -1)) + beta / (2 * N) * ((H - X) ** 2).sum((-2, -1))


def _eye(d: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(d, dtype=like.dtype, device=like.device)


def w_step(H: torch.Tensor, Y: torch.Tensor, lambda_w: torch.Tensor) -> torch.Tensor:
    """W = Y Hᵀ (HHᵀ + N λ_W I)^{-1}: W (..., K, d) from H (..., d, N), λ_W (...)."""
    N, d = Y.shape[-1], H.shape[-2]
    G = H @ H.mT + N * lambda_w[..., None, None] * _eye(d, H)  # (..., d, d), symmetric
    return torch.linalg.solve(G, H @ Y.mT).mT


def h_step(W: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """(WᵀW + β I) H = WᵀY + β X: H (..., d, N)."""
    d = W.shape[-1]
    A = W.mT @ W + beta[..., None, None] * _eye(d, W)
    return torch.linalg.solve(A, W.mT @ Y + beta[..., None, None] * X)


class Alternating:
    """The alternating closed-form scheme on a batch of (β, λ_W) lanes (leading dimensions),
    started at H = X; each lane records the iteration at which it first met the tolerance and
    then stops (the remaining lanes run on, so slow lanes cost only themselves).

    Both blocks only need d × d and d × K statistics of X and Y, so an iteration costs O(d³),
    not O(d²N): with A = WᵀW + βI, ``H Yᵀ = A⁻¹(Wᵀ YYᵀ + β XYᵀ)`` and ``H Hᵀ = A⁻¹ C A⁻¹``,
    ``C = Wᵀ YYᵀ W + β(Wᵀ YXᵀ + XYᵀ W) + β² XXᵀ``. H itself is formed only when asked for.
    The tolerance applies to W: ``‖W_t − W_{t−1}‖ ≤ tol·‖W_t‖`` (H is a smooth function of W).
    """

    def __init__(self, X, Y, beta: torch.Tensor, lambda_w: torch.Tensor, tol: float):
        self.shape = torch.broadcast_shapes(beta.shape, lambda_w.shape)
        self.X, self.Y, self.tol = X, Y, tol
        self.beta = beta.expand(self.shape).reshape(-1, 1, 1)  # lanes flattened: (M, 1, 1)
        self.lambda_w = lambda_w.expand(self.shape).reshape(-1, 1, 1)
        self.N, d = Y.shape[-1], X.shape[-2]
        self.I = _eye(d, X)
        self.S_YY, self.S_XY, self.S_XX = Y @ Y.mT, X @ Y.mT, X @ X.mT  # (K, K), (d, K), (d, d)
        # W-step from H = X: W = Y Xᵀ (XXᵀ + NλI)⁻¹
        self._W = torch.linalg.solve(self.S_XX + self.N * self.lambda_w * self.I, self.S_XY).mT  # (M, K, d)
        self.t = 0
        self._converged_at = torch.full((self._W.shape[0],), -1, dtype=torch.long, device=X.device)
        self._active = torch.arange(self._W.shape[0], device=X.device)

    def _step(self, W, beta, lambda_w) -> torch.Tensor:
        """One H-step and W-step through the statistics; W (m, K, d) -> the new W."""
        A_inv = torch.cholesky_inverse(torch.linalg.cholesky(W.mT @ W + beta * self.I))
        WtS = W.mT @ self.S_YY  # (m, d, K)
        C = WtS @ W + beta * (W.mT @ self.S_XY.mT + self.S_XY @ W) + beta**2 * self.S_XX
        HY = A_inv @ (WtS + beta * self.S_XY)  # H Yᵀ (m, d, K)
        HH = A_inv @ C @ A_inv  # H Hᵀ (m, d, d)
        return torch.linalg.solve(HH + self.N * lambda_w * self.I, HY).mT

    def steps(self, n: int) -> None:
        for _ in range(n):
            if len(self._active) == 0:
                return
            lanes = self._active
            old = self._W[lanes]
            W = self._step(old, self.beta[lanes], self.lambda_w[lanes])
            change = torch.linalg.matrix_norm(W - old) / torch.linalg.matrix_norm(W)
            self._W[lanes] = W
            self.t += 1
            met = change <= self.tol
            self._converged_at[lanes[met]] = self.t
            self._active = lanes[~met]

    @property
    def W(self) -> torch.Tensor:
        return self._W.reshape(*self.shape, *self._W.shape[-2:])

    @property
    def converged_at(self) -> torch.Tensor:
        """Iteration at which each lane met the tolerance, −1 while it has not."""
        return self._converged_at.reshape(self.shape)

    @property
    def H(self) -> torch.Tensor:
        """The H-step's features for the current W (the minimizer once converged): (..., d, N)."""
        return h_step(self.W, self.X, self.Y, self.beta.reshape(self.shape))

    @property
    def done(self) -> bool:
        return len(self._active) == 0


def solve_model(X, Y, beta, lambda_w, tol: float = 1e-9, max_iter: int = 20000) -> Alternating:
    """Alternate to the tolerance (or ``max_iter``) on every (β, λ_W) lane at once."""
    scheme = Alternating(X, Y, torch.as_tensor(beta, dtype=X.dtype, device=X.device),
                         torch.as_tensor(lambda_w, dtype=X.dtype, device=X.device), tol)
    while scheme.t < max_iter and not scheme.done:
        scheme.steps(min(50, max_iter - scheme.t))
    return scheme


def gd_steps(W, H, X, Y, lambda_w: float, beta: float, eta: float, n: int):
    """n gradient-descent steps on the model (η_W = η, η_H = η·N); returns the final (W, H)
    and every iterate stacked (n, K, d), (n, d, N)."""
    N = Y.shape[-1]
    Ws, Hs = [], []
    for _ in range(n):
        R = W @ H - Y  # (K, N) residual
        grad_W = R @ H.mT / N + lambda_w * W
        grad_H = (W.mT @ R + beta * (H - X)) / N
        W, H = W - eta * grad_W, H - eta * N * grad_H
        Ws.append(W)
        Hs.append(H)
    return W, H, torch.stack(Ws), torch.stack(Hs)


# --------------------------------------------------------------------------------------------
# The digits MLP


def dataset_tensors(dataset: data.Dataset, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A user's data set: inputs (N, d) standardized per column (a constant column becomes 0:
    unlike the digits' pixels, features may be on any scale), labels (N,)."""
    X = dataset.X
    std = X.std(0)
    std[std == 0] = 1.0
    return (torch.tensor((X - X.mean(0)) / std, dtype=torch.float32, device=device),
            torch.tensor(dataset.y, dtype=torch.long, device=device))


def load_digits_tensors(device) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (shipped with the package): inputs (N, 64) in [0, 1], labels (N,)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (torch.tensor(data.data / 16.0, dtype=torch.float32, device=device),
            torch.tensor(data.target, dtype=torch.long, device=device))


def init_mlp(sizes: list[int], gen: torch.Generator, device) -> list[torch.Tensor]:
    """Weights and biases U(−1/√fan_in, 1/√fan_in) (PyTorch's default Linear init), from the seed."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            w = (torch.rand(shape, generator=gen, device=device) * 2 - 1) * bound
            params.append(w.requires_grad_())
    return params


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Scores (N, K) and each hidden layer's post-ReLU features (N, width)."""
    hidden = []
    for i in range(0, len(params) - 2, 2):
        x = torch.relu(x @ params[i].T + params[i + 1])
        hidden.append(x)
    return x @ params[-2].T + params[-1], hidden


# --------------------------------------------------------------------------------------------
# The run


def run_label(params: Params) -> str:
    """How a run is named."""
    if params.mode == "digits":
        what = "digits" if params.data == data.BUILTIN else params.data
        return f"{what} MLP {params.depth}×{params.width}, {params.epochs} epochs"
    return f"{params.mode} β={params.beta:g} λ_W={params.lambda_w:g} σ_w={params.sigma_w:g}"


def pca_axes(Z: np.ndarray) -> np.ndarray:
    """The top two principal axes (p, 2) of the rows of Z (N, p): eigenvectors of the p × p
    scatter matrix (far cheaper than an SVD of Z when N ≫ p)."""
    Zc = torch.from_numpy(Z - Z.mean(0))
    _, vectors = torch.linalg.eigh(Zc.mT @ Zc)  # ascending eigenvalues
    axes = vectors.flip(-1)[:, :2].numpy()
    return np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))


def _project(Z: np.ndarray, axes: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return (Z - centre) @ axes


class _State:
    """What the run accumulates on the host (trajectory, per-layer records, sweep, PCA)."""

    def __init__(self, params: Params, layer_names):
        L = len(layer_names)
        self.iters, self.ratio, self.acc = [], [], []
        self.layer_iters, self.nc1_layers = [], np.zeros((0, L))
        self.layer_names = tuple(layer_names)
        self.sweep = np.full((len(SWEEP_LAMBDAS), len(SWEEP_BETAS)), np.nan)
        self.sweep_converged = np.zeros(self.sweep.shape, dtype=bool)
        self.sweep_iterations = np.zeros(self.sweep.shape, dtype=int)
        self.pca_x = self.pca_h = np.zeros((0, 2))
        self.labels = np.zeros(0)
        self.notice = ""

    def frame(self, params: Params, step: int, total: int, metrics=None) -> CollapseFrame:
        return CollapseFrame(
            step=step, total_steps=total, metrics=metrics, mode=params.mode, label=run_label(params),
            iters=np.asarray(self.iters, dtype=float), ratio=np.asarray(self.ratio),
            accuracy=np.asarray(self.acc), layer_iters=np.asarray(self.layer_iters, dtype=float),
            nc1_layers=self.nc1_layers.copy(), layer_names=self.layer_names,
            betas=np.asarray(SWEEP_BETAS), lambdas=np.asarray(SWEEP_LAMBDAS), sweep=self.sweep.copy(),
            sweep_converged=self.sweep_converged.copy(), sweep_iterations=self.sweep_iterations.copy(),
            beta=params.beta, pca_x=self.pca_x, pca_h=self.pca_h, labels=self.labels, notice=self.notice)


def first_full(iters, acc) -> float:
    """The first iteration with training accuracy 1 (NaN if never)."""
    hits = np.flatnonzero(np.asarray(acc) >= 1.0)
    return float(np.asarray(iters)[hits[0]]) if len(hits) else math.nan


def _model_setup(params: Params, device):
    gen = torch_generator(params.seed, device, STREAM_X)
    X, labels = toy_features(params.classes, params.per_class, params.dim, params.sigma_w, gen, device)
    return X, labels, one_hot(labels, params.classes)


def _trajectory_closed_form(params, st, X, Y, labels, nc1_X, pace):
    """The alternating scheme at (β, λ_W): one point per iteration; returns the final (W, H)."""
    scheme = Alternating(X, Y, torch.tensor(params.beta, dtype=X.dtype, device=X.device),
                         torch.tensor(params.lambda_w, dtype=X.dtype, device=X.device), params.tol)
    for n in pace.chunks(params.max_iter):
        for _ in range(n):
            scheme.steps(1)
            _record_model(st, scheme.t, scheme.W, scheme.H, Y, labels, nc1_X)
            if scheme.done:
                break
        if scheme.done:
            break
        if pace.due():
            yield
    st.iterations, st.converged = scheme.t, scheme.done
    if not scheme.done:
        st.notice = (f"the alternating scheme stopped at max_iter = {params.max_iter} before reaching "
                     f"tol = {params.tol:g}: raise max_iter (tiny β converges slowly)")
    st.W, st.H = scheme.W, scheme.H


def _record_model(st, t, W, H, Y, labels, nc1_X):
    """Append one trajectory point (and the per-layer record) of the model."""
    value = nc1(H, Y).item()
    st.iters.append(t)
    st.ratio.append(value / nc1_X)
    st.acc.append(accuracy(W @ H, labels).item())
    st.layer_iters.append(t)
    st.nc1_layers = np.vstack([st.nc1_layers, [nc1_X, value]])


def _trajectory_gd(params, st, X, Y, labels, nc1_X, device):
    """Gradient descent from H = X; NC1 and accuracy of every iterate (batched per chunk)."""
    K, d, N = params.classes, params.dim, Y.shape[-1]
    gen = torch_generator(params.seed, device, STREAM_W)
    W = 0.01 * torch.randn(K, d, generator=gen, device=device, dtype=X.dtype)
    H = X.clone()
    st.W, st.H = W, H
    per_step = 8 * (K * d + d * N) * 3  # iterates kept plus NC1's temporaries
    pace = Pacer(max_chunk=max(1, MAX_SNAPSHOT_BYTES // per_step))
    done = 0
    for n in pace.chunks(params.iterations):
        W, H, Ws, Hs = gd_steps(W, H, X, Y, params.lambda_w, params.beta, params.eta, n)
        values = to_host(nc1(Hs, Y))
        check_finite(values, step=done + n, what="NC1 of the features", hint="lower eta")
        st.iters.extend(range(done + 1, done + n + 1))
        st.ratio.extend(values / nc1_X)
        st.acc.extend(to_host(accuracy(Ws @ Hs, labels)))
        st.layer_iters.extend(range(done + 1, done + n + 1))
        st.nc1_layers = np.vstack([st.nc1_layers, np.column_stack([np.full(n, nc1_X), values])])
        done += n
        st.W, st.H = W, H
        if pace.due():
            st.pca_h = _project(to_host(H).T, st.axes, st.centre)
            yield
    st.iterations, st.converged = done, True


def _sweep(params, st, X, Y, labels, nc1_X, pace):
    """NC1(H*)/NC1(X) on the (λ_W, β) grid, all lanes in one batched alternating scheme."""
    scheme = Alternating(X, Y, torch.tensor(SWEEP_BETAS, dtype=X.dtype, device=X.device)[None, :],
                         torch.tensor(SWEEP_LAMBDAS, dtype=X.dtype, device=X.device)[:, None], params.tol)
    for n in pace.chunks(params.max_iter):
        scheme.steps(n)
        if scheme.done:
            break
        if pace.due():
            st.sweep = to_host(nc1(scheme.H, Y)) / nc1_X
            st.sweep_converged = (scheme.converged_at >= 0).cpu().numpy()
            yield
    st.sweep = to_host(nc1(scheme.H, Y)) / nc1_X
    st.sweep_converged = (scheme.converged_at >= 0).cpu().numpy()
    st.sweep_iterations = torch.where(scheme.converged_at >= 0, scheme.converged_at, scheme.t).cpu().numpy()


def _model_metrics(params, st, Y, labels, nc1_X) -> dict:
    nc1_H = nc1(st.H, Y).item()
    t_full = first_full(st.iters, st.acc)
    at_full = math.nan
    if math.isfinite(t_full):
        at_full = st.ratio[st.iters.index(int(t_full))]
    lanes = st.sweep_converged
    return {
        "nc1_ratio": nc1_H / nc1_X, "train_accuracy": accuracy(st.W @ st.H, labels).item(),
        "nc1_x": nc1_X, "nc1_h": nc1_H, "nc2": nc2(st.H, Y).item(), "nc3": nc3(st.W, st.H, Y).item(),
        "iterations": int(st.iterations), "converged": bool(st.converged),
        "first_full_accuracy_iteration": None if math.isnan(t_full) else int(t_full),
        "nc1_ratio_at_first_full": None if math.isnan(at_full) else float(at_full),
        "objective": objective(st.W, st.H, st.X, Y, params.lambda_w, params.beta).item(),
        "sweep_max_ratio": float(np.max(st.sweep)), "sweep_unconverged": int((~lanes).sum()),
    }


def run_model(params: Params, device, notice: str) -> Iterator[CollapseFrame]:
    """closed_form and gd modes: the trajectory at (β, λ_W), then the β sweep."""
    X, labels, Y = _model_setup(params, device)
    st = _State(params, ("X (input features)", "H (optimized)"))
    st.X, st.notice = X, notice
    nc1_X = nc1(X, Y).item()
    X_host = to_host(X).T  # (N, d)
    st.centre, st.axes = X_host.mean(0), pca_axes(X_host)
    st.pca_x = st.pca_h = _project(X_host, st.axes, st.centre)
    st.labels = to_host(labels)
    _record_model(st, 0, w_step(X, Y, torch.tensor(params.lambda_w, dtype=X.dtype, device=device)), X, Y,
                  labels, nc1_X)
    # progress: the trajectory's iterations (at most), then one step for the sweep
    total = (params.max_iter if params.mode == "closed_form" else params.iterations) + 1
    yield st.frame(params, 0, total)
    pace = Pacer()
    if params.mode == "closed_form":
        trajectory = _trajectory_closed_form(params, st, X, Y, labels, nc1_X, pace)
    else:
        trajectory = _trajectory_gd(params, st, X, Y, labels, nc1_X, device)
    for _ in trajectory:
        yield st.frame(params, int(st.iters[-1]), total)
    st.pca_h = _project(to_host(st.H).T, st.axes, st.centre)
    yield st.frame(params, total - 1, total)
    for _ in _sweep(params, st, X, Y, labels, nc1_X, Pacer()):
        yield st.frame(params, total - 1, total)
    yield st.frame(params, total, total, metrics=_model_metrics(params, st, Y, labels, nc1_X))


def run_digits(params: Params, device, notice: str) -> Iterator[CollapseFrame]:
    """digits mode: train the MLP, NC1 of each hidden layer every few epochs; then the β sweep."""
    if params.data == data.BUILTIN:
        x, labels = load_digits_tensors(device)
        K = DIGITS_CLASSES
    else:
        dataset = data.resolve(params)
        x, labels = dataset_tensors(dataset, device)
        K = dataset.k
        notice = (notice + "; " if notice else "") + f"learning {dataset.describe()}"
    Y = one_hot(labels, K)
    targets = Y.mT.float()  # (N, K) one-hot regression targets (MSE)
    gen = torch_generator(params.seed, device, STREAM_NET)
    weights = init_mlp([x.shape[1], *[params.width] * params.depth, K], gen, device)
    check_fits(4 * x.shape[0] * params.width * params.depth * 4, device, "the MLP's activations", "lower width")
    optimizer = torch.optim.AdamW(weights, lr=params.lr, weight_decay=params.weight_decay)
    st = _State(params, tuple(f"hidden layer {i + 1}" for i in range(params.depth)))
    st.labels = to_host(labels)
    every = max(1, math.ceil(params.epochs / RECORDS))

    def record(epoch):
        with torch.no_grad():
            scores, hidden = mlp_forward(weights, x)
        values = [nc1(h.mT, Y).item() for h in hidden]
        check_finite(values, step=epoch, what="NC1 of the hidden features", hint="lower lr")
        st.iters.append(epoch)
        st.ratio.append(values[-1] / values[0])
        st.acc.append(accuracy(scores.mT, labels).item())
        st.layer_iters.append(epoch)
        st.nc1_layers = np.vstack([st.nc1_layers, values])
        return values

    def pca():
        """First and last hidden layer on their own principal axes (when a frame is shown)."""
        with torch.no_grad():
            _, hidden = mlp_forward(weights, x)
        first, last = to_host(hidden[0]), to_host(hidden[-1])
        st.pca_x = _project(first, pca_axes(first), first.mean(0))
        st.pca_h = _project(last, pca_axes(last), last.mean(0))

    values = record(0)
    pca()
    st.notice = notice
    if params.epochs < 1000 and params.data == data.BUILTIN:
        st.notice = (notice + "; " if notice else "") + (
            f"{params.epochs} epochs: the digits net is still training (not converged; the claim reads epoch 1000)")
    yield st.frame(params, 0, params.epochs + 1)
    pace, pca_due = Pacer(), Interval(PCA_EVERY_S)
    epoch = 0
    for n in pace.chunks(params.epochs):
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            scores, _ = mlp_forward(weights, x)
            loss = torch.nn.functional.mse_loss(scores, targets)
            loss.backward()
            optimizer.step()
            epoch += 1
            if epoch % every == 0 or epoch == params.epochs:
                values = record(epoch)
        check_finite(loss.detach(), step=epoch, what="the training loss", hint="lower lr")
        if pace.due():
            if pca_due.due():
                pca()
            yield st.frame(params, epoch, params.epochs + 1)
    pca()
    # The β sweep on the toy model (the same panel as the other modes).
    X, toy_labels, Y_toy = _model_setup(params, device)
    nc1_X = nc1(X, Y_toy).item()
    for _ in _sweep(params, st, X, Y_toy, toy_labels, nc1_X, Pacer()):
        yield st.frame(params, epoch, params.epochs + 1)
    metrics = {
        "nc1_ratio": values[-1] / values[0], "train_accuracy": st.acc[-1], "nc1_by_layer": list(values),
        "final_loss": loss.item(), "epochs": epoch,
        "first_full_accuracy_iteration": None if math.isnan(t := first_full(st.iters, st.acc)) else int(t),
        "sweep_max_ratio": float(np.max(st.sweep)), "sweep_unconverged": int((~st.sweep_converged).sum()),
    }
    yield st.frame(params, params.epochs + 1, params.epochs + 1, metrics=metrics)


def run(params: Params) -> Iterator[CollapseFrame]:
    """Run the selected mode; the last frame carries the metrics."""
    if params.mode == "digits":
        device = resolve_device_for(params.device, torch.float32)[0]
        yield from run_digits(params, device, "")
        return
    device, notice = resolve_device_for(params.device, torch.float64)
    if params.data != data.BUILTIN:
        data.resolve(params)  # refused here if it is not loaded, as in digits mode
        notice = (notice + "; " if notice else "") + "data is used in digits mode only: here X is the toy model's"
    N = params.classes * params.per_class
    check_fits(8 * len(SWEEP_BETAS) * len(SWEEP_LAMBDAS) * params.dim * N * 4, device,
               f"the β sweep at d={params.dim}, N={N}", "lower dim or per_class")
    yield from run_model(params, device, notice)


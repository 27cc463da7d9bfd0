"""Claims of the neural-collapse lab (spec C1-C4): the closed-form model's NC1 reduction over a
β × σ_w × λ_W grid, its monotone rise with β ≥ 0.1, gradient descent's NC1 falling after 100%
training accuracy, and the digits MLP's depthwise decrease."""

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..core.seeding import torch_generator
from ..labs import neural_collapse as nc

BETAS = (0.01, 0.1, 1.0, 10.0)
SIGMAS = (0.3, 1.0)
LAMBDAS = (1e-3, 1e-2)


def model_grid(seed: int, K: int = 4, n: int = 50, d: int = 20, tol: float = 1e-9,
               max_iter: int = 50000) -> dict:
    """NC1(H*)/NC1(X) of the alternating scheme's fixed point on σ_w × λ_W × β (``ratio (S, Λ, B)``),
    the X of the lab's run at that seed, and whether each lane met the tolerance."""
    torch.set_num_threads(1)  # small batched solves: one thread beats a contended pool
    ratio, converged = [], []
    for sigma in SIGMAS:
        X, labels = nc.toy_features(K, n, d, sigma, torch_generator(seed, "cpu", nc.STREAM_X), torch.device("cpu"))
        Y = nc.one_hot(labels, K)
        scheme = nc.solve_model(X, Y, torch.tensor(BETAS, dtype=torch.float64)[None, :],
                                torch.tensor(LAMBDAS, dtype=torch.float64)[:, None], tol=tol, max_iter=max_iter)
        ratio.append((nc.nc1(scheme.H, Y) / nc.nc1(X, Y)).numpy())
        converged.append((scheme.converged_at >= 0).numpy())
    return {"ratio": np.stack(ratio), "converged": np.stack(converged)}


def rises_with_beta(f: dict) -> float:
    """The smallest step of ratio(0.1) < ratio(1) < ratio(10) over σ_w and λ_W (> 0: monotone)."""
    r = f["ratio"][..., [BETAS.index(0.1), BETAS.index(1.0), BETAS.index(10.0)]]
    return float(np.diff(r, axis=-1).min())


def gd_trace(seed: int, iterations: int = 1000, beta: float = 0.1, lambda_w: float = 1e-2,
             sigma_w: float = 1.0) -> dict:
    """The lab's GD run (its sweep cut to one iteration): NC1 ratio and accuracy per iteration."""
    torch.set_num_threads(1)
    *_, last = nc.run(nc.Params(mode="gd", iterations=iterations, beta=beta, lambda_w=lambda_w,
                                sigma_w=sigma_w, max_iter=1, seed=seed, device="cpu"))
    return {"iters": last.iters, "ratio": last.ratio, "accuracy": last.accuracy}


def later_over_first_full(f: dict) -> float:
    """NC1 at the last iteration over NC1 at the first iteration with training accuracy 1."""
    t = nc.first_full(f["iters"], f["accuracy"])
    if not np.isfinite(t):
        return np.inf
    return float(f["ratio"][-1] / f["ratio"][list(f["iters"]).index(t)])


def digits_layers(seed: int, epochs: int = 1000) -> dict:
    """The lab's digits run (MLP 64-128-128-10, MSE, AdamW): NC1 per hidden layer at the end."""
    torch.set_num_threads(1)
    *_, last = nc.run(nc.Params(mode="digits", epochs=epochs, max_iter=1, seed=seed, device="cpu"))
    return {"nc1_by_layer": last.metrics["nc1_by_layer"], "train_accuracy": last.metrics["train_accuracy"]}


# quick: a looser tolerance halves the slow lanes (tiny β, small λ_W); the ratios agree to 1e-3
GRID = {"measure": Measurement(model_grid), "seeds": 5, "quick": {"tol": 1e-7}, "paper": {"tol": 1e-9}}
GD = {"measure": Measurement(gd_trace), "seeds": 3, "quick": {"iterations": 1000}, "paper": {"iterations": 1000}}
DIGITS = {"measure": Measurement(digits_layers), "seeds": 2, "quick": {"epochs": 300}, "paper": {"epochs": 1000}}

CLAIMS = [
    Claim("C1", "NC1(H*)/NC1(X) < 1: the largest over β ∈ {0.01..10}, σ_w, λ_W",
          value=lambda f: float(f["ratio"].max()), threshold=1.0, direction="<", **GRID),
    Claim("C1-converged", "alternating scheme met its tol (paper: 1e-9) on every lane",
          value=lambda f: float(f["converged"].mean()), threshold=1.0, **GRID),
    Claim("C2", "monotone for β ≥ 0.1: min step of ratio(0.1) < ratio(1) < ratio(10)",
          value=rises_with_beta, threshold=0.0, direction=">", **GRID),
    Claim("C3", "GD: NC1 at iteration 1000 / NC1 at first 100% accuracy",
          value=later_over_first_full, threshold=1.0, direction="<", **GD),
    Claim("C4", "digits MLP: NC1(hidden layer 2) / NC1(hidden layer 1)",
          value=lambda f: f["nc1_by_layer"][1] / f["nc1_by_layer"][0], threshold=1.0, direction="<", **DIGITS),
    Claim("C4-fit", "digits MLP: training accuracy at the end",
          value=lambda f: f["train_accuracy"], threshold=0.99, **DIGITS),
]

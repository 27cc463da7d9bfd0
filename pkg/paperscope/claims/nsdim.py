"""Claims of the NSdim lab (spec C1-C3 and its ELM example), per seed."""

import math

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..labs import nsdim as ns

F64 = torch.float64


def feature_matrix(bounds, N: int, M: int, seed: int, activation: str = "tanh") -> torch.Tensor:
    """``H (B, M, N)`` exactly as the lab's run builds it (d = 1, biases over the weight range)."""
    X = ns.sample_points(M, 1, seed, "cpu", F64)
    u_w, u_b = ns.unit_draws(N, 1, seed, "cpu", F64)
    return ns.features(X, u_w, u_b, bounds, activation, "weight")


def saturation(seed: int, **params) -> dict:
    """NSdim per width and bound (1, 4, 16) of one lab run."""
    *_, last = ns.run(ns.Params(**params, seed=seed))
    return {"widths": list(last.widths), "nsdim": np.asarray(last.nsdim)}


def nsdim_table(seed: int, bounds: tuple, epsilons: tuple, N: int, M: int) -> np.ndarray:
    """NSdim ``(λ, ε)`` of tanh features."""
    s = torch.linalg.svdvals(feature_matrix(list(bounds), N=N, M=M, seed=seed))
    return ns.nsdim_counts(s, list(epsilons)).numpy()


def relu_growth(seed: int, bound: float, widths: tuple, M: int) -> float:
    """NSdim(last width) / NSdim(first width) of ReLU features at ε = 1e-12 (M ≥ N)."""
    H = feature_matrix([bound], N=max(widths), M=M, seed=seed, activation="relu")[0]
    small, big = (ns.nsdim_counts(torch.linalg.svdvals(H[:, :n]), [1e-12]).item() for n in widths)
    return big / small


def elm_errors(seed: int, bounds: tuple, widths: tuple, M: int) -> np.ndarray:
    """Relative error of the ε = 1e-12 truncated fit of sin(16πx): ``(width, λ)``."""
    H = feature_matrix(list(bounds), N=max(widths), M=M, seed=seed)
    y = torch.sin(16 * math.pi * torch.linspace(-1, 1, M, dtype=F64))[:, None]
    return np.array([ns.decompose(H[..., :n], y, ns.EPSILONS, 1e-12)[-1][:, 0].numpy() for n in widths])


def gain_800_to_1600(f: dict) -> float:
    """The larger NSdim gain from N = 800 to 1600 of λ = 1 and 4."""
    gain = f["nsdim"][-1] - f["nsdim"][f["widths"].index(800)]  # bounds 1, 4, 16
    return max(gain[0], gain[1])


C1 = {"measure": Measurement(saturation),
      "quick": {"weight_bound": 4.0, "width": 1600, "samples": 600, "epsilon": 1e-12}}
C2 = {"measure": Measurement(nsdim_table),
      "quick": {"bounds": (1.0, 4.0, 16.0, 64.0), "epsilons": (1e-4, 1e-8, 1e-12), "N": 1000, "M": 600}}
ELM = {"measure": Measurement(elm_errors), "quick": {"bounds": (1.0, 4.0), "widths": (50, 200, 1000), "M": 600}}

CLAIMS = [
    Claim("C1", "saturates: NSdim(N=1600) − NSdim(N=800), λ = 1, 4, ε = 1e-12",
          value=gain_800_to_1600, threshold=2, direction="<=", **C1),
    Claim("C1-plateau", "plateau far below the width: NSdim(N=1600, λ=4) < 0.1 N",
          value=lambda f: f["nsdim"][-1, 1], threshold=160, direction="<", **C1),
    Claim("C2-bound", "grows strictly in λ = 1, 4, 16, 64 (least step, N = 1000)",
          value=lambda t: np.diff(t, axis=0).min(), threshold=0, direction=">", **C2),
    Claim("C2-eps", "grows strictly in log(1/ε), ε = 1e-4, 1e-8, 1e-12 (least step)",
          value=lambda t: np.diff(t, axis=1).min(), threshold=0, direction=">", **C2),
    Claim("C2-linear", "~linear in log(1/ε): max over λ of (max step − 1.6 min step)",
          value=lambda t: (np.diff(t, axis=1).max(axis=1) - 1.6 * np.diff(t, axis=1).min(axis=1)).max(),
          threshold=2, direction="<=", **C2),
    Claim("C3", "ReLU keeps growing: NSdim(N=1600) / NSdim(N=400), M = 1700",
          Measurement(relu_growth), value=float, threshold=1.5, direction=">",
          quick={"bound": 4.0, "widths": (400, 1600), "M": 1700}),
    Claim("ELM-fail", "ELM, sin(16πx): λ = 1 fails at N = 50-1000 (least rel-err)",
          value=lambda e: e[:, 0].min(), threshold=0.9, direction=">", **ELM),
    Claim("ELM-fit", "ELM on sin(16πx): λ = 4 fits at N = 1000 (rel-err)",
          value=lambda e: e[-1, 1], threshold=1e-2, direction="<", **ELM),
]

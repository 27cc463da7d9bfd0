"""Benchmarks of the neural-collapse lab: the β sweep's alternating scheme, batched over the
(λ_W, β) lanes and iterating through d × d statistics, against the plain scheme (H formed every
iteration) run lane by lane.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import neural_collapse as nc

F64 = torch.float64


def _sweep(device: str, iterations: int = 50) -> Comparison:
    """``iterations`` alternating iterations on every lane of the lab's sweep grid (33 lanes)."""
    dev = torch.device(device)
    X, labels = nc.toy_features(4, 50, 20, 1.0, torch.Generator(device=dev).manual_seed(0), dev)
    Y = nc.one_hot(labels, 4).to(dev)
    betas = torch.tensor(nc.SWEEP_BETAS, dtype=F64, device=dev)
    lambdas = torch.tensor(nc.SWEEP_LAMBDAS, dtype=F64, device=dev)
    lanes = len(betas) * len(lambdas)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def loop() -> int:
        for lam in lambdas:
            for beta in betas:
                W = nc.w_step(X, Y, lam)
                for _ in range(iterations):
                    W = nc.w_step(nc.h_step(W, X, Y, beta), Y, lam)
        sync()
        return lanes * iterations

    def batched() -> int:
        # tol = 0: no lane stops early, so both do the same number of iterations
        nc.Alternating(X, Y, betas[None, :], lambdas[:, None], tol=0.0).steps(iterations)
        sync()
        return lanes * iterations

    base, cand = interleaved_rates(loop, batched)
    return Comparison(
        topic=f"β sweep, alternating scheme ({lanes} lanes, d=20, N=200)",
        baseline="plain H-step/W-step, lane by lane", candidate="batched lanes through XXᵀ, XYᵀ, YYᵀ",
        unit="lane-iterations/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)" if device == "cpu" else device,
        note="same iterates (a unit test checks the statistics form against the plain one)")


def cases() -> list[Comparison]:
    """Batched vs lane-by-lane on CPU (1 thread), and on CUDA if present."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        rows = [_sweep("cpu")]
        if torch.cuda.is_available():
            rows.append(_sweep("cuda"))
    finally:
        torch.set_num_threads(before)
    return rows

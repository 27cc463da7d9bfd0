"""Benchmarks of the PINN-sampling lab: the forward-Laplacian pass vs nested autograd.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import pinn_sampling as ps

STEPS = 25  # Adam steps per timed chunk (~0.2-0.4 s on a laptop core)


def _training(trainer, steps: int, sync=None):
    """A workload: ``steps`` full-batch Adam steps of one PINN; returns steps done."""
    def work() -> int:
        trainer.train_steps(steps)
        if sync is not None:
            sync()
        return steps
    return work


def _laplacian(device: str, n_points: int = 1000, dim: int = 2, steps: int = STEPS) -> Comparison:
    # The spec's network, 2-64-64-64-1 tanh with the hard ansatz, on N seeded uniform points.
    problem = "peak" if dim == 2 else "exponential"
    params = ps.Params(problem=problem, dim=dim, n_points=n_points, width=64, depth=3, device=device)
    autograd = ps.make_trainer(params, laplacian="autograd")
    forward = ps.make_trainer(params, laplacian="forward")  # same init, same points
    sync = torch.cuda.synchronize if device == "cuda" else None
    base, cand = interleaved_rates(_training(autograd, steps, sync), _training(forward, steps, sync))
    return Comparison(
        topic=f"PINN training step (d={dim}, N={n_points})", baseline="nested autograd Δu",
        candidate="forward Laplacian", unit="steps/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)" if device == "cpu" else device,
        note=("one Adam step on mean r² with u = Π(1-x²)N(x); the baseline takes ∇u by autograd "
              "and then one more backward pass per dimension (a graph of graphs to differentiate); "
              "the candidate pushes value, gradient and Laplacian through each tanh layer "
              "(models.tanh_jet: one autograd node with a hand-written backward)"),
    )


def cases() -> list[Comparison]:
    """Forward Laplacian vs nested autograd on CPU (1 thread; d = 2 and 5) and CUDA if present."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows += [_laplacian("cpu"), _laplacian("cpu", dim=5, steps=10)]
        if torch.cuda.is_available():
            rows += [_laplacian("cuda", steps=100), _laplacian("cuda", n_points=20000, steps=100)]
    finally:
        torch.set_num_threads(before)
    return rows

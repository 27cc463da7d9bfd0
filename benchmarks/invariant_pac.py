"""Benchmarks of the invariant-PAC lab: every fit of a sweep (graphs × learners × m × reps) as
one batched optimiser loop against a Python loop that trains one fit at a time, same steps.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import invariant_pac as ip

STEPS = 40


def _fits(params: ip.Params, rows_per_loop: int | None):
    """A workload: STEPS Adam steps of every fit, all rows at once (None) or ``rows_per_loop``
    rows at a time; returns the fit-steps done."""
    device = torch.device("cpu")
    setup = ip.build(params, device)
    p = setup.problem
    A = p.P.shape[0]
    x0 = ip.initial_x(setup, params, device, torch.float64)
    width = A if rows_per_loop is None else rows_per_loop

    def work() -> int:
        for start in range(0, A, width):
            rows = torch.arange(start, min(A, start + width))
            sub = p.rows(rows)
            x = x0[rows].clone().requires_grad_(True)
            lam = torch.zeros_like(sub.T_train[..., 0])
            ip.train_steps(x, torch.optim.Adam([x], lr=ip.LR), lam, sub, STEPS, 0)
        return A * STEPS
    return work


def cases() -> list[Comparison]:
    torch.set_num_threads(1)
    params = ip.Params(device="cpu", reps=2, extra_nodes=20)
    base, cand = interleaved_rates(_fits(params, 1), _fits(params, None), repeats=2)
    A = 4 * len(ip.sweep_ms(params.sites, params.train_envs)) * params.reps
    return [Comparison(
        topic=f"batched fits ({A} fits, d = 28, {STEPS} steps)", baseline="loop over fits",
        candidate="one batched loop", unit="fit-steps/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)",
        note="same Adam steps on the same fits; the batch removes per-fit dispatch overhead")]

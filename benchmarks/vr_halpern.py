"""Benchmarks of the VR-Halpern lab: seeds (and tuned step sizes) batched as lanes against a loop
over them, and the vectorised component-operator evaluation against a per-component loop.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import vr_halpern as vh

N, DIM = 100, 20  # the lab's defaults
VR_STEPS = 1000  # inner iterations per timed chunk


def _device_name(device: str) -> str:
    return "cpu (1 thread)" if device == "cpu" else device


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _vr_batched_vs_loop(R: int, device: str) -> Comparison:
    """VR-EG + VR-Halpern inner iterations for R seeds: one batched loop vs R single-seed loops."""
    batched = vh.VarianceReduced(vh.make_problem(0, R, N, DIM, 1e-2, 1.0, device), 0, 4.0, 1e6)
    singles = [vh.VarianceReduced(vh.make_problem(r, 1, N, DIM, 1e-2, 1.0, device), r, 4.0, 1e6)
               for r in range(R)]
    sync = _sync(device)

    def loop() -> int:
        for s in singles:
            s.run(VR_STEPS)
        sync()
        return VR_STEPS * R

    def batch() -> int:
        batched.run(VR_STEPS)
        sync()
        return VR_STEPS * R

    base, cand = interleaved_rates(loop, batch)
    return Comparison(
        topic=f"VR loop, {R} seeds (n={N}, d={DIM})", baseline=f"loop of {R} single-seed loops",
        candidate="one batched loop", unit="seed-iterations/s", baseline_rate=base, candidate_rate=cand,
        device=_device_name(device),
        note=("each iteration steps VR-EG and VR-Halpern for every seed; the batched loops run their "
              "~9 tensor ops once on (R, 2d) states instead of R times. The ops are latency-bound, "
              "so the gain grows with R (it stays below R: the gathered (R, 2d, 2d) blocks grow)"),
    )


def _run_batched_vs_loop(R: int, device: str) -> Comparison:
    """Whole lab runs (all four methods): one run with ``repeats=R`` vs R runs with one seed."""
    common = {"n": 50, "passes": 50.0, "device": device}

    def loop() -> int:
        for r in range(R):
            *_, last = vh.run(vh.Params(repeats=1, seed=r, **common))
        return R

    def batch() -> int:
        *_, last = vh.run(vh.Params(repeats=R, seed=0, **common))
        return R

    base, cand = interleaved_rates(loop, batch, repeats=2)
    return Comparison(
        topic=f"whole run, {R} seeds (n=50, 50 passes)", baseline=f"{R} runs of one seed",
        candidate=f"one run, repeats={R}", unit="seed-runs/s", baseline_rate=base, candidate_rate=cand,
        device=_device_name(device),
        note="the same numbers either way (tests/labs/test_vr_halpern_compute.py checks it)",
    )


def _tuning_steps_as_lanes(G: int, device: str) -> Comparison:
    """Step tuning: G steps of VR-Halpern as lanes of one :func:`vh.trace` vs G traces of one step."""
    p = vh.make_problem(100, 2, N, DIM, 1e-2, 1.0, device)
    steps, passes = 4.0 * 2 ** (torch.arange(G) / 2 - 2).numpy(), 20.0

    def loop() -> int:
        for c in steps:
            vh.trace(p, 100, "vr_halpern", c, passes)
        return G

    def batch() -> int:
        vh.trace(p, 100, "vr_halpern", steps, passes)
        return G

    base, cand = interleaved_rates(loop, batch, repeats=2)
    return Comparison(
        topic=f"step tuning, {G} steps (VR-Halpern, n={N}, 2 seeds, {passes:g} passes)",
        baseline=f"{G} runs of one step", candidate="one run, steps as lanes", unit="steps tried/s",
        baseline_rate=base, candidate_rate=cand, device=_device_name(device),
        note=("what the claims' tuning does (claims/vr_halpern.py); every lane sees the same games "
              "and draws as its run alone (tests/labs/test_vr_halpern_compute.py checks it)"),
    )


def _full_pass(n: int, device: str) -> Comparison:
    """F(u) = (1/n) Σ_i F_i(u) for 3 seeds: one batched product over all components vs a loop."""
    p = vh.make_problem(0, 3, n, DIM, 1e-2, 1.0, device)
    u = torch.randn(3, 2 * DIM, dtype=vh.DTYPE, device=device)
    sync, reps = _sync(device), 20

    def loop() -> int:
        for _ in range(reps):
            total = torch.zeros_like(u)
            for i in range(n):
                total += vh.matvec(p.M[:, i], u) + p.q
            total / n
        sync()
        return reps * n * 3

    def batch() -> int:
        for _ in range(reps):
            p.F_components(u).mean(1)
        sync()
        return reps * n * 3

    base, cand = interleaved_rates(loop, batch)
    return Comparison(
        topic=f"full pass (n={n}, d={DIM}, 3 seeds)", baseline="loop over components",
        candidate="one batched einsum", unit="F_i calls/s", baseline_rate=base, candidate_rate=cand,
        device=_device_name(device),
        note=("the lab itself computes full passes with the mean matrix M̄ (exact for this linear "
              "sum, still counted as n calls); this row is the generic vectorised evaluation"),
    )


def cases() -> list[Comparison]:
    """Batched seeds and vectorised components vs Python loops (CPU, 1 thread; CUDA if present)."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows += [_vr_batched_vs_loop(R, "cpu") for R in (3, 8)]
        rows += [_run_batched_vs_loop(3, "cpu"), _tuning_steps_as_lanes(13, "cpu")]
        rows += [_full_pass(n, "cpu") for n in (100, 1000)]
        if torch.cuda.is_available():
            rows += [_vr_batched_vs_loop(8, "cuda"), _full_pass(1000, "cuda")]
    finally:
        torch.set_num_threads(before)
    return rows

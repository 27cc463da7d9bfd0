"""Benchmarks of the bandlimited lab: the (λ, k) heat map as batched ridge solves.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import. Every variant computes the same relative test errors (the
first case checks that they agree).
"""

import numpy as np
import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.core.frames import to_host
from paperscope.labs import bandlimited as bl


def _setup(width: int, n_train: int, device: str, seeds=(0,)):
    return bl.make_problem(list(seeds), width=width, n_train=n_train, law="uniform", activation="tanh",
                           ridge=1e-10, device=device)


def _cell_loop(problem, bounds, freqs, sync):
    """Naive: one ridge fit per (λ, k) cell, features rebuilt each time."""
    def work() -> int:
        out = np.empty((len(bounds), len(freqs)))
        for i, lam in enumerate(bounds):
            for j, k in enumerate(freqs):
                out[i, j] = float(problem.errors([lam], [k])[0, 0, 0])
        sync()
        work.result = out
        return out.size
    return work


def _row_loop(problem, bounds, freqs, sync):
    """A loop over λ, all k of a row as right-hand sides of one solve."""
    def work() -> int:
        out = np.concatenate([to_host(problem.errors([lam], freqs)[0]) for lam in bounds])
        sync()
        work.result = out
        return out.size
    return work


def _batched(problem, bounds, freqs, sync, chunk: int = 8):
    """The lab's way: chunks of λ as batch entries of one QR, all k as right-hand sides."""
    def work() -> int:
        parts = [to_host(problem.errors(bounds[i:i + chunk], freqs)[0]) for i in range(0, len(bounds), chunk)]
        sync()
        work.result = np.concatenate(parts)
        return work.result.size
    return work


def _grid_case(device: str, baseline: str, L: int, K: int, width: int, n_train: int) -> Comparison:
    problem = _setup(width, n_train, device)
    bounds, freqs = bl.log_grid(*bl.BOUND_RANGE, L), bl.log_grid(*bl.FREQ_RANGE, K)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    make = _cell_loop if baseline == "cells" else _row_loop
    base_fn, cand_fn = make(problem, bounds, freqs, sync), _batched(problem, bounds, freqs, sync)
    base, cand = interleaved_rates(base_fn, cand_fn)
    # Same numbers either way (up to rounding in an ill-conditioned solve).
    agree = np.allclose(np.log10(base_fn.result), np.log10(cand_fn.result), atol=0.05)
    label = {"cells": f"loop over {L * K} (λ, k) cells", "rows": f"loop over {L} λ rows"}[baseline]
    note = ("one ridge fit per cell: features and QR redone for every k" if baseline == "cells" else
            "the QR of a row is shared by its k targets either way; here only the rows are "
            "batched (one QR call per 8 rows instead of per row)")
    return Comparison(
        topic=f"(λ, k) grid {L}x{K}, N={width}, n={n_train}", baseline=label,
        candidate="batched QR over λ, k as right-hand sides", unit="cells/s",
        baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)" if device == "cpu" else device,
        note=f"{note}; results {'agree' if agree else 'DIFFER'}",
    )


def _seeds_case(device: str) -> Comparison:
    """The claim tests' shape: three seeds batched into the same solves vs one seed at a time."""
    bounds, freqs, seeds = bl.log_grid(*bl.BOUND_RANGE, 8), bl.log_grid(*bl.FREQ_RANGE, 5), (0, 1, 2)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def loop() -> int:
        for s in seeds:
            bl.error_grid(bounds, freqs, seeds=(s,), width=200, n_train=300, device=device)
        sync()
        return len(seeds) * len(bounds) * len(freqs)

    def batched() -> int:
        bl.error_grid(bounds, freqs, seeds=seeds, width=200, n_train=300, device=device)
        sync()
        return len(seeds) * len(bounds) * len(freqs)

    base, cand = interleaved_rates(loop, batched)
    return Comparison(topic="3 seeds of an 8x5 grid, N=200", baseline="loop over seeds",
                      candidate="seeds batched with λ", unit="cells/s", baseline_rate=base,
                      candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
                      note=("same solves and numbers; on the CPU LAPACK factors a batch one matrix at a "
                            "time, so batching saves only call overhead and can lose to cache "
                            "traffic (ratio near or below 1); a GPU runs the batch in parallel"))


def _ridge_case(device: str) -> Comparison:
    """The ridge panel: one cell refitted at every ρ of the menu, a QR fit per ρ vs one SVD."""
    ridges = list(bl.Params.param.ridge.objects)
    problems = {r: bl.make_problem([0], width=400, n_train=600, law="uniform", activation="tanh", ridge=r,
                                   device=device) for r in ridges}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def per_ridge() -> int:
        per_ridge.result = np.array([float(problems[r].errors([4.0], [8.0])[0, 0, 0]) for r in ridges])
        sync()
        return len(ridges)

    def one_svd() -> int:
        one_svd.result = to_host(problems[ridges[0]].ridge_errors(4.0, [8.0], ridges)[0, :, 0])
        sync()
        return len(ridges)

    base, cand = interleaved_rates(per_ridge, one_svd)
    agree = np.allclose(np.log10(per_ridge.result), np.log10(one_svd.result), atol=0.05)
    return Comparison(topic=f"one cell at {len(ridges)} ridges, N=400, n=600", baseline="a QR fit per ρ",
                      candidate="one SVD, a Tikhonov filter per ρ", unit="fits/s", baseline_rate=base,
                      candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
                      note=f"the app's ridge panel; results {'agree' if agree else 'DIFFER'}")


def cases() -> list[Comparison]:
    """Batched grid vs a loop over cells and over rows (CPU, 1 thread; CUDA if present)."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows.append(_grid_case("cpu", "cells", 8, 6, 200, 300))
        rows.append(_grid_case("cpu", "rows", 21, 13, 100, 300))
        rows.append(_seeds_case("cpu"))
        rows.append(_ridge_case("cpu"))
        if torch.cuda.is_available():
            rows.append(_grid_case("cuda", "cells", 8, 6, 200, 300))
            rows.append(_grid_case("cuda", "rows", 21, 13, 400, 600))
            rows.append(_seeds_case("cuda"))
            rows.append(_ridge_case("cuda"))
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of the NSdim lab: the width sweep as the lab computes it against a naive loop.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import math

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import nsdim as ns

EPS = 1e-12


def _setup(N: int, M: int, device: str):
    """The inputs of one sweep at the lab's defaults: points, unit neurons, targets."""
    X = ns.sample_points(M, 1, 0, device)
    u_w, u_b = ns.unit_draws(N, 1, 0, device)
    freqs = ns.target_freqs(8)
    Y = torch.sin(math.pi * X[:, :1] * torch.tensor(freqs, dtype=X.dtype, device=device))  # (M, F)
    bounds = [f * 4.0 for f in ns.BOUND_FACTORS]
    return X, u_w, u_b, Y, bounds, ns.sweep_widths(N)


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _lab_sweep(N: int, M: int, device: str):
    """The lab: features once for all bounds, nested widths as column slices, one batched SVD
    per width giving the spectra, NSdim for the whole ε grid and every ELM fit."""
    X, u_w, u_b, Y, bounds, widths = _setup(N, M, device)
    sync = _sync(device)

    def work() -> int:
        H = ns.features(X, u_w, u_b, bounds)  # (B, M, N)
        for n in widths:
            ns.decompose(H[..., :n], Y, ns.EPSILONS, EPS)
        sync()
        return 1
    return work


def _naive_sweep(N: int, M: int, device: str):
    """The obvious script: for each bound and width, build the features, take svdvals for NSdim
    and solve a separate rank-revealing least-squares problem (lstsq, rcond=ε) for the ELM."""
    X, u_w, u_b, Y, bounds, widths = _setup(N, M, device)
    sync = _sync(device)

    def work() -> int:
        for lam in bounds:
            for n in widths:
                H = torch.tanh(lam * (X @ u_w[:n].T) + lam * u_b[:n])  # (M, n)
                s = torch.linalg.svdvals(H)
                ns.nsdim_counts(s, ns.EPSILONS)
                coef = torch.linalg.lstsq(H, Y, rcond=EPS, driver="gelsd").solution
                torch.linalg.vector_norm(Y - H @ coef, dim=0)
        sync()
        return 1
    return work


def _looped_bounds(N: int, M: int, device: str):
    """The lab's per-width work, but one bound at a time (isolates the batching over bounds)."""
    X, u_w, u_b, Y, bounds, widths = _setup(N, M, device)
    sync = _sync(device)

    def work() -> int:
        H = ns.features(X, u_w, u_b, bounds)
        for n in widths:
            for b in range(len(bounds)):
                ns.decompose(H[b : b + 1, :, :n], Y, ns.EPSILONS, EPS)
        sync()
        return 1
    return work


def _row(topic, baseline, candidate, base, cand, device, note) -> Comparison:
    return Comparison(topic=topic, baseline=baseline, candidate=candidate, unit="sweeps/s",
                      baseline_rate=base, candidate_rate=cand,
                      device="cpu (1 thread)" if device == "cpu" else device, note=note)


def _against_naive(N: int, M: int, device: str) -> Comparison:
    base, cand = interleaved_rates(_naive_sweep(N, M, device), _lab_sweep(N, M, device))
    widths = ns.sweep_widths(N)
    return _row(
        f"width sweep vs naive (N={N}, M={M}, {len(widths)} widths x 3 bounds)",
        "loop: features, svdvals, lstsq", "lab: batched SVD per width", base, cand, device,
        "same outputs (NSdim on the 15-value ε grid, ELM fits of 33 targets) for every width and "
        "bound; the lab builds the features once and reads spectra and fits from one SVD",
    )


def _against_bound_loop(N: int, M: int, device: str) -> Comparison:
    base, cand = interleaved_rates(_looped_bounds(N, M, device), _lab_sweep(N, M, device))
    return _row(
        f"bounds batched vs looped (N={N}, M={M})", "loop over 3 bounds", "one batched SVD",
        base, cand, device,
        "identical work, only the batching differs. On a CPU LAPACK still factors the 3 "
        "matrices one by one, so this ratio stays near 1; a GPU runs the batch at once",
    )


def cases() -> list[Comparison]:
    """The lab's sweep against a naive loop and against a loop over bounds (CPU; CUDA if present)."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        defaults = ns.Params()
        N, M = defaults.width, defaults.samples
        rows += [_against_naive(N, M, "cpu"), _against_bound_loop(N, M, "cpu")]
        if torch.cuda.is_available():
            rows += [_against_naive(N, M, "cuda"), _against_bound_loop(N, M, "cuda")]
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of the reusable-holdout lab: repetitions as one batched computation against a
Python loop over repetitions, the conditional sampler against full matrices, and the whole lab
against a naive loop shaped like the authors' code.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import math

import numpy as np
import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.core.seeding import torch_generator
from paperscope.labs import thresholdout as th


def _sync(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _chunks(params: th.Params, R: int, reps: int, device: torch.device):
    """A workload: ``reps`` repetitions of both mechanisms in chunks of R; returns reps done."""
    ks, sync = th.round_sizes(params), _sync(device)

    def work() -> int:
        for start in range(0, reps, R):
            gen = torch_generator(params.seed, device, start)
            with torch.no_grad():
                th.run_chunk(th.draw(min(R, reps - start), params, gen, device), params, ks, gen)
        sync()
        return reps
    return work


def _batched_vs_loop(n: int, reps: int, device: torch.device) -> Comparison:
    params = th.Params(n=n, d=n, device=device.type)
    base, cand = interleaved_rates(_chunks(params, 1, reps, device), _chunks(params, reps, reps, device))
    return Comparison(
        topic=f"batched repetitions (n=d={n}, {reps} reps)", baseline="loop over reps",
        candidate="one batched chunk", unit="reps/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)" if device.type == "cpu" else device.type,
        note=("both mechanisms, same work (conditional sampler); the batch removes per-repetition "
              "dispatch overhead. On a CPU at the default n = d = 2000 one repetition is already "
              "~3M random draws, so the lab's CPU chunks hold one or two repetitions"),
    )


def _samplers(n: int, reps: int) -> Comparison:
    full, cond = (th.Params(n=n, d=n, device="cpu", sampler=s) for s in ("full", "conditional"))
    base, cand = interleaved_rates(_chunks(full, 1, reps, torch.device("cpu")),
                                   _chunks(cond, 1, reps, torch.device("cpu")))
    return Comparison(
        topic=f"sampler (n=d={n})", baseline="full n × d matrices", candidate="conditional columns",
        unit="reps/s", baseline_rate=base, candidate_rate=cand, device="cpu (1 thread)",
        note=("same joint distribution of everything the analyst computes; the conditional sampler "
              "draws c, h and then only the ~32% of columns with |c_j| > 1/√n (tests check it "
              "exactly and in distribution)"),
    )


def _naive_rep(params: th.Params, ks, gen) -> None:
    """One repetition shaped like the authors' runClassifier: full matrices, then for each
    mechanism and each k a fresh weight vector and one matrix-vector product per set."""
    n, d = params.n, params.d
    T, sigma = params.threshold / math.sqrt(n), params.noise / math.sqrt(n)
    y = th.labels(1, n, gen, "cpu", torch.float32)[:, 0]  # (3, n)
    X = torch.randn(3, n, d, generator=gen)
    c, h = (X[s].T @ y[s] / n for s in range(2))
    eta, xi = (sigma * torch.randn(d, generator=gen) for _ in range(2))
    h_thr = torch.where((c - h).abs() > T + eta, h + xi, c)
    floor = 1 / math.sqrt(n)
    for answers in (h, h_thr):
        selected = ((c > floor) & (answers > floor)) | ((c < -floor) & (answers < -floor))
        kept = torch.where(selected, c, torch.zeros_like(c))
        ranking = kept.abs().argsort()
        accs = []
        for k in ks:
            w = torch.zeros(d)
            top = ranking[-int(k):]
            w[top] = torch.sign(kept[top])
            accs.append([(torch.sign(X[s] @ w) == y[s]).float().mean() for s in range(3)])
        if answers is h_thr:  # the accuracy queries through Thresholdout, one at a time
            for a_t, a_h, *_ in accs:
                noise = sigma * torch.randn(2, generator=gen)
                _ = a_h + noise[1] if abs(a_t - a_h) > T + noise[0] else a_t


def _lab_vs_naive(reps: int) -> Comparison:
    params = th.Params(device="cpu", reps=reps)
    ks = th.round_sizes(params)

    def naive() -> int:
        gen = torch.Generator().manual_seed(0)
        for _ in range(reps):
            _naive_rep(params, ks, gen)
        return reps

    def lab() -> int:
        for _ in th.run(params):
            pass
        return reps
    base, cand = interleaved_rates(naive, lab)
    return Comparison(
        topic=f"whole run (defaults, {reps} reps)", baseline="naive loop (authors' shape)",
        candidate="lab run()", unit="reps/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)",
        note=("naive: per repetition full matrices, per mechanism and k a matrix-vector product per "
              "set, accuracy queries one by one; lab: conditional columns, all rounds from one "
              "cumulative sum, all queries batched, frames included"),
    )


def cases() -> list[Comparison]:
    """Batched reps vs a loop (CPU 1 thread; CUDA if present), samplers, and the whole run."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        cpu = torch.device("cpu")
        rows += [_batched_vs_loop(300, 60, cpu), _batched_vs_loop(2000, 4, cpu)]
        if torch.cuda.is_available():
            cuda = torch.device("cuda")
            rows += [_batched_vs_loop(2000, 40, cuda), _batched_vs_loop(10000, 10, cuda)]
        rows += [_samplers(2000, 3), _lab_vs_naive(4)]
    finally:
        torch.set_num_threads(before)
    return rows


if __name__ == "__main__":
    from paperscope.core.bench import format_table

    print(format_table(cases()))
    np.set_printoptions()

"""Benchmarks of the rich/lazy lab: batching the K ranks, and the CPU thread policy.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import os
import subprocess
import sys
import time

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import rich_lazy as rl

STEPS = 50  # SGD steps per timed chunk (each chunk ~0.1-0.5 s on a laptop core)


def _training(trainers: list, steps: int, threads: int | None = None, sync=None):
    """A workload: ``steps`` SGD steps of every trainer; returns model-steps done."""
    def work() -> int:
        if threads is not None:
            torch.set_num_threads(threads)
        for trainer in trainers:
            trainer.train_steps(steps)
        if sync is not None:
            sync()
        return steps * sum(len(t.ranks) for t in trainers)
    return work


def _batched_vs_loop(K: int, device: str, N: int = 100, steps: int = STEPS) -> Comparison:
    params = rl.Params(hidden_size=N, n_ranks=K, device=device)
    ranks = rl.ranks_for(params.hidden_size, K)
    loop = [rl.make_trainer(params, [r]) for r in ranks]  # K single models, one after another
    batched = [rl.make_trainer(params, ranks)]  # one model holding all K
    sync = torch.cuda.synchronize if device == "cuda" else None
    base, cand = interleaved_rates(_training(loop, steps, sync=sync),
                                   _training(batched, steps, sync=sync))
    return Comparison(
        topic=f"batched ranks (N={N}, K={len(ranks)})", baseline=f"loop of {len(ranks)} models",
        candidate="one batched model", unit="model-steps/s", baseline_rate=base,
        candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
        note=("steps of all K models counted; same data, init and work; the batched model "
              "runs each op once on (K, ...) tensors instead of K times. Batching removes per-model "
              "dispatch overhead, which dominates at small N; at N=100 one CPU step is mostly "
              "arithmetic (~23 MFLOP for K=3), so the gain there is bounded"),
    )


def _competitor(seconds: float) -> subprocess.Popen:
    """Another process keeping one core busy (a busy loop that also stops on its own)."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)  # let it get going
    return proc


def _threads(contended: bool, steps: int = 20) -> Comparison:
    # Fewer steps than the batching case: contended 2-thread chunks can be ~30x slower.
    params = rl.Params(hidden_size=100, n_ranks=3, device="cpu")
    one, two = [rl.make_trainer(params)], [rl.make_trainer(params)]
    # Other processes on the machine count too; the load average says how busy it already was.
    background = os.getloadavg()[0]
    proc = _competitor(60) if contended else None
    try:
        base, cand = interleaved_rates(_training(one, steps, threads=1),
                                       _training(two, steps, threads=2))
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    load = "while a busy-loop process holds one core" if contended else "no competitor started"
    note = (f"batched K=3 training step, {load} (load average {background:.1f} on "
            f"{os.cpu_count()} cores beforehand). Small ops gain little from a second intra-op "
            "thread and lose a lot when a core is taken: hence one thread per compute worker "
            "(core.device.apply_thread_policy)")
    return Comparison(
        topic="threads" + (" (contended)" if contended else " (uncontended)"), baseline="1 thread",
        candidate="2 threads", unit="model-steps/s", baseline_rate=base, candidate_rate=cand,
        device="cpu", note=note,
    )


def cases() -> list[Comparison]:
    """Batched ranks vs a loop over models (CPU, 1 thread; CUDA if present) and threads."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows += [_batched_vs_loop(K, "cpu", N) for N in (rl.Params.QUICK["hidden_size"], 100) for K in (3, 8)]
        if torch.cuda.is_available():
            rows += [_batched_vs_loop(3, "cuda"), _batched_vs_loop(8, "cuda")]
        rows += [_threads(contended=True), _threads(contended=False)]
    finally:
        torch.set_num_threads(before)
    return rows

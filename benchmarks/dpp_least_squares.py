"""Benchmarks of the DPP least-squares lab: batched draws and solves against a loop over the
repetitions, and the intra-op thread count of a block.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import dpp_least_squares as dl


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _sampler(device: str, m: int = 10, B: int = 200) -> Comparison:
    """B projection-DPP samples: one batched chain rule against B calls of batch size 1."""
    g_loop = torch.Generator(device=device).manual_seed(0)
    g_batch = torch.Generator(device=device).manual_seed(0)
    sync = _sync(device)
    count = B if device == "cuda" else B // 4  # the loop is slow: fewer samples per timing

    def loop() -> int:
        for _ in range(count):
            dl.sample_dpp(1, m, g_loop, device=device)
        sync()
        return count

    def batched() -> int:
        dl.sample_dpp(B, m, g_batch, device=device)
        sync()
        return B

    base, cand = interleaved_rates(loop, batched)
    return Comparison(
        topic=f"projection DPP sampling (m={m})", baseline="loop, one sample per call",
        candidate=f"batched, {B} samples per call", unit="samples/s", baseline_rate=base,
        candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
        note=("exact chain rule with rejection from the arcsine law; the batched sampler runs "
              "every pending sample's proposals of a rejection round as one tensor computation"),
    )


def _cell(device: str, m: int = 10, r: int = 3, reps: int = 200) -> Comparison:
    """One (sampler, n/m) cell of the sweep: reps designs drawn and solved (WLS + ‖G − I‖)."""
    setup = dl.make_setup(dl.Params(m=m, device=device), torch.device(device))
    samplers, ratios = ("iid_optimal", "dpp_repeated", "volume"), (r,)
    g_loop = torch.Generator(device=device).manual_seed(0)
    g_batch = torch.Generator(device=device).manual_seed(0)
    sync = _sync(device)
    count = reps if device == "cuda" else reps // 4

    def loop() -> int:
        for _ in range(count):
            dl.simulate_block(setup, 1, g_loop, samplers, ratios)
        sync()
        return count

    def batched() -> int:
        dl.simulate_block(setup, reps, g_batch, samplers, ratios)
        sync()
        return reps

    base, cand = interleaved_rates(loop, batched)
    return Comparison(
        topic=f"draw + solve, 3 samplers at n={r}m (m={m})", baseline="loop over repetitions",
        candidate=f"{reps} repetitions batched", unit="repetitions/s", baseline_rate=base,
        candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
        note=("one repetition = an i.i.d.-optimal, a repeated-DPP and a volume design of n points, "
              "each fitted by weighted least squares (QR) with ‖G − I‖₂ (eigvalsh); the same "
              "functions with batch 1 against one call for all repetitions"),
    )


def _threads(m: int = 10, reps: int = 20) -> Comparison:
    """A quick-size block with 1 intra-op thread (paperscope's policy) against 2."""
    params = dl.Params(m=m, device="cpu")
    setup = dl.make_setup(params, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)

    def work(threads: int):
        def run() -> int:
            torch.set_num_threads(threads)
            dl.simulate_block(setup, reps, g)
            return reps
        return run

    base, cand = interleaved_rates(work(2), work(1))
    return Comparison(
        topic="threads per block (quick size, every sampler and n/m)", baseline="2 threads",
        candidate="1 thread", unit="repetitions/s", baseline_rate=base, candidate_rate=cand,
        device="cpu", note=("small tensors gain little from a second intra-op thread and lose a "
                            "lot when the cores are shared: hence PAPERSCOPE_THREADS defaults to 1"),
    )


def cases() -> list[Comparison]:
    """Batched vs looped sampling and solving on CPU (1 thread) and CUDA if present; threads."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows += [_sampler("cpu"), _cell("cpu")]
        if torch.cuda.is_available():
            rows += [_sampler("cuda", B=2000), _cell("cuda", reps=2000)]
    finally:
        torch.set_num_threads(before)
    try:
        rows.append(_threads())
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of the dual-function lab: the ridge readout for every (task, α) as one batched
Cholesky solve against a loop that solves one α of one task at a time (what a plain grid search
over α does).

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import hyperparam_tuning as ht


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _dual(device: str, T: int, H: int, n: int = 200, n_val: int = 200) -> ht.Dual:
    gen = torch.Generator(device=device).manual_seed(0)
    tasks = ht.draw_tasks(T, n, n_val, 0.1, gen, device)
    W, b = ht.first_layer(H, gen, device)
    return ht.make_dual(tasks, W, b, "relu-linear", 1e-2)


def _grid(device: str, T: int = 4, H: int = 64, K: int = 201) -> Comparison:
    """u(α) of T tasks on a K-point α grid: one batched call against T·K calls of one α each."""
    dual = _dual(device, T, H)
    alpha = torch.linspace(0, 1, K, dtype=torch.float64, device=device)
    singles = [ht.Dual(*(x[t:t + 1] for x in dual[:-1]), shift=dual.shift) for t in range(T)]
    sync = _sync(device)
    step = 1 if device == "cuda" else 4  # the loop is slow on a CPU: every 4th α per timing

    def loop() -> int:
        for one in singles:
            for a in alpha[::step]:
                ht.accuracy(ht.margins(one, a.reshape(1)), one.yv)
        sync()
        return T * len(alpha[::step])

    def batched() -> int:
        ht.accuracy(ht.margins(dual, alpha), dual.yv)
        sync()
        return T * K

    base, cand = interleaved_rates(loop, batched)
    return Comparison(
        topic=f"ridge dual u(α), H={H}, n=n_val=200", baseline="loop, one (task, α) per solve",
        candidate=f"batched, {T} tasks × {K} α per call", unit="(task, α)/s", baseline_rate=base,
        candidate_rate=cand, device="cpu (1 thread)" if device == "cpu" else device,
        note=("the same function (Gram matrices for every α by one matmul, Cholesky, two triangular "
              "solves, validation margins) called per (task, α) and once for all of them"),
    )


def cases() -> list[Comparison]:
    """Batched vs looped ridge solves on CPU (1 thread), and on CUDA if present."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows.append(_grid("cpu"))
        if torch.cuda.is_available():
            rows.append(_grid("cuda", T=64, H=256, K=1001))
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of ``core.optim``: the hand-written optimisers against ``torch.optim`` doing the
same update.

The question (issue 12, item 6): do the labs keep their own SGD-with-momentum and Adam, or use
``torch.optim`` and pay its one-off import (``torch._dynamo``, ~1 s) at start-up? ``cases()``
measures, side by side in one run, (1) the update alone (``zero_grad`` + ``step``) on the
parameter shapes the labs train at their default sizes, and (2) whole training steps of two labs
with only the optimiser swapped. Ratios above 1 mean the hand-written update is faster. On one CPU
thread and on CUDA when present. Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.core.optim import Adam, MomentumSGD

LR, MOMENTUM = 1e-3, 0.9
# Trainable tensors of each lab at its default size (batched over ranks/models where the lab
# stacks them): what one ``step()`` updates.
SHAPES = {
    "rich-lazy linear (SGD)": ("sgd", [(3, 100, 100), (3, 1, 100)]),
    "rich-lazy rnn (SGD)": ("sgd", [(3, 100, 3), (3, 100, 100), (3, 3, 100)]),
    "pinn-sampling PINN (Adam)": ("adam", [(64, 2), (64, 64), (64, 64), (1, 64), (64,), (64,), (64,), (1,)]),
    "smooth-diffusion MLP pair (Adam)": ("adam", [(2, 96, 128), (2, 128, 128), (2, 128, 128), (2, 128, 64),
                                                  (2, 1, 128), (2, 1, 128), (2, 1, 128), (2, 1, 64)]),
}


def _ours(kind: str, params: list):
    return MomentumSGD(params, lr=LR, momentum=MOMENTUM) if kind == "sgd" else Adam(params, lr=LR)


def _torch(kind: str, params: list):
    # The constructors' defaults, as a lab would write them (foreach on CUDA, a loop on CPU).
    return (torch.optim.SGD(params, lr=LR, momentum=MOMENTUM) if kind == "sgd"
            else torch.optim.Adam(params, lr=LR))


def _update_rate(kind: str, shapes: list, device: str) -> Comparison:
    gen = torch.Generator(device=device).manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    n = 500

    def workload(make):
        params = [torch.randn(s, generator=gen, device=device, requires_grad=True) for s in shapes]
        grads = [torch.randn(s, generator=gen, device=device) for s in shapes]
        opt = make(kind, params)

        def run() -> int:
            for _ in range(n):
                opt.zero_grad()
                for p, g in zip(params, grads):  # a fixed gradient: only the update is timed
                    p.grad = g
                opt.step()
            sync()
            return n
        return run

    base, cand = interleaved_rates(workload(_torch), workload(_ours), repeats=5)
    name = next(k for k, v in SHAPES.items() if v == (kind, shapes))
    size = sum(torch.Size(s).numel() for s in shapes)
    return Comparison(topic=f"update only: {name}, {size} weights", baseline="torch.optim", candidate="core.optim",
                      unit="updates/s", baseline_rate=base, candidate_rate=cand, device=_label(device))


def _training_steps(slug: str) -> Comparison:
    """Whole training steps (batch, forward, backward, update) of a lab at quick size on the CPU."""
    if slug == "rich-lazy":
        from paperscope.labs import rich_lazy as lab

        label = "rich-lazy linear"

        # The linear network: its step is cheapest, so the update weighs the most.
        params = lab.Params.preset("quick", device="cpu", network="linear")
        ours, theirs = lab.make_trainer(params), lab.make_trainer(params)
        theirs.optimizer = torch.optim.SGD(list(theirs.weights.values()), lr=params.lr, momentum=params.momentum)
        n = 200
    else:
        from paperscope.labs import pinn_sampling as lab

        label = slug

        params = lab.Params.preset("quick", device="cpu")
        ours, theirs = lab.make_trainer(params), lab.make_trainer(params)
        theirs.opt = torch.optim.Adam(theirs.model.parameters(), lr=params.lr)
        n = 20

    def steps(trainer):
        return lambda: (trainer.train_steps(n), n)[1]

    base, cand = interleaved_rates(steps(theirs), steps(ours), repeats=7)
    return Comparison(topic=f"training steps: {label} at quick size", baseline="torch.optim", candidate="core.optim",
                      unit="steps/s", baseline_rate=base, candidate_rate=cand, device=_label("cpu"),
                      note="the lab's own step (batch, forward, backward, update); only the optimiser differs")


def _label(device: str) -> str:
    return "cpu (1 thread)" if device == "cpu" else device


def cases() -> list[Comparison]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a session's worker runs
    try:
        devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
        rows = [_update_rate(kind, shapes, d) for d in devices for kind, shapes in SHAPES.values()]
        rows += [_training_steps(slug) for slug in ("rich-lazy", "pinn-sampling")]
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    from paperscope.core.bench import format_table

    print(format_table(cases()))

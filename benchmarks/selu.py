"""Benchmarks of the SELU lab: batched tensor work against the naive loop doing the same work.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine): the moment map on a grid, random-net propagation with every (seed, input scale,
activation) stacked, and training with the seeds stacked, on one CPU thread and on CUDA when
present. Nothing runs at import.
"""

import numpy as np
import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import selu as sl

SEEDS = (0, 1, 2)
SCALES = (0.5, 3.0)


def _device_label(device: str) -> str:
    return "cpu (1 thread)" if device == "cpu" else device


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _map_grid() -> Comparison:
    G = 32
    mu, nu = np.meshgrid(np.linspace(*sl.MU_RANGE, G), np.linspace(*sl.NU_RANGE, G))

    def vectorised() -> int:
        sl.spectral_norm(sl.map_jacobian(mu, nu, 0.1, 1.05))
        return mu.size

    def loop() -> int:  # one (μ, ν) at a time: the same formulas on scalars
        for m, n in zip(mu.ravel(), nu.ravel()):
            sl.spectral_norm(sl.map_jacobian(m, n, 0.1, 1.05))
        return mu.size

    base, cand = interleaved_rates(loop, vectorised)
    return Comparison(
        topic=f"moment map: Jacobian norm on a {G}x{G} grid", baseline="loop over grid points",
        candidate="one vectorised call", unit="points/s", baseline_rate=base, candidate_rate=cand,
        device="cpu", note="float64 numpy/scipy; the app's map (64x64, plus trajectories) takes a few ms",
    )


def _propagation(device: str, width: int, n_inputs: int, layers: int = 4) -> Comparison:
    kw = dict(width=width, n_inputs=n_inputs, input_shift=0.5, device=device)
    sync = _sync(device)

    def stacked() -> int:
        P = sl.Propagation(input_scales=SCALES, seeds=SEEDS, **kw)
        for _ in range(layers):
            P.step()
        P.stats()
        sync()
        return layers * len(SEEDS) * len(SCALES) * len(sl.ACTIVATIONS)

    def loop() -> int:  # one net per (seed, scale, activation)
        for s in SEEDS:
            for c in SCALES:
                for a in sl.ACTIVATIONS:
                    P = sl.Propagation(activations=(a,), input_scales=(c,), seeds=(s,), **kw)
                    for _ in range(layers):
                        P.step()
                    P.stats()
        sync()
        return layers * len(SEEDS) * len(SCALES) * len(sl.ACTIVATIONS)

    base, cand = interleaved_rates(loop, stacked)
    return Comparison(
        topic=f"propagation (width {width}, N={n_inputs}, 24 nets)", baseline="loop of 24 nets",
        candidate="one stacked tensor", unit="net-layers/s", baseline_rate=base, candidate_rate=cand,
        device=_device_label(device),
        note=("3 seeds x 2 input scales x 4 activations; the activations of a seed share their base "
              "weights, so a layer is one bmm per seed for all of them"),
    )


def _training(device: str, width: int, steps: int = 8) -> Comparison:
    kw = dict(depth=32, width=width, lr=0.02, batch_size=64, device=device)
    stacked = sl.Trainer(seeds=SEEDS, **kw)
    singles = [sl.Trainer(seeds=(s,), **kw) for s in SEEDS]
    sync = _sync(device)

    def work(trainers):
        def run() -> int:
            for tr in trainers:
                batches = tr.epoch_batches()
                for i in range(steps):
                    tr.step(batches[i % len(batches)])
            sync()
            return steps * len(SEEDS) * len(sl.ACTIVATIONS)
        return run

    base, cand = interleaved_rates(work(singles), work([stacked]))
    return Comparison(
        topic=f"training depth 32, width {width}, 3 seeds x 4 activations",
        baseline="loop of 3 single-seed models", candidate="seeds stacked (bmm)", unit="net-steps/s",
        baseline_rate=base, candidate_rate=cand, device=_device_label(device),
        note=("SGD steps of every network counted; same data and init. The four activations are "
              "separate chains of one graph in both (different functions cannot share a kernel)"),
    )


def cases() -> list[Comparison]:
    """The map, propagation and training comparisons (CPU, 1 thread; CUDA if present)."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows.append(_map_grid())
        rows += [_propagation("cpu", 64, 512), _propagation("cpu", 256, 512)]
        rows += [_training("cpu", 64)]
        if torch.cuda.is_available():
            rows += [_propagation("cuda", 256, 1024, layers=16), _training("cuda", 128)]
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of the robust-counterfactuals lab: the changed models trained as one batched MLP
against a Python loop over models, and one T-Rex ascent serving a grid of thresholds against
one ascent per threshold. Both pairs compute the same numbers (the compute tests check it).

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import numpy as np
import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import robust_counterfactuals as rc

DEVICE = torch.device("cpu")


def _data(n: int):
    X, y = rc.make_moons(n, 0.15, np.random.default_rng(0))
    return torch.as_tensor(rc.standardize(X), dtype=rc.DTYPE), torch.as_tensor(y, dtype=rc.DTYPE)


def _training(models: int, width: int, n: int, epochs: int, batched: bool):
    """A workload: train ``models`` MLPs, all at once or one after another; returns models done."""
    X, y = _data(n)

    def train(index: list[int]) -> None:
        net = rc.trainable(rc.init_mlp([width] * len(index), width, 0, [100 + j for j in index], DEVICE, rc.DTYPE))
        rc.train_steps(net, rc.Adam(net.weights(), lr=rc.LR), X, y, torch.ones(len(index), n, dtype=rc.DTYPE),
                       epochs)

    def work() -> int:
        if batched:
            train(list(range(models)))
        else:
            for j in range(models):
                train([j])
        return models
    return work


def _batched_training(models: int = 11, width: int = 64, n: int = 1000, epochs: int = 50) -> Comparison:
    base, cand = interleaved_rates(_training(models, width, n, epochs, False),
                                   _training(models, width, n, epochs, True))
    return Comparison(
        topic=f"{models} MLPs 2-{width}-{width}-1 on {n} points", baseline="loop over models",
        candidate="one batched MLP (bmm)", unit="models/s", baseline_rate=base, candidate_rate=cand,
        device="cpu (1 thread)",
        note=(f"{epochs} full-batch Adam steps each (the lab's m and 10 changed models, fewer epochs); "
              "the same updates, model by model (test_batched_training_equals_training_each_model_alone)"),
    )


def _ascents(queries: int, samples: int, one_pass: bool):
    """A workload: T-Rex CFs for every τ of the sweep, from one ascent or one ascent per τ."""
    X, y = _data(400)
    net = rc.trainable(rc.init_mlp([32], 32, 0, [100], DEVICE, rc.DTYPE))
    rc.train_steps(net, rc.Adam(net.weights(), lr=rc.LR), X, y, torch.ones(1, len(X), dtype=rc.DTYPE), 150)
    net = rc.frozen(net)

    def m(x):
        return rc.prob(net, x)[0]

    with torch.no_grad():
        q = X[m(X) < 0.5][:queries]
    start = rc.closest_walk(m, q, 0.01, 500)
    Z = torch.randn(len(q), samples, 2, generator=torch.Generator().manual_seed(0), dtype=rc.DTYPE)
    taus = torch.tensor(rc.TAUS, dtype=rc.DTYPE)

    def work() -> int:
        if one_pass:
            rc.trex_ascent(m, start, Z, 0.1, 1.0, taus, 0.01, 500)
        else:
            for t in range(len(taus)):
                rc.trex_ascent(m, start, Z, 0.1, 1.0, taus[t:t + 1], 0.01, 500)
        return len(taus)
    return work


def _one_ascent(queries: int = 40, samples: int = 100) -> Comparison:
    base, cand = interleaved_rates(_ascents(queries, samples, False), _ascents(queries, samples, True))
    return Comparison(
        topic=f"T-Rex for {len(rc.TAUS)} thresholds ({queries} queries, k={samples})",
        baseline="one ascent per τ", candidate="one ascent, every τ", unit="thresholds/s",
        baseline_rate=base, candidate_rate=cand, device="cpu (1 thread)",
        note=("common random numbers make the path independent of τ, so each τ's CF is the path's "
              "first point with R̂ ≥ τ (test_one_ascent_serves_every_threshold); the single pass "
              "costs as much as the ascent to the highest τ"),
    )


def cases() -> list[Comparison]:
    torch.set_num_threads(1)
    return [_batched_training(), _one_ascent()]


if __name__ == "__main__":
    for row in cases():
        print(f"{row.topic}: {row.candidate} {row.ratio:.2f}x {row.baseline}")

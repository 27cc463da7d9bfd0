"""Benchmarks of the impossibility lab: the PAC-Bayes Monte Carlo, the lab's cost.

The lab draws the Gibbs classifier's weights per (σ, draw, training point) through the exact
shortcut ``E x ~ ‖x‖ N(0, I)`` and batches the σ grid and the draws as leading tensor
dimensions. Against the same estimator with full weight draws in a loop, and, for contrast,
against the textbook estimate with one weight draw per (σ, draw) shared by all points (cheaper,
but its Hoeffding term only counts the draws). ``cases()`` returns ratios measured side by side
in one run. Nothing runs at import.
"""

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import generalization_bounds as gb


def _setup(device: str, G: int, m: int, width: int):
    g = torch.Generator(device=device).manual_seed(0)
    net = gb.init_net(width, 0, device)
    X = torch.randn(m, gb.DIM, generator=g, device=device)
    y = torch.where(torch.rand(m, generator=g, device=device) < 0.5, 1.0, -1.0)
    sigma = torch.as_tensor(gb.sigma_grid(G), dtype=X.dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return g, net, X, y, sigma, sync


def _label(device: str) -> str:
    return "cpu (1 thread)" if device == "cpu" else device


def _gibbs_same_law(device: str, G: int = 16, K: int = 20, m: int = 200, width: int = 256) -> Comparison:
    """The lab's estimator, independent weights per (σ, draw, point): the batched shortcut
    against full weight draws, one per (σ, draw, point), in a loop (timed on a slice)."""
    g, net, X, y, sigma, sync = _setup(device, G, m, width)
    count = 200 if device == "cpu" else 2000  # the loop is slow: a slice of the triples per timing

    def loop() -> int:
        with torch.no_grad():
            for i in range(count):
                s, j = float(sigma[i % G]), i % m
                noisy = gb.Net(*(t + s * torch.randn(t.shape, generator=g, device=device) for t in net))
                float(y[j] * gb.forward(noisy, X[j:j + 1])[0] <= 0)
        sync()
        return count

    def batched() -> int:
        with torch.no_grad():
            (gb.gibbs_margins(net, X, y, sigma, K, g) <= 0).float().mean()
        sync()
        return G * K * m

    base, cand = interleaved_rates(loop, batched)
    return Comparison(
        topic=f"Gibbs Monte Carlo, weights per (σ, draw, point) (G={G}, K={K}, m={m}, width={width})",
        baseline="loop, a full weight draw per triple", candidate="batched (G, K, m, width) shortcut",
        unit="Gibbs evaluations/s", baseline_rate=base, candidate_rate=cand, device=_label(device),
        note="the same estimator (same law): its Hoeffding term shrinks like 1/sqrt(K m)")


def _gibbs_shared_draws(device: str, G: int = 16, K: int = 20, m: int = 200, width: int = 256) -> Comparison:
    """A cheaper but weaker estimator for contrast: one full weight draw per (σ, draw), shared by
    all m points (its indicators are dependent, so Hoeffding only counts the K draws)."""
    g, net, X, y, sigma, sync = _setup(device, G, m, width)

    def shared() -> int:
        with torch.no_grad():
            for s in sigma.tolist():
                for _ in range(K):
                    noisy = gb.Net(*(t + s * torch.randn(t.shape, generator=g, device=device) for t in net))
                    (y * gb.forward(noisy, X) <= 0).float().mean()
        sync()
        return G * K * m

    def batched() -> int:
        with torch.no_grad():
            (gb.gibbs_margins(net, X, y, sigma, K, g) <= 0).float().mean()
        sync()
        return G * K * m

    base, cand = interleaved_rates(shared, batched)
    return Comparison(
        topic=f"Gibbs Monte Carlo vs shared draws (G={G}, K={K}, m={m}, width={width})",
        baseline="loop, one full weight draw per (σ, draw) shared by all points",
        candidate="batched per-point shortcut (the lab's)", unit="Gibbs evaluations/s",
        baseline_rate=base, candidate_rate=cand, device=_label(device),
        note=("not the same estimator: shared draws need m x fewer normals (d = 20 < m) but their "
              "Hoeffding term is sqrt(ln(4G/δ)/(2K)) ≈ 0.42 at K = 20, against 0.03 per point"))


def cases() -> list[Comparison]:
    """Batched vs looped Gibbs Monte Carlo on CPU (1 thread) and CUDA if present."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        rows = [_gibbs_same_law("cpu"), _gibbs_shared_draws("cpu")]
        if torch.cuda.is_available():
            rows += [_gibbs_same_law("cuda", K=100), _gibbs_shared_draws("cuda", K=100)]
    finally:
        torch.set_num_threads(before)
    return rows

"""Benchmarks of the piecewise-equivariance lab: the radius-graph partitions of every scene at
every radius, from spanning trees built by Prim's algorithm batched over scenes and one
block-diagonal ``connected_components`` call per radius, against the direct reference: per scene
and per radius, scipy's components of the full radius graph (every pair closer than r).

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist, squareform

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import apen


def _clouds(trials: int, points: int) -> np.ndarray:
    s = apen.make_scenes(trials, 3, points, 1.0, 0.3, np.pi, np.random.default_rng(0))
    return s.X


def _reference(clouds: np.ndarray):
    def work() -> int:
        for x in clouds:
            D = squareform(pdist(x))
            for r in apen.RADII:
                connected_components(D < r, directed=False)
        return len(clouds)
    return work


def _batched(clouds: np.ndarray):
    n = clouds.shape[1]

    def work() -> int:
        trees = apen.spanning_trees(clouds)
        for r in apen.RADII:
            apen.radius_graph_labels(trees, n, r)
        return len(clouds)
    return work


def _partitions(trials: int, points: int) -> Comparison:
    clouds = _clouds(trials, points)
    base, cand = interleaved_rates(_reference(clouds), _batched(clouds))
    return Comparison(
        topic=f"radius-graph partitions ({trials} scenes of {3 * points} points, {len(apen.RADII)} radii)",
        baseline="per scene and radius: components of the full radius graph",
        candidate="batched spanning trees + one components call per radius", unit="scenes/s",
        baseline_rate=base, candidate_rate=cand, device="cpu",
        note=("same partitions (tests compare them); the tree is built once per scene for every radius, "
              "and each radius labels all scenes in one block-diagonal graph"),
    )


def cases() -> list[Comparison]:
    return [_partitions(30, 80), _partitions(30, 400)]


if __name__ == "__main__":
    for c in cases():
        print(f"{c.topic}: {c.baseline_rate:.3g} -> {c.candidate_rate:.3g} {c.unit} ({c.ratio:.1f}x)")

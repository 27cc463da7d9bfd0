"""Claims of the bandlimited-random-net lab (spec C1-C3): three seeds, batched."""

import math

import numpy as np

from ..core.claims import Claim, Measurement
from ..labs import bandlimited as bl

BELOW_KS = np.array([8.0, 16.0, 32.0])
INSIDE_KS = [1.0, 2.0, 4.0, 8.0, 16.0]


def below_band(seeds: tuple, width: int) -> list:
    """rel-err(λ = k/8) for k = 8, 16, 32 at this width, per seed: ``(3,)``."""
    err = bl.error_grid(BELOW_KS / 8, BELOW_KS, seeds=seeds, width=width)  # (S, 3, 3): λ = k/8 on the diagonal
    return list(np.diagonal(err, axis1=1, axis2=2))


def inside_band(seeds: tuple, n_bounds: int) -> list:
    """min over λ of rel-err for k ≤ 16 (N = 400), per seed: ``(5,)``."""
    return list(bl.error_grid(bl.log_grid(*bl.BOUND_RANGE, n_bounds), INSIDE_KS, seeds=seeds).min(axis=1))


def grid(n_bounds: int, n_freqs: int) -> tuple[np.ndarray, np.ndarray]:
    return bl.log_grid(*bl.BOUND_RANGE, n_bounds), bl.log_grid(*bl.FREQ_RANGE, n_freqs)


def log_errors(seeds: tuple, n_bounds: int, n_freqs: int) -> list:
    """log10 rel-err on the spec's grid (λ x k, N = 400), per seed."""
    return list(np.log10(bl.error_grid(*grid(n_bounds, n_freqs), seeds=seeds)))


def steps(x: np.ndarray, at_least: int) -> float:
    """The smallest step of a sequence that must be non-decreasing; -inf with fewer than
    ``at_least`` points (too few to say)."""
    return float(np.diff(x).min(initial=math.inf)) if len(x) >= at_least else -math.inf


class Valley:
    """The median log error over seeds and what C3 reads from it."""

    def __init__(self, results: list, n_bounds: int, n_freqs: int):
        self.bounds, self.freqs = grid(n_bounds, n_freqs)
        self.log_err = np.median(np.stack(results), axis=0)
        self.best = bl.smoothed_argmin(self.log_err, self.bounds, feasible=0.5)  # argmin λ per k
        ok = self.log_err <= -3
        self.first = self.bounds[np.argmax(ok, axis=0)][ok.any(axis=0)]  # smallest λ reaching 1e-3 per k
        fitted = self.freqs[ok.any(axis=0)]
        self.edge_ratio = (fitted / self.first)[fitted <= 11.4]  # k / λ for k ≤ 11 (N = 400 not yet the limit)

    def high(self) -> np.ndarray:
        return self.best[(self.freqs >= 4) & np.isfinite(self.best)]


GRID = {"n_bounds": 21, "n_freqs": 13}
C3 = {"measure": Measurement(log_errors, batched=True), "quick": GRID, "pooled": True}


def valley(results: list) -> Valley:
    return Valley(results, **GRID)


CLAIMS = [
    *(Claim(f"C1-N{width}", f"fails below the band: least rel-err(λ = k/8), k = 8-32, N = {width}",
            Measurement(below_band, batched=True), value=np.min, threshold=0.5, quick={"width": width})
      for width in (100, 400, 1600)),
    Claim("C2", "fits inside the band: max over k ≤ 16 of min_λ rel-err (N = 400)",
          Measurement(inside_band, batched=True), value=np.max, threshold=1e-3, direction="<=",
          quick={"n_bounds": 21}),
    Claim("C3-fits", "k's where some λ fits (rel-err < 0.5), of 13 (seed median)",
          value=lambda r: np.isfinite(valley(r).best).sum(), threshold=10, **C3),
    Claim("C3", "argmin λ is non-decreasing in k (least step, seed median)",
          value=lambda r: steps(valley(r).best[np.isfinite(valley(r).best)], 10), threshold=0.0, **C3,
          known_fail="at k ≲ 3 the valley's floor is flat and noise sets the argmin"),
    Claim("C3-band", "k ≥ 4: argmin λ is non-decreasing (least step, ≥ 7 points)",
          value=lambda r: steps(valley(r).high(), 7), threshold=0.0, **C3),
    Claim("C3-band-growth", "k ≥ 4: argmin λ at least doubles (last / first)",
          value=lambda r: valley(r).high()[-1] / valley(r).high()[0], threshold=2.0, **C3),
    Claim("C3-edge", "least λ reaching 1e-3 is non-decreasing in k (≥ 9 points)",
          value=lambda r: steps(valley(r).first, 9), threshold=0.0, **C3),
    Claim("C3-edge-low", "fits for k ≲ 3λ: least k / λ_min for k ≤ 11",
          value=lambda r: valley(r).edge_ratio.min(), threshold=2.0, **C3),
    Claim("C3-edge-high", "fits for k ≲ 3λ: largest k / λ_min for k ≤ 11",
          value=lambda r: valley(r).edge_ratio.max(), threshold=4.5, direction="<=", **C3),
]

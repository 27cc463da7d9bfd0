"""The records a lab's ``run`` yields.

Every frame is a complete snapshot of what the views need to draw at that moment (histories
included), so the runner may drop any frame but the last without losing anything on screen.
The last frame of a run carries ``metrics``: the summary the CLI writes to ``--json``.
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import DivergenceError


@dataclass(frozen=True, kw_only=True)
class Frame:
    """Base of every lab frame: where the run is, and (on the last frame) its summary."""

    step: int
    total_steps: int
    metrics: dict | None = field(default=None)

    @property
    def progress(self) -> float:
        """Fraction of the run done, in [0, 1]."""
        return min(1.0, self.step / max(1, self.total_steps))

    @property
    def done(self) -> bool:
        return self.metrics is not None


def to_host(tensor) -> np.ndarray:
    """A float64 numpy copy of a tensor, detached from the device (what frames hold)."""
    return tensor.detach().cpu().double().numpy()


def check_finite(value, *, step: int, what: str, hint: str) -> None:
    """Raise ``DivergenceError`` naming the step and likely cause if ``value`` has NaN/inf.

    ``value`` may be a float, numpy array or torch tensor (checked without importing torch).
    """
    arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise DivergenceError(f"{what} became NaN/inf at step {step}: {hint}")

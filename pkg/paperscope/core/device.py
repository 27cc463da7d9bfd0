"""Device choice and the CPU thread policy.

Thread policy (measured by ``paperscope bench rich-lazy``): the labs' models are small, and on
a 2-core machine an intra-op pool of 2 threads ran them at 0.03-0.5x the speed of one thread
whenever another process or session competed for the cores, against 1.2-1.8x on an idle
machine. The app's compute workers (one per session) therefore run with one torch intra-op
thread unless ``PAPERSCOPE_THREADS`` says otherwise; a lone CLI or notebook run keeps torch's
default.
"""

import functools
import os

import torch

from .errors import ParamError


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; ``PAPERSCOPE_DEVICE`` overrides ``auto``."""
    if choice == "auto":
        choice = os.environ.get("PAPERSCOPE_DEVICE", "auto")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ParamError("device='cuda' was asked for, but torch sees no CUDA GPU here")
    if choice == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ParamError("device='mps' was asked for, but this torch has no MPS backend here")
    if choice not in ("cpu", "cuda", "mps"):
        raise ParamError(f"unknown device {choice!r}: expected auto, cpu, cuda or mps")
    return torch.device(choice)


@functools.cache
def supports_dtype(device_type: str, dtype: torch.dtype) -> bool:
    """Whether tensors of ``dtype`` can live on devices of this type (MPS has no float64)."""
    if device_type == "cpu":
        return True
    try:
        torch.zeros(1, dtype=dtype, device=device_type)
    except (TypeError, RuntimeError):
        return False
    return True


def resolve_device_for(choice: str, dtype: torch.dtype = torch.float64) -> tuple[torch.device, str]:
    """The device of :func:`resolve_device`, or the CPU when that device cannot hold ``dtype``.

    Returns ``(device, notice)``: the notice says why the run is on the CPU ("" when it is not
    moved), for the lab to show. Labs whose numerics need float64 (noise floors near 1e-16,
    long recurrences) ask for it here rather than testing for MPS themselves.
    """
    device = resolve_device(choice)
    if supports_dtype(device.type, dtype):
        return device, ""
    name = str(dtype).removeprefix("torch.")
    return torch.device("cpu"), f"{device.type.upper()} has no {name}: computed on the CPU"


# Largest allocation one run may ask for (bytes), per device type: a CPU run shares the server's
# memory with every other session; an accelerator gets half its memory, at most 16 GiB.
CPU_LIMIT_BYTES = 2 * 2**30
ACCEL_LIMIT_BYTES = 16 * 2**30


def memory_limit(device: torch.device) -> int:
    """Bytes one run's largest allocation may take on ``device`` (see the limits above)."""
    if device.type == "cpu":
        return CPU_LIMIT_BYTES
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return min(ACCEL_LIMIT_BYTES, total // 2)
    return ACCEL_LIMIT_BYTES


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


def check_fits(nbytes: float, device: torch.device, what: str, hint: str,
               limit: float | None = None) -> None:
    """Refuse, before allocating, sizes whose ``what`` would need more than ``limit`` bytes
    (default: :func:`memory_limit`), with one line saying how much, where, and what to lower.

    ``check_fits(4 * n * d, device, f"one repetition at n={n}, d={d}", "lower n or d")`` raises
    ``ParamError("one repetition at n=..., d=... needs ~3.0 GB on cpu (limit 2.0 GB): lower n or d")``.
    """
    device = torch.device(device)
    limit = memory_limit(device) if limit is None else limit
    if nbytes > limit:
        raise ParamError(f"{what} needs ~{_size(nbytes)} on {device.type} (limit {_size(limit)}): {hint}")


def worker_threads() -> int:
    """Intra-op threads for one compute worker: ``PAPERSCOPE_THREADS`` or 1."""
    text = os.environ.get("PAPERSCOPE_THREADS", "1")
    try:
        n = int(text)
    except ValueError:
        raise ParamError(f"PAPERSCOPE_THREADS={text!r} is not an integer") from None
    return max(1, n)


def apply_thread_policy(n: int | None = None) -> int:
    """Set torch's intra-op thread count for the calling worker; returns the count used."""
    n = worker_threads() if n is None else n
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n

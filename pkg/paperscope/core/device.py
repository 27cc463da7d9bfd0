"""Device choice and the CPU thread policy.

Thread policy (measured by ``paperscope bench rich-lazy``): the labs' models are small, and on
a 2-core machine an intra-op pool of 2 threads ran them at 0.03-0.5x the speed of one thread
whenever another process or session competed for the cores, against 1.2-1.8x on an idle
machine. The app's compute workers (one per session) therefore run with one torch intra-op
thread unless ``PAPERSCOPE_THREADS`` says otherwise; a lone CLI or notebook run keeps torch's
default.
"""

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

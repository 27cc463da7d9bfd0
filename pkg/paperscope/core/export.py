"""Provenance: what a figure or result file says about how it was made."""

import datetime
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import __version__
from .device import resolve_device


def versions() -> dict:
    """Versions of the packages that shape a result."""
    import torch

    return {"paperscope": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout paperscope runs from (with '+dirty' if changed), or None."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def result(lab, params, frame) -> dict:
    """The ``--json`` record: lab, params, metrics, versions."""
    return {"lab": lab.slug, "params": params.values(), "metrics": frame.metrics,
            "versions": versions()}


def provenance(lab, params, frame) -> dict:
    """The figure sidecar: the result plus the paper, seed, device, commit and whether the run had finished."""
    return {
        **result(lab, params, frame),
        "title": lab.paper.title,
        "paper": lab.paper.citation,
        "arxiv": lab.paper.arxiv,
        "paper_declaration": lab.paper.as_dict(),  # everything the lab declares about its paper
        "seed": params.seed,
        "device": str(resolve_device(params.device)),
        "git_commit": git_commit(),
        "complete": frame.done,
        "step": frame.step,
        "total_steps": frame.total_steps,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def code_version() -> str:
    """The package version and git commit that produced a result (part of cache and sweep keys)."""
    return f"{__version__} {git_commit() or 'unknown-commit'}"

"""Provenance: what a figure or result file says about how it was made."""

import datetime
import platform
import shlex
import subprocess
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

from .. import __version__
from .data import sidecar_entry as data_sidecar_entry
from .device import resolve_device, worker_threads


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


def provenance(lab, params, frame, *, figure: str | None = None, app_base: str | None = None,
               threads: int | None = None) -> dict:
    """The figure sidecar: the result plus the paper, seed, device, torch threads (``threads``,
    default the workers' policy), commit, whether the run had finished, and how to get it back:
    ``command`` (the ``paperscope run`` line that recomputes it, writing ``figure`` when given) and
    ``app_link`` (the lab's app with this run's URL state, under ``app_base``, the served app's
    address, when known)."""
    device = resolve_device(params.device)
    return {
        **result(lab, params, frame),
        "title": lab.paper.title,
        "paper": lab.paper.citation,
        "arxiv": lab.paper.arxiv,
        "paper_declaration": lab.paper.as_dict(),  # everything the lab declares about its paper
        "seed": params.seed,
        "device": str(device),
        "device_name": device_name(device),
        "threads": threads or worker_threads(),  # CPU reductions may round differently with more threads
        "git_commit": git_commit(),
        "complete": frame.done,
        "step": frame.step,
        "total_steps": frame.total_steps,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": run_command(lab, params, device.type, figure),
        "app_link": app_link(lab, params, app_base),
        # labs that learn from a data set: which one (built-in or the user's), by hash and shape
        **({"data": entry} if (entry := data_sidecar_entry(params)) else {}),
    }


def device_name(device) -> str:
    """The hardware behind ``device``: the GPU's name, else the CPU architecture (results are
    bit-for-bit only on the same kind of chip)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} {platform.machine()}"


def value_text(value) -> str:
    """A parameter value as ``--set`` and URL state spell it, read back exactly by
    ``core.params.coerce`` (floats by ``repr``, the shortest text that round-trips)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(value_text(v) for v in value)
    return str(value)


def closest_preset(params) -> tuple[str, dict]:
    """The preset from which ``params`` differs in the fewest values, and those values (seed and
    device aside): what keeps a recorded command short."""
    values = params.values()
    names = sorted(type(params).presets(), key=lambda name: name != "default")  # a tie keeps the default
    best = None
    for name in names:
        base = type(params).preset(name).values()
        changed = {n: v for n, v in values.items() if n not in ("seed", "device") and v != base[n]}
        if best is None or len(changed) < len(best[1]):
            best = (name, changed)
    return best


def run_command(lab, params, device: str, figure: str | None = None) -> str:
    """The ``paperscope run`` line that recomputes this run: the closest preset, every value
    that differs from it, and the seed and the device spelled out; the user's data set as
    ``--data FILE`` (its file name: the sidecar's ``data`` hash tells whether a file is the one)."""
    preset, changed = closest_preset(params)
    words = ["paperscope", "run", lab.slug, *(["--preset", preset] if preset != "default" else []),
             "--seed", str(params.seed)]
    data = changed.pop("data", None)  # the user's data set: a key only this process knows
    for name, value in changed.items():
        words += ["--set", f"{name}={value_text(value)}"]
    words += ["--set", f"device={device}"]
    if data is not None:
        words += ["--data", (data_sidecar_entry(params) or {}).get("name", data)]  # its file name
    if figure:
        words += ["--export", figure]
    return shlex.join(words)


def app_link(lab, params, base: str | None = None) -> str:
    """The lab's app with this run's parameters as URL state: ``base`` (the served app's address)
    or ``/<slug>``, then the seed, every value a preset sets (the app may open at any preset) and
    every other value that differs from the default."""
    cls = type(params)
    defaults = cls.preset("default").values()
    sized = {name for values in cls.presets().values() for name in values}
    query = {name: value_text(value) for name, value in params.values().items()
             if name == "seed" or name in sized or value != defaults[name]}
    return f"{base or '/' + lab.slug}?{urlencode(query, safe=',', quote_via=quote)}"


def code_version() -> str:
    """The package version and git commit that produced a result (part of cache and sweep keys)."""
    return f"{__version__} {git_commit() or 'unknown-commit'}"

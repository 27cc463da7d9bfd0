"""The precomputed-results cache: finished runs on disk, keyed by parameters and code version.

``paperscope precompute SLUG --grid name=v1,v2 ...`` fills it before a workshop; the app then
reads it transparently: a run whose parameters (all of them, seed and device included) and code
version match a stored one shows the stored final frame at once instead of computing.

Files live in ``PAPERSCOPE_CACHE`` (default ``~/.cache/paperscope``) as
``<slug>/<key>.pkl``; the key is a hash, so nothing a browser sends ever becomes a path.
Entries are written atomically (temporary file + rename), so a precompute running next to a
live server never serves half a file.
"""

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .export import code_version
from .frames import Frame


def cache_dir() -> Path:
    return Path(os.environ.get("PAPERSCOPE_CACHE", Path.home() / ".cache" / "paperscope"))


def key(slug: str, values: dict, code: str | None = None) -> str:
    """A stable hash of the lab, every parameter value and the code version."""
    text = json.dumps({"lab": slug, "params": values, "code": code or code_version()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def path_for(slug: str, values: dict) -> Path:
    return cache_dir() / slug / f"{key(slug, values)}.pkl"


def store(slug: str, params, frame: Frame) -> Path:
    """Keep the final ``frame`` of a run with ``params``; returns the file."""
    if not frame.done:
        raise ValueError("only a finished run's last frame is cached")
    path = path_for(slug, params.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        pickle.dump(frame, tmp, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp.name, path)
    return path


def lookup(slug: str, params) -> Frame | None:
    """The stored final frame for exactly these parameters and this code, or ``None``."""
    folder = cache_dir() / slug
    if not folder.is_dir():  # the common case outside workshops: no disk work at all
        return None
    path = path_for(slug, params.values())
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return None  # missing, or written by other code: compute instead


def reading_cache(slug: str, run: Callable[[object], Iterator[Frame]]) -> Callable[[object], Iterator[Frame]]:
    """``run`` that first looks in the cache (what the app's runner computes with)."""
    def cached_run(params) -> Iterator[Frame]:
        frame = lookup(slug, params)
        if frame is not None:
            yield frame
            return
        yield from run(params)
    return cached_run

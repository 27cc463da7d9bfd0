"""The run cache: finished runs on disk, keyed by the lab, every parameter and the code version.

``paperscope precompute SLUG --grid name=v1,v2 ...`` fills it before a workshop; the app then
reads it transparently: a run whose parameters (all of them, seed and device included) and code
version match a stored one shows the stored final frame at once instead of computing.

Storage is a :class:`diskcache.Cache` in ``$PAPERSCOPE_CACHE/runs`` (default
``~/.cache/paperscope/runs``), bounded by ``PAPERSCOPE_CACHE_SIZE`` (bytes, or with a unit:
``500M``, ``2G``; default 2 GiB) and evicting the least recently used runs beyond it. diskcache
commits each entry in one SQLite transaction after its file is complete, so a precompute running
next to a live server (another process) never serves half an entry. Keys are hashes: nothing a
browser sends ever becomes a path.
"""

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import diskcache

from ..core.errors import ParamError
from ..core.export import code_version
from ..core.files import cache_dir
from ..core.frames import Frame

DEFAULT_SIZE = 2 * 2**30
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def runs_dir() -> Path:
    """The run cache's own folder inside :func:`cache_dir`."""
    return cache_dir() / "runs"


def size_limit() -> int:
    """``PAPERSCOPE_CACHE_SIZE`` in bytes (``2G``, ``500M``, ``1e9``...), 2 GiB when unset."""
    text = os.environ.get("PAPERSCOPE_CACHE_SIZE", "").strip()
    if not text:
        return DEFAULT_SIZE
    match = re.fullmatch(r"(\d+(?:\.\d*)?(?:e\d+)?)\s*([kmgt]?)i?b?", text.lower())
    if not match:
        raise ParamError(f"PAPERSCOPE_CACHE_SIZE={text!r}: expected a size such as 2G, 500M or 1000000000")
    return int(float(match[1]) * _UNITS[match[2]])


@functools.lru_cache(maxsize=4)
def _open(directory: str, limit: int) -> diskcache.Cache:
    # One handle per folder and process (diskcache gives each thread its own SQLite connection).
    return diskcache.Cache(directory, size_limit=limit, eviction_policy="least-recently-used")


def _cache() -> diskcache.Cache:
    return _open(str(runs_dir()), size_limit())


def key(slug: str, values: dict, code: str | None = None) -> str:
    """A stable hash of the lab, every parameter value and the code version."""
    text = json.dumps({"lab": slug, "params": values, "code": code or code_version()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def store(slug: str, params, frame: Frame) -> str:
    """Keep the final ``frame`` of a run with ``params``; returns its key."""
    if not frame.done:
        raise ValueError("only a finished run's last frame is cached")
    name = key(slug, params.values())
    _cache().set(name, frame)
    return name


def lookup(slug: str, params) -> Frame | None:
    """The stored final frame for exactly these parameters and this code, or ``None``."""
    if not runs_dir().is_dir():  # the common case outside workshops: no disk work at all
        return None
    try:
        frame = _cache().get(key(slug, params.values()))
    # An entry that does not load (written by other code, a damaged file) or a cache that stays
    # locked is a miss: computing is always a correct answer.
    except Exception:  # diskcache.Timeout, sqlite3.Error, any unpickling error
        return None
    return frame if isinstance(frame, Frame) else None


def serving(find: Callable[[object], Frame | None],
            run: Callable[[object], Iterator[Frame]]) -> Callable[[object], Iterator[Frame]]:
    """``run`` that first asks ``find(params)`` for a finished run's last frame."""
    def known_or_run(params) -> Iterator[Frame]:
        frame = find(params)
        if frame is not None:
            yield frame
            return
        yield from run(params)
    return known_or_run


def reading_cache(slug: str, run: Callable[[object], Iterator[Frame]]) -> Callable[[object], Iterator[Frame]]:
    """``run`` that first looks in the cache (what the app's runner computes with)."""
    return serving(lambda params: lookup(slug, params), run)

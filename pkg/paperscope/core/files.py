"""Files written whole or not at all, and the folder paperscope keeps its caches in.

A reader (a browser downloading a figure, a sweep re-reading its table, another process) must
never see half a file, so every file the package writes for others goes through
:func:`atomic_write`: a temporary file in the same folder, renamed over the target (a rename
within one file system is atomic on POSIX and Windows).
"""

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], object]) -> Path:
    """Write ``path`` atomically and return it.

    ``data`` is the content (``str`` is written as UTF-8) or a writer called with the temporary
    path, for libraries that write to a path themselves (``lambda p: table.to_parquet(p)``).
    The folder is created if needed; the file gets the permissions a plain ``open()`` would give.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: a rename across file systems would not be atomic.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            if not callable(data):
                f.write(data.encode() if isinstance(data, str) else data)
        if callable(data):
            data(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes a private file; results are shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when writing failed
    return path


def cache_dir() -> Path:
    """``PAPERSCOPE_CACHE`` (default ``~/.cache/paperscope``): each cache has a folder inside it."""
    return Path(os.environ.get("PAPERSCOPE_CACHE", Path.home() / ".cache" / "paperscope"))


@functools.cache
def _umask() -> int:
    # Read once: setting the umask to read it is process-wide, so not something to do per write
    # while other threads create files.
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""Gallery thumbnails: each lab's own figure at quick size, rendered once and cached on disk.

A thumbnail lives in ``<cache_dir>/thumbnails/<slug>-<hash>.png``, the hash taken over the
lab's compute and views source files, so editing a lab makes a new one. Rendering runs a lab
(seconds to a minute on a CPU): the gallery never does it during a request, it only reads
files; ``paperscope thumbnails`` renders the missing ones, and ``paperscope serve`` does so in
one low-priority background thread after start-up (not when ``PAPERSCOPE_NO_THUMBNAILS=1``).
"""

import base64
import functools
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.files import atomic_write, cache_dir
from ..core.paper import source_file

WIDTH_PX = 420  # twice the card's image width at the narrowest grid column, for sharp screens
COLOURS = 64  # a palette PNG: a third of the bytes of full colour, and plots use few colours
NO_THUMBNAILS_ENV = "PAPERSCOPE_NO_THUMBNAILS"


def source_hash(lab) -> str:
    """A hash of the lab's compute and views source (found without importing either)."""
    digest = hashlib.sha256()
    for module_name in (lab.module_name, lab.views_module_name):
        path = source_file(module_name)
        digest.update(_file_digest(path, path.stat().st_mtime_ns))
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=256)  # every gallery visit asks: read each file once per version
def _file_digest(path: Path, mtime_ns: int) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def thumbnail_path(lab) -> Path:
    return cache_dir() / "thumbnails" / f"{lab.slug}-{source_hash(lab)}.png"


def data_uri(lab) -> str | None:
    """The cached thumbnail as a ``data:`` URI (the page needs no other request), or ``None``."""
    path = thumbnail_path(lab)
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render(lab) -> Path:
    """Run ``lab`` at quick size on the CPU and write its figure, shrunk, as the thumbnail."""
    from PIL import Image

    from ..core.runner import run_to_end
    from ..views.figure import render_bytes

    params = lab.Params.preset("quick", device="cpu")
    frame = run_to_end(lab.run, params, threads=1)
    image = Image.open(io.BytesIO(render_bytes(lab.views().figure(frame, ()), "png")))
    image.thumbnail((WIDTH_PX, WIDTH_PX * 2))  # keeps the aspect ratio
    image = image.convert("RGB").quantize(COLOURS)
    path = atomic_write(thumbnail_path(lab), lambda tmp: image.save(tmp, format="PNG", optimize=True))
    for stale in path.parent.glob(f"{lab.slug}-*.png"):  # earlier versions of this lab's code
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


def render_missing(labs: Iterable, log: Callable[[str], None] = print) -> int:
    """Render every thumbnail that is not cached yet; returns how many failed."""
    failed = 0
    for lab in labs:
        if thumbnail_path(lab).is_file():
            continue
        try:
            log(f"{lab.slug}: wrote {render(lab)}")
        except Exception as exc:  # noqa: BLE001 - one broken lab must not stop the others
            failed += 1
            log(f"{lab.slug}: no thumbnail ({type(exc).__name__}: {exc})")
    return failed


def start_background(labs: list, log: Callable[[str], None]) -> threading.Thread | None:
    """Render missing thumbnails in one daemon thread at the lowest CPU priority, so visitors'
    sessions come first; nothing when ``PAPERSCOPE_NO_THUMBNAILS=1`` (the browser tests)."""
    if os.environ.get(NO_THUMBNAILS_ENV) == "1":
        return None

    def work():
        try:  # Linux: a thread id is a valid PRIO_PROCESS target and lowers only this thread
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        render_missing(labs, log)

    thread = threading.Thread(target=work, name="paperscope-thumbnails", daemon=True)
    thread.start()
    return thread

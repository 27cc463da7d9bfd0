"""A bounded, session-aware memo for values worth keeping between runs, owned by the framework:
trained models that evaluation-only sliders reuse. A lab declares one and supplies only the
computation:

    MODELS = Memo("smooth-diffusion models", size=12)

    model = MODELS.get(key)
    if model is None:
        model = train(...)
        MODELS.put(key, model)

**Sessions.** The app gives each browser session a :class:`~paperscope.core.runner.Runner`, whose
compute thread runs inside :func:`session` with the runner's ``session_id``. A value that a
session gets or puts is *held* by that session; when the last session holding it closes (the
runner's ``close``, which Panel's ``on_session_destroyed`` calls), it is freed. Values used
outside any session (CLI, notebooks, tests, sweeps: ``run_to_end``) are held by none and live
as in a plain LRU cache. Entries a closed session leaves behind are freed rather than kept in a
shared pool: memory that no session uses is what a GPU server must not keep (the issue asks for
it), and a page reload keeps them anyway, since the server destroys a closed tab's session only
after a grace period (Bokeh's ``unused_session_lifetime``, 15 s by default) while the reloaded
page's first run takes hold of the same entries at once. What is lost is a retraining when a
user comes back later.

**The bound.** At most ``size`` entries and, if ``max_bytes`` is given, that many bytes of
tensors and arrays (counted through dataclass fields, mappings and sequences). When a ``put``
goes over, the least recently used entry that no session holds goes first, then the least
recently used held one: a bound that sessions could exceed would let thirty browsers fill a GPU.
The entry just put always stays, even alone over ``max_bytes``. After values with CUDA tensors
are freed, the CUDA caching allocator's free blocks are handed back (``torch.cuda.empty_cache``).

**Sharing.** Entries are shared by every session of the process. That is safe, on a GPU server
included, when the key holds everything that shapes the value (configuration, seed, device,
dtype): two sessions asking for one key then want the same value. Callers treat values as
read-only, or change them only in ways every sharer wants (adding an evaluation summary).
"""

import dataclasses
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_SESSION: ContextVar[Hashable | None] = ContextVar("paperscope_session", default=None)
_MEMOS: "weakref.WeakSet[Memo]" = weakref.WeakSet()  # every memo, for release_session
_MEMOS_LOCK = threading.Lock()


def current_session() -> Hashable | None:
    """The session whose computation runs in this thread now (None: CLI, notebook, tests)."""
    return _SESSION.get()


@contextmanager
def session(session_id: Hashable) -> Iterator[None]:
    """Run the body as ``session_id``; when it ends, the session is over and what it alone
    held in any memo is freed (:func:`release_session`)."""
    token = _SESSION.set(session_id)
    try:
        yield
    finally:
        _SESSION.reset(token)
        release_session(session_id)


def release_session(session_id: Hashable) -> int:
    """The session is over: every memo drops its holds and frees the entries no other session
    holds. Returns how many entries were freed."""
    with _MEMOS_LOCK:
        memos = list(_MEMOS)
    freed = [entry for memo in memos for entry in memo._release(session_id)]
    count = len(freed)
    _after_free(freed)
    return count


def release_gpu_memory() -> None:
    """Hand the CUDA caching allocator's free blocks back once tensors are gone (a server that
    ran for a day otherwise keeps the peak of every session reserved)."""
    torch = sys.modules.get("torch")  # core never imports torch just to find it unused
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def measure(value) -> tuple[int, bool]:
    """Bytes of the tensors and arrays reachable from ``value`` through dataclass fields,
    mappings, lists, tuples and sets, and whether any of them lives on a CUDA device.

    A tensor counts ``numel * element_size`` (an expanded view counts as its full shape).
    """
    seen, nbytes, on_cuda = set(), 0, False
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if hasattr(item, "nbytes") and hasattr(item, "shape"):  # a numpy array or a torch tensor
            nbytes += int(item.nbytes)
            on_cuda = on_cuda or bool(getattr(item, "is_cuda", False))
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return nbytes, on_cuda


@dataclass(eq=False)
class _Entry:
    value: object
    nbytes: int
    on_cuda: bool
    holders: set = field(default_factory=set)  # the live sessions that used it


class Memo:
    """A thread-safe, bounded LRU memo (key -> value) that frees what closed sessions leave
    behind (see the module docstring). ``size``: most entries; ``max_bytes``: most bytes of
    tensors and arrays, or None for no byte bound."""

    def __init__(self, name: str, size: int, max_bytes: int | None = None):
        if size < 1:
            raise ValueError(f"memo {name!r}: size must be at least 1, got {size}")
        self.name, self.size, self.max_bytes = name, size, max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lock = threading.Lock()
        with _MEMOS_LOCK:
            _MEMOS.add(self)

    def __repr__(self) -> str:
        return f"Memo({self.name!r}, {len(self)}/{self.size} entries, {self._bytes} bytes)"

    def get(self, key: Hashable, default=None):
        """The value under ``key`` (now held by the current session), or ``default``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            self._hold(entry)
            return entry.value

    def put(self, key: Hashable, value) -> None:
        """Keep ``value`` under ``key`` for the current session (or for no session), evicting
        least recently used entries over the bound."""
        nbytes, on_cuda = measure(value)  # outside the lock: it walks the value
        entry = _Entry(value, nbytes, on_cuda)
        with self._lock:
            old = self._entries.pop(key, None)
            freed = []
            if old is not None:
                entry.holders |= old.holders
                self._bytes -= old.nbytes
                if old.value is not value:
                    freed.append(old)
                old = None  # only ``freed`` may reference it now (see _after_free)
            self._entries[key] = entry
            self._bytes += nbytes
            self._hold(entry)
            freed += self._evict(keep=key)
        _after_free(freed)

    def items(self) -> list[tuple[Hashable, object]]:
        """A snapshot of (key, value), least recently used first; reading it holds nothing."""
        with self._lock:
            return [(key, entry.value) for key, entry in self._entries.items()]

    def holders(self, key: Hashable) -> frozenset:
        """The live sessions holding ``key`` (empty: kept by the bound alone, or absent)."""
        with self._lock:
            entry = self._entries.get(key)
            return frozenset(entry.holders) if entry is not None else frozenset()

    def clear(self) -> None:
        """Free every entry (tests start from an empty memo)."""
        with self._lock:
            freed = list(self._entries.values())
            self._entries.clear()
            self._bytes = 0
        _after_free(freed)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    # -- under the lock -----------------------------------------------------------------------
    def _hold(self, entry: _Entry) -> None:
        who = _SESSION.get()
        if who is not None:
            entry.holders.add(who)

    def _over(self) -> bool:
        return len(self._entries) > self.size or (self.max_bytes is not None and self._bytes > self.max_bytes)

    def _evict(self, keep: Hashable) -> list[_Entry]:
        freed = []
        while self._over():
            others = [k for k in self._entries if k != keep]
            if not others:
                break
            victim = next((k for k in others if not self._entries[k].holders), others[0])
            entry = self._entries.pop(victim)
            self._bytes -= entry.nbytes
            freed.append(entry)
        return freed

    def _release(self, session_id: Hashable) -> list[_Entry]:
        with self._lock:
            freed = []
            for key, entry in list(self._entries.items()):
                if session_id in entry.holders:
                    entry.holders.discard(session_id)
                    if not entry.holders:
                        del self._entries[key]
                        self._bytes -= entry.nbytes
                        freed.append(entry)
            return freed


def _after_free(freed: list[_Entry]) -> None:
    """Drop the freed values, then hand CUDA's cached blocks back if any held CUDA tensors
    (their memory returns to the allocator only once no one else references them)."""
    on_cuda = any(entry.on_cuda for entry in freed)
    freed.clear()
    if on_cuda:
        release_gpu_memory()

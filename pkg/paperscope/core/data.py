"""A user's own data set, for the labs that learn from one (``selu``, ``neural-collapse`` in its
digits mode; ``nvrm`` when it is built).

Sources, read from a path or from bytes (an upload), never written anywhere:

* **CSV**: a header row of column names, then one row per sample. The label column is the one
  named ``y``, ``label``, ``target`` or ``class`` (the first such, in any case), else the last
  column; every other column is a numeric feature. Empty cells and ``NA``/``NaN``/``null`` count
  as missing values (refused).
* **NPZ**: an archive of arrays ``X`` (n, d) and ``y`` (n,), read with ``allow_pickle=False``:
  an object array is refused, never unpickled. Other arrays in the archive are ignored.

:func:`load` validates up front and raises :class:`~paperscope.core.errors.DataError` with one
message per problem (the first one found), naming the limit it broke: file size, rows, feature
columns, cells, classes, rows per class, numbers only, no missing or infinite values. Labels may
be any whole numbers: they become class ids 0..k-1 in sorted order (``Dataset.classes`` keeps the
file's values).

A lab's parameters name the data by a short string, so they stay JSON-safe for URLs, the run
cache and the figure sidecar: ``builtin`` (the lab's own data, the default) or the key
``sha256:<16 hex>`` of a data set :func:`register`-ed in this process (a bounded, process-local
registry: nothing of an upload reaches the disk). A lab declares the parameter with
:func:`data_parameter` and its built-in data set in ``Params.BUILTIN_DATA``, and reads the data
with :func:`resolve`.
"""

import gzip
import hashlib
import importlib.util
import io
import os
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import param

from .errors import DataError

BUILTIN = "builtin"
KEY_PREFIX = "sha256:"
KEY_HEX = 16  # hex digits of the hash in a key: 64 bits, no collision among a process's uploads

# The stated limits (the upload control and --help repeat them).
MAX_BYTES = 10 * 2**20  # file size (an upload travels base64 in one websocket message: Bokeh caps it at 20 MB)
MAX_ROWS = 50_000
MAX_FEATURES = 1_000
MAX_CELLS = 2_000_000  # rows x features: 16 MB as float64
MIN_ROWS = 20
MIN_CLASSES = 2
MAX_CLASSES = 100
MIN_PER_CLASS = 2
REGISTRY_BYTES = 256 * 2**20  # registered data sets beyond this: the least recently used go

LABEL_NAMES = ("y", "label", "target", "class")
MISSING_WORDS = {"", "na", "nan", "null", "none", "n/a"}
SUFFIXES = {".csv": "csv", ".npz": "npz"}
FORMATS_TEXT = "a .csv file (a header row, the label column named y or last) or an .npz archive (arrays X and y)"


def limits_text() -> str:
    """The limits in one line, for help texts and the upload control."""
    return (f"at most {MAX_BYTES // 2**20} MB, {MIN_ROWS} to {MAX_ROWS:,} rows, 1 to {MAX_FEATURES:,} "
            f"numeric feature columns ({MAX_CELLS:,} cells), {MIN_CLASSES} to {MAX_CLASSES} classes "
            f"of at least {MIN_PER_CLASS} rows each, no missing or infinite values")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Validated data: features ``X (n, d)`` float64 and class ids ``y (n,)`` in 0..k-1, both
    read-only; ``sha256`` hashes their canonical bytes (shape, float64 X, int64 y), so the same
    numbers give the same hash from a CSV, an NPZ or arrays."""

    X: np.ndarray
    y: np.ndarray
    name: str
    features: tuple[str, ...]
    classes: tuple  # the source's label value of each class id
    sha256: str

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def key(self) -> str:
        """What a lab's ``data`` parameter holds: ``sha256:<16 hex>``."""
        return KEY_PREFIX + self.sha256[:KEY_HEX]

    def describe(self) -> str:
        return f"{self.name}: {self.n} rows, {self.d} features, {self.k} classes"

    def summary(self) -> dict:
        """JSON-safe facts for the figure sidecar (no values of the data)."""
        return {"key": self.key, "sha256": self.sha256, "name": self.name, "rows": self.n,
                "features": self.d, "classes": self.k}


# --------------------------------------------------------------------------------------------
# Validation of arrays (every source ends here)


def _where(index: np.ndarray, columns) -> str:
    """'row r, column c' of a flat index into (n, d) (rows count from 1, as a spreadsheet's
    data rows do)."""
    r, c = divmod(int(index), len(columns))
    return f"row {r + 1}, column {columns[c]!r}"


def _check_shapes(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    if X.ndim != 2:
        raise DataError(f"X must be a 2-D table (rows x features); got shape {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"y must hold one label per row (1-D); got shape {y.shape}")
    if len(y) != len(X):
        raise DataError(f"X has {len(X)} rows but y has {len(y)} labels: they must match")
    return y


def _check_numeric(what: str, a: np.ndarray) -> None:
    if a.dtype.kind not in "biuf":
        raise DataError(f"{what} holds non-numeric values (dtype {a.dtype}): only numbers are accepted")


def _check_sizes(n: int, d: int) -> None:
    if n < MIN_ROWS:
        raise DataError(f"only {n} row{'s' if n != 1 else ''}: at least {MIN_ROWS} are needed")
    if n > MAX_ROWS:
        raise DataError(f"{n:,} rows: at most {MAX_ROWS:,} are accepted")
    if d < 1:
        raise DataError("no feature columns: besides the label at least one numeric column is needed")
    if d > MAX_FEATURES:
        raise DataError(f"{d:,} feature columns: at most {MAX_FEATURES:,} are accepted")
    if n * d > MAX_CELLS:
        raise DataError(f"{n:,} rows x {d:,} features = {n * d:,} values: at most {MAX_CELLS:,} are accepted")


def _check_finite(X: np.ndarray, y: np.ndarray, columns) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise DataError(f"{int(bad.sum())} missing, NaN or infinite feature values (the first at "
                        f"{_where(first, columns)}): remove or fill them")
    bad = ~np.isfinite(y)
    if bad.any():
        raise DataError(f"{int(bad.sum())} missing, NaN or infinite labels (the first at row "
                        f"{int(np.flatnonzero(bad)[0]) + 1}): every row needs a label")


def _class_ids(y: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Labels -> class ids 0..k-1 (sorted labels), checking they are whole numbers and the
    class counts."""
    frac = y != np.round(y)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise DataError(f"labels must be whole numbers (class ids); row {i + 1} has {y[i]:g}")
    values, ids, counts = np.unique(y.astype(np.int64), return_inverse=True, return_counts=True)
    if len(values) < MIN_CLASSES:
        raise DataError(f"only {len(values)} class (label {values[0]}): at least {MIN_CLASSES} are needed")
    if len(values) > MAX_CLASSES:
        raise DataError(f"{len(values)} distinct labels: at most {MAX_CLASSES} classes are accepted "
                        f"(the label column is the one named y, label, target or class, else the last)")
    if counts.min() < MIN_PER_CLASS:
        small, count = int(values[counts.argmin()]), int(counts.min())
        raise DataError(f"class {small} has only {count} row{'s' if count != 1 else ''}: every class needs "
                        f"at least {MIN_PER_CLASS}")
    return ids.astype(np.int64), tuple(int(v) for v in values)


def _digest(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.asarray(X.shape, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return h.hexdigest()


def from_arrays(X, y, name: str = "arrays", features=None) -> Dataset:
    """A validated :class:`Dataset` from array-likes ``X (n, d)`` and ``y (n,)``."""
    X, y = np.asarray(X), np.asarray(y)
    y = _check_shapes(X, y)
    _check_numeric("X", X)
    _check_numeric("y", y)
    n, d = X.shape
    _check_sizes(n, d)
    columns = tuple(features) if features is not None else tuple(f"x{j}" for j in range(d))
    X, y = X.astype(np.float64), y.astype(np.float64)
    _check_finite(X, y, columns)
    ids, classes = _class_ids(y)
    X = np.ascontiguousarray(X)
    X.flags.writeable = ids.flags.writeable = False  # shared between sessions: nobody edits it
    return Dataset(X=X, y=ids, name=name, features=columns, classes=classes, sha256=_digest(X, ids))


# --------------------------------------------------------------------------------------------
# Reading files (bytes in memory; nothing is written)


def _check_bytes(size: int) -> None:
    if size > MAX_BYTES:
        raise DataError(f"the file has {size / 2**20:.1f} MB: at most {MAX_BYTES // 2**20} MB are accepted")
    if size == 0:
        raise DataError("the file is empty")


def _label_column(columns: list[str]) -> int:
    """The label column: the first named y/label/target/class (any case), else the last."""
    lowered = [str(c).strip().lower() for c in columns]
    for i, c in enumerate(lowered):
        if c in LABEL_NAMES:
            return i
    return len(columns) - 1


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(raw: bytes, name: str = "upload.csv") -> Dataset:
    """A :class:`Dataset` from CSV bytes (header row; label column y/label/target/class, else last)."""
    import pandas as pd

    _check_bytes(len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{name} is not UTF-8 text: give {FORMATS_TEXT}") from None
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError("the file holds no rows") from None
    except pd.errors.ParserError as exc:  # e.g. "Expected 3 fields in line 5, saw 4"
        raise DataError(f"{name} is not a well-formed CSV table: {str(exc).strip().splitlines()[-1]}") from None
    columns = [str(c).strip() for c in table.columns]
    if columns and all(_is_number(c) for c in columns):
        raise DataError("the first row must be a header of column names; it holds only numbers")
    if len(columns) < 2:
        raise DataError("a CSV needs at least two columns: one or more features and the label")
    if len(columns) - 1 > MAX_FEATURES:  # before converting a huge table
        raise DataError(f"{len(columns) - 1:,} feature columns: at most {MAX_FEATURES:,} are accepted")
    if len(table) > MAX_ROWS:
        raise DataError(f"{len(table):,} rows: at most {MAX_ROWS:,} are accepted")
    values = np.empty(table.shape, dtype=np.float64)
    for j, column in enumerate(table.columns):
        cells = table[column].str.strip()
        numbers = pd.to_numeric(cells, errors="coerce")
        word = ~cells.str.lower().isin(MISSING_WORDS)
        bad = numbers.isna().to_numpy() & word.to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"non-numeric value {cells.iloc[i]!r} at row {i + 1}, column {columns[j]!r}: "
                            "only numbers are accepted (rows count from 1 after the header)")
        values[:, j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    label = _label_column(columns)
    features = [c for j, c in enumerate(columns) if j != label]
    return from_arrays(np.delete(values, label, axis=1), values[:, label], name=name, features=features)


def _npz_member_sizes(raw: bytes) -> dict[str, int]:
    """Uncompressed size of each array in an NPZ (a zip) before any is read: a small archive
    may unpack to gigabytes."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {info.filename.removesuffix(".npy"): info.file_size for info in archive.infolist()}


def read_npz(raw: bytes, name: str = "upload.npz") -> Dataset:
    """A :class:`Dataset` from NPZ bytes holding arrays ``X`` and ``y`` (never unpickled)."""
    _check_bytes(len(raw))
    try:
        sizes = _npz_member_sizes(raw)
    except zipfile.BadZipFile:
        raise DataError(f"{name} is not an NPZ archive (a zip of .npy arrays): give {FORMATS_TEXT}") from None
    missing = [k for k in ("X", "y") if k not in sizes]
    if missing:
        held = ", ".join(sorted(sizes)) or "nothing"
        raise DataError(f"the archive must hold arrays named X and y; it lacks {' and '.join(missing)} "
                        f"(it holds: {held})")
    limit = MAX_CELLS * 8 + 2**16
    for key in ("X", "y"):
        if sizes[key] > limit:
            raise DataError(f"array {key} unpacks to {sizes[key] / 2**20:.0f} MB: at most "
                            f"{MAX_CELLS:,} values ({limit / 2**20:.0f} MB) are accepted")
    arrays = {}
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        for key in ("X", "y"):
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise DataError(f"array {key} holds Python objects, which would need unpickling (never "
                                    "done here): save numeric arrays, e.g. np.savez(path, X=X.astype(float), "
                                    "y=y.astype(int))") from None
                raise DataError(f"array {key} is not a readable .npy array: {exc}") from None
    return from_arrays(arrays["X"], arrays["y"], name=name)


def kind_of(name: str, raw: bytes | None = None) -> str:
    """``csv`` or ``npz`` from a file name's suffix (or, without one, from the bytes: a zip is NPZ)."""
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if not suffix and raw is not None:
        return "npz" if raw[:4] == b"PK\x03\x04" else "csv"
    raise DataError(f"unsupported file type {suffix or name!r}: give {FORMATS_TEXT}")


def load(source, kind: str | None = None, name: str | None = None) -> Dataset:
    """A validated :class:`Dataset` from a path or from bytes (``kind`` ``csv``/``npz``, else
    from the name's suffix)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        _check_bytes(path.stat().st_size)  # before reading it
        raw, name = path.read_bytes(), name or path.name
    kind = kind or kind_of(name, raw)
    if kind not in ("csv", "npz"):
        raise DataError(f"unknown data kind {kind!r}: csv or npz")
    return read_csv(raw, name) if kind == "csv" else read_npz(raw, name)


# --------------------------------------------------------------------------------------------
# The process-local registry: key -> Dataset


_REGISTRY: "OrderedDict[str, Dataset]" = OrderedDict()
_LOCK = threading.Lock()


def register(dataset: Dataset) -> str:
    """Keep ``dataset`` in this process and return its key; the least recently used data sets
    go once all of them pass ``REGISTRY_BYTES``."""
    with _LOCK:
        _REGISTRY[dataset.key] = dataset
        _REGISTRY.move_to_end(dataset.key)
        while len(_REGISTRY) > 1 and sum(d.X.nbytes + d.y.nbytes for d in _REGISTRY.values()) > REGISTRY_BYTES:
            _REGISTRY.popitem(last=False)
    return dataset.key


def lookup(key: str) -> Dataset:
    """The registered data set of ``key``, or a ``DataError`` saying how to load it."""
    with _LOCK:
        dataset = _REGISTRY.get(key)
        if dataset is not None:
            _REGISTRY.move_to_end(key)
            return dataset
    raise DataError(f"data={key!r} is not loaded in this process: give the file again "
                    "(--data PATH, the app's upload, or data= in Python); a link or a sidecar "
                    "records which data was used, not the data itself")


def check_key(key, name: str = "data") -> None:
    """Refuse a ``data`` value other than ``builtin`` or a registered key."""
    if key == BUILTIN:
        return
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) != len(KEY_PREFIX) + KEY_HEX:
        raise DataError(f"{name}={key!r} is not valid: expected builtin, or the key sha256:<{KEY_HEX} hex digits> "
                        "of data loaded with --data PATH, an upload or data= in Python")
    lookup(key)


def use(source, name: str | None = None) -> str:
    """The ``data`` value for ``source``: ``builtin``, a registered key, a :class:`Dataset`, a
    path (CSV or NPZ) or a pair ``(X, y)`` of arrays; anything else is loaded and registered."""
    if isinstance(source, str) and (source == BUILTIN or source.startswith(KEY_PREFIX)):
        check_key(source)
        return source
    if isinstance(source, Dataset):
        return register(source)
    if isinstance(source, tuple) and len(source) == 2:
        return register(from_arrays(*source, name=name or "arrays"))
    if isinstance(source, (str, os.PathLike)):
        return register(load(source, name=name))
    raise DataError(f"data={type(source).__name__} is not a data source: give builtin, a path to {FORMATS_TEXT}, "
                    "a pair (X, y) of arrays or a paperscope Dataset")


# --------------------------------------------------------------------------------------------
# Built-in data sets and the labs' parameter


@lru_cache(maxsize=1)
def digits() -> Dataset:
    """scikit-learn's 8x8 digits: ``X (1797, 64)`` in 0..16, ``y (1797,)`` the digit.

    Read from the CSV that scikit-learn ships, without importing it (that import alone takes
    ~1-2 s); falls back to ``sklearn.datasets.load_digits``.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise DataError("the built-in data is scikit-learn's digits: pip install scikit-learn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.isfile(path):
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        X, y = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        X, y = bunch.data.astype(np.float64), bunch.target
    return from_arrays(X, y, name="scikit-learn digits (8x8)", features=[f"pixel{j}" for j in range(64)])


BUILTINS = {"digits": digits}


class DataChoice(param.String):
    """A lab's ``data`` parameter: ``builtin`` or the key of a registered data set (checked
    whenever it is set, and by ``core.params.coerce`` for text from links and the CLI)."""

    def _validate_value(self, val, allow_None):
        super()._validate_value(val, allow_None)
        if val is not None:
            check_key(val, self.name or "data")

    def check_value(self, name: str, value) -> None:
        check_key(value, name)

    def describe(self) -> str:
        return f"builtin, or the key sha256:<{KEY_HEX} hex digits> of data loaded in this process"


def data_parameter(doc: str) -> DataChoice:
    """The ``data`` parameter of a lab that learns from a data set. Negative precedence: it gets
    its own control (an upload), not a text box among the sliders."""
    return DataChoice(BUILTIN, precedence=-1, doc=doc)


def resolve(params) -> Dataset:
    """The data set a run uses: the user's (``params.data``) or the lab's ``BUILTIN_DATA``."""
    if params.data == BUILTIN:
        return BUILTINS[type(params).BUILTIN_DATA]()
    return lookup(params.data)


def sidecar_entry(params) -> dict | None:
    """What the figure sidecar records about the data (``None`` for a lab without ``data``):
    key, full sha256, name and shape; ``source`` says built-in or the user's."""
    if "data" not in getattr(type(params), "param", ()):
        return None
    if params.data == BUILTIN:
        return {"source": BUILTIN, **BUILTINS[type(params).BUILTIN_DATA]().summary()}
    try:
        return {"source": "user", **lookup(params.data).summary()}
    except DataError:
        return {"source": "user", "key": params.data}

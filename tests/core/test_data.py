"""core.data: reading a user's data set, one message per problem, the registry and the
``data`` parameter."""

import io
import re
import zipfile

import numpy as np
import param
import pytest

from paperscope.core import data
from paperscope.core.errors import DataError, ParamError
from paperscope.core.params import LabParams, apply_strings, coerce, describe_range


def table(n: int = 30, d: int = 3, classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % classes


def csv_bytes(X, y, header=None, label_first=False) -> bytes:
    header = header or [f"f{j}" for j in range(X.shape[1])] + ["y"]
    rows = [",".join(header)]
    for x, label in zip(X, y):
        cells = [repr(float(v)) for v in x]
        rows.append(",".join([str(label), *cells] if label_first else [*cells, str(label)]))
    return ("\n".join(rows) + "\n").encode()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# -- good data --------------------------------------------------------------------------------

def test_csv_and_npz_of_the_same_numbers_give_the_same_hash():
    X, y = table()
    from_csv = data.load(csv_bytes(X, y), kind="csv")
    from_npz = data.load(npz_bytes(X=X, y=y), kind="npz")
    assert from_csv.sha256 == from_npz.sha256 == data.from_arrays(X, y).sha256
    assert (from_csv.n, from_csv.d, from_csv.k) == (30, 3, 2)
    np.testing.assert_array_equal(from_csv.y, y)
    np.testing.assert_allclose(from_csv.X, X)
    assert from_csv.key == "sha256:" + from_csv.sha256[:16]
    # different numbers, different hash
    assert data.from_arrays(X + 1e-9, y).sha256 != from_npz.sha256


def test_label_column_is_named_y_label_target_or_class_else_last():
    X, y = table(classes=3)
    named = data.load(csv_bytes(X, y, header=["Label", "a", "b", "c"], label_first=True), kind="csv")
    assert named.features == ("a", "b", "c") and named.k == 3
    last = data.load(csv_bytes(X, y, header=["a", "b", "c", "outcome"]), kind="csv")
    assert last.features == ("a", "b", "c") and last.k == 3


def test_labels_become_class_ids_in_sorted_order():
    X, _ = table(n=20)
    ds = data.from_arrays(X, np.where(np.arange(20) % 2, 7, -1))
    assert ds.classes == (-1, 7) and set(ds.y) == {0, 1}


def test_a_path_is_read_by_its_suffix(tmp_path):
    X, y = table()
    (tmp_path / "mine.csv").write_bytes(csv_bytes(X, y))
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    assert data.load(tmp_path / "mine.csv").sha256 == data.load(tmp_path / "mine.npz").sha256
    assert data.load(tmp_path / "mine.csv").name == "mine.csv"


# -- one message per problem ------------------------------------------------------------------

X0, Y0 = table()


PROBLEMS = [
    (b"", "csv", "the file is empty"),
    (b"a,b,y\n", "csv", "only 0 rows: at least 20"),
    (b"\xff\xfe\x00bad", "csv", "not UTF-8 text"),
    (b"a,b,y\n1,2,0\n1,2,3,4\n", "csv", "not a well-formed CSV"),
    (b"1,2,0\n3,4,1\n", "csv", "first row must be a header"),
    (b"only\n1\n2\n", "csv", "at least two columns"),
    (b"a,b,y\n1,2,0\n3,abc,1\n", "csv", "non-numeric value 'abc' at row 2, column 'b'"),
    (csv_bytes(X0, Y0).replace(b"\n", b"\n,", 1).replace(b",,", b","), "csv", "missing, NaN or infinite"),
    (npz_bytes(X=X0, y=Y0)[:40], "npz", "not an NPZ archive"),
    (npz_bytes(X=X0), "npz", "lacks y (it holds: X)"),
    (npz_bytes(X=X0, y=np.array([object()] * 30, dtype=object)), "npz", "never done here"),
    (npz_bytes(X=X0, y=np.array(["a"] * 30)), "npz", "y holds non-numeric values"),
    (npz_bytes(X=X0[:, 0], y=Y0), "npz", "X must be a 2-D table"),
    (npz_bytes(X=X0, y=np.ones((30, 2))), "npz", "one label per row"),
    (npz_bytes(X=X0, y=Y0[:29]), "npz", "X has 30 rows but y has 29 labels"),
]


@pytest.mark.parametrize("raw,kind,needle", PROBLEMS, ids=[needle for _, _, needle in PROBLEMS])
def test_each_problem_has_its_own_message(raw, kind, needle):
    with pytest.raises(DataError, match=re.escape(needle)):
        data.load(raw, kind=kind)


def test_a_missing_cell_is_located():
    text = csv_bytes(X0, Y0).decode().splitlines()
    cells = text[3].split(",")
    cells[1] = "NaN"
    text[3] = ",".join(cells)
    with pytest.raises(DataError, match="1 missing, NaN or infinite feature values .* row 3, column 'f1'"):
        data.load("\n".join(text).encode(), kind="csv")
    cells[1] = ""
    text[3] = ",".join(cells)
    with pytest.raises(DataError, match="row 3, column 'f1'"):
        data.load("\n".join(text).encode(), kind="csv")
    X = X0.copy()
    X[5, 2] = np.inf
    with pytest.raises(DataError, match="row 6, column 'x2'"):
        data.from_arrays(X, Y0)


@pytest.mark.parametrize("X,y,needle", [
    (np.zeros((5, 2)), np.arange(5) % 2, f"only 5 rows: at least {data.MIN_ROWS}"),
    (np.zeros((data.MAX_ROWS + 1, 1)), np.arange(data.MAX_ROWS + 1) % 2, f"at most {data.MAX_ROWS:,} are accepted"),
    (np.zeros((30, 0)), np.arange(30) % 2, "no feature columns"),
    (np.zeros((30, data.MAX_FEATURES + 1)), np.arange(30) % 2, f"at most {data.MAX_FEATURES:,} are accepted"),
    (np.zeros((40_000, 60)), np.arange(40_000) % 2, f"at most {data.MAX_CELLS:,} are accepted"),
    (X0, np.where(np.arange(30) % 2, 0.5, 1.0), "labels must be whole numbers"),
    (X0, np.zeros(30), "only 1 class (label 0): at least 2"),
    (np.zeros((data.MAX_CLASSES + 1, 1)).repeat(2, 0), np.arange(2 * data.MAX_CLASSES + 2) // 2,
     f"at most {data.MAX_CLASSES} classes"),
    (X0, np.r_[np.zeros(29), 1], "class 1 has only 1 row: every class needs at least 2"),
    (X0, np.r_[Y0[:29], np.nan], "1 missing, NaN or infinite labels (the first at row 30)"),
])
def test_limits_and_labels_are_checked(X, y, needle):
    with pytest.raises(DataError, match=re.escape(needle)):
        data.from_arrays(X, y)


def test_size_limits_come_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_BYTES", 100)
    (tmp_path / "big.csv").write_bytes(csv_bytes(X0, Y0))
    with pytest.raises(DataError, match="at most 0 MB are accepted"):
        data.load(tmp_path / "big.csv")
    with pytest.raises(DataError, match="at most 0 MB"):
        data.load(csv_bytes(X0, Y0), kind="csv")


def test_an_npz_that_unpacks_too_large_is_refused_before_loading(monkeypatch):
    monkeypatch.setattr(data, "MAX_CELLS", 10)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((100_000, 1)), y=np.zeros(100_000))
    with pytest.raises(DataError, match="array X unpacks to"):
        data.load(buffer.getvalue(), kind="npz")


def test_unsupported_file_types_are_named(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported file type '.pkl'"):
        data.load(tmp_path / "model.pkl")
    with pytest.raises(DataError, match="no such file"):
        data.load(tmp_path / "absent.csv")


def test_bytes_without_a_name_are_sniffed():
    assert data.kind_of("upload", npz_bytes(X=X0, y=Y0)) == "npz"
    assert data.kind_of("upload", csv_bytes(X0, Y0)) == "csv"
    assert zipfile.is_zipfile(io.BytesIO(npz_bytes(X=X0, y=Y0)))


# -- registry and the data parameter ----------------------------------------------------------

class Toy(LabParams):
    width = param.Integer(4, bounds=(1, 8), doc="units")
    data = data.data_parameter(doc="what it learns")
    BUILTIN_DATA = "digits"
    QUICK = {"width": 2}


def test_register_lookup_and_the_parameter():
    ds = data.from_arrays(X0, Y0, name="mine")
    key = data.register(ds)
    assert data.lookup(key) is ds and data.use(key) == key
    p = Toy(data=key)
    assert p.values()["data"] == key and data.resolve(p) is ds
    assert data.resolve(Toy()).name.startswith("scikit-learn digits")
    assert coerce(Toy, "data", key) == key
    assert "sha256" in describe_range(Toy.param["data"])
    assert Toy.param["data"].precedence < 0  # its own control, not a text box among the sliders
    entry = data.sidecar_entry(p)
    assert entry == {"source": "user", "key": key, "sha256": ds.sha256, "name": "mine", "rows": 30,
                     "features": 3, "classes": 2}
    assert data.sidecar_entry(Toy())["source"] == "builtin"
    assert data.use((X0, Y0)) == key  # the same numbers from arrays: the same key


@pytest.mark.parametrize("text,needle", [
    ("mine.csv", "is not valid: expected builtin"),
    ("sha256:" + "0" * 16, "is not loaded in this process"),
])
def test_unknown_data_values_are_refused_clearly(text, needle):
    with pytest.raises(ParamError, match=needle):
        coerce(Toy, "data", text)
    with pytest.raises(ParamError, match=needle):
        apply_strings(Toy(), {"data": text})
    with pytest.raises(DataError, match=needle):
        Toy(data=text)


def test_the_registry_forgets_the_least_recently_used_beyond_its_bytes(monkeypatch):
    monkeypatch.setattr(data, "REGISTRY_BYTES", 2 * (X0.nbytes + Y0.nbytes))
    keys = [data.register(data.from_arrays(X0 + i, Y0)) for i in range(3)]
    with pytest.raises(DataError, match="not loaded"):
        data.lookup(keys[0])
    assert data.lookup(keys[2]).key == keys[2]


def test_datasets_are_read_only():
    ds = data.from_arrays(X0, Y0)
    with pytest.raises(ValueError):
        ds.X[0, 0] = 1.0

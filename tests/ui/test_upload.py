"""The data upload control (ui.upload), without a browser: good and bad files, the built-in
button, and a lab app that reruns on the user's data."""

import io

import numpy as np
import pytest

from paperscope.core import data
from paperscope.labs import neural_collapse, rich_lazy, selu
from paperscope.ui.upload import DataUpload, data_upload

pytest.importorskip("panel")


def good_csv(n: int = 40, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] > 0).astype(int)
    rows = ["a,b,c,d,y", *(",".join([*(f"{v:.5f}" for v in x), str(label)]) for x, label in zip(X, y))]
    return ("\n".join(rows) + "\n").encode()


def test_a_good_csv_is_used_and_described():
    params = selu.Params.preset("quick")
    upload = DataUpload(params)
    assert upload.builtin.disabled and "built-in data: scikit-learn digits" in upload.message.object
    assert upload.upload(good_csv(), "mine.csv")
    dataset = data.lookup(params.data)
    assert params.data == dataset.key and (dataset.n, dataset.d, dataset.k) == (40, 4, 2)
    assert upload.message.alert_type == "info" and not upload.builtin.disabled
    assert upload.message.object == f"Using mine.csv: 40 rows, 4 features, 2 classes, hash {dataset.key}."
    upload.use_builtin()
    assert params.data == data.BUILTIN and upload.builtin.disabled


def test_a_good_npz_arrives_through_the_widget_and_is_not_kept_there():
    params = neural_collapse.Params.preset("quick", mode="digits")
    upload = DataUpload(params)
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    np.savez(buffer, X=rng.normal(size=(30, 2)), y=np.arange(30) % 3)
    upload.file.param.update(filename="mine.npz", value=buffer.getvalue())  # what the browser sends
    assert data.lookup(params.data).k == 3 and upload.file.value is None


@pytest.mark.parametrize("raw,name,needle", [
    (b"a,b,y\n1,2,0\n3,oops,1\n", "bad.csv", "non-numeric value 'oops' at row 2, column 'b'"),
    (good_csv(n=10), "small.csv", "only 10 rows: at least 20"),
    (b"\x80\x04K\x01.", "model.pkl", "unsupported file type '.pkl'"),
], ids=["non-numeric", "too-few-rows", "pickle"])
def test_a_bad_file_is_refused_with_its_message_and_the_data_kept(raw, name, needle):
    params = selu.Params.preset("quick")
    upload = DataUpload(params)
    assert not upload.upload(raw, name)
    assert params.data == data.BUILTIN
    assert upload.message.alert_type == "danger" and needle in upload.message.object
    assert upload.message.object.startswith(f"{name} not used:")


def test_labs_without_data_get_no_control():
    assert data_upload(rich_lazy.Params.preset("quick")) is None
    assert isinstance(data_upload(selu.Params.preset("quick")), DataUpload)


def test_the_app_reruns_on_an_uploaded_file_and_not_on_a_bad_one():
    from paperscope.ui.app import LabApp

    seen = []

    def run(params):  # what the app would compute with: the parameters it was given
        seen.append(params.data)
        yield from ()

    app = LabApp("selu", autostart=False, run=run)
    try:
        assert "data" not in app.widgets  # the upload is its control, not a text box
        upload = DataUpload(app.params)
        first = app.runner.generation
        assert not upload.upload(b"x,y\n1,0\n", "bad.csv")
        assert app.runner.generation == first  # nothing to rerun
        assert upload.upload(good_csv(), "good.csv")
        assert app.runner.generation == first + 1
        app.runner.wait(timeout=30)
        assert seen[-1] == app.params.data == data.lookup(app.params.data).key
        upload.use_builtin()
        assert app.runner.generation == first + 2
        app.runner.wait(timeout=30)
        assert seen[-1] == data.BUILTIN
    finally:
        app.close()

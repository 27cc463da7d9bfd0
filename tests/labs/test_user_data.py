"""The labs that learn from a data set, run at quick size on a tiny user data set: what each does
with it, the sidecar's record of it, and ``paperscope run --data``."""

import json

import numpy as np
import pytest

from paperscope.cli import main
from paperscope.core import data
from paperscope.core.errors import DataError
from paperscope.core.export import provenance
from paperscope.core.registry import get_lab
from paperscope.core.runner import run_to_end


def blobs(n: int = 90, d: int = 5, k: int = 3, seed: int = 0, scale: float = 50.0) -> data.Dataset:
    """k well-separated Gaussian blobs in d dimensions, on a scale far from the digits' (the
    labs must standardize), labels 10, 20, 30 ... (the labs see class ids)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 4
    X = (centres[y] + rng.normal(size=(n, d))) * scale
    return data.from_arrays(X, 10 * (y + 1), name="blobs")


def test_selu_trains_on_the_users_data():
    from paperscope.labs import selu

    dataset = blobs()
    params = selu.Params.preset("quick", data=data.register(dataset), device="cpu", epochs=10)
    *_, last = selu.run(params)
    assert "training on blobs: 90 rows, 5 features, 3 classes" in last.notice
    # well separated blobs: every activation but a diverged one learns them (chance is 1/3)
    accuracies = [m["test_accuracy"] for m in last.metrics["by_activation"].values()]
    assert max(accuracies) >= 0.9 and last.metrics["test_accuracy"] >= 0.8
    trainer = selu.Trainer(activations=("selu",), depth=2, width=8, lr=0.01, batch_size=8, dataset=dataset)
    assert trainer.W["selu"][0].shape == (1, 5, 8) and trainer.W["selu"][-1].shape == (1, 8, 3)
    assert trainer.Xtr.shape[1] + trainer.Xte.shape[1] == 90
    # the training split is standardized with its own statistics
    np.testing.assert_allclose(trainer.Xtr[0].double().mean(0).numpy(), 0, atol=1e-5)


def test_selu_notes_data_it_does_not_use():
    from paperscope.labs import selu

    params = selu.Params.preset("quick", data=data.register(blobs()), device="cpu", epochs=0)
    *_, last = selu.run(params)
    assert "epochs = 0: blobs is not used" in last.notice


def test_neural_collapse_digits_mode_learns_the_users_data():
    from paperscope.labs import neural_collapse as nc

    key = data.register(blobs())
    params = nc.Params.preset("quick", mode="digits", data=key, device="cpu", epochs=100)
    *_, last = nc.run(params)
    assert "learning blobs: 90 rows, 5 features, 3 classes" in last.notice and key in last.label
    assert last.metrics["train_accuracy"] >= 0.95
    assert len(last.metrics["nc1_by_layer"]) == params.depth
    # the depthwise decrease the paper reads as NC1(H*) < NC1(X)
    assert last.metrics["nc1_ratio"] < 1
    assert set(np.unique(last.labels)) == {0, 1, 2}


def test_neural_collapse_says_when_the_mode_ignores_the_data():
    from paperscope.labs import neural_collapse as nc

    params = nc.Params.preset("quick", mode="closed_form", data=data.register(blobs()), device="cpu")
    *_, last = nc.run(params)
    assert "data is used in digits mode only" in last.notice


def test_the_sidecar_records_the_datas_hash():
    lab = get_lab("selu")
    dataset = blobs(seed=3)
    params = lab.Params.preset("quick", data=data.register(dataset), device="cpu", epochs=1, depth=4)
    record = provenance(lab, params, run_to_end(lab.run, params))
    assert record["data"] == {"source": "user", **dataset.summary()}
    assert record["params"]["data"] == dataset.key
    builtin = provenance(lab, lab.Params.preset("quick", device="cpu", epochs=0, depth=4),
                         run_to_end(lab.run, lab.Params.preset("quick", device="cpu", epochs=0, depth=4)))
    assert builtin["data"]["source"] == "builtin" and builtin["data"]["sha256"] == data.digits().sha256


def test_a_run_with_data_that_is_not_loaded_is_refused():
    lab = get_lab("selu")
    params = lab.Params.preset("quick", device="cpu")
    params.param.update(data=data.register(blobs(seed=4)))
    data._REGISTRY.pop(params.data)  # as if the registry had let it go
    with pytest.raises(DataError, match="not loaded in this process"):
        run_to_end(lab.run, params)


def test_cli_run_with_data(tmp_path, capsys):
    dataset = blobs(seed=5)
    np.savez(tmp_path / "mine.npz", X=dataset.X, y=dataset.y)
    out = tmp_path / "out.json"
    assert main(["run", "selu", "--quick", "--no-progress", "--set", "epochs=1", "--set", "depth=4",
                 "--set", "device=cpu", "--data", str(tmp_path / "mine.npz"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["params"]["data"] == dataset.key
    (tmp_path / "bad.csv").write_text("a,y\n1,0\n")
    assert main(["run", "selu", "--quick", "--data", str(tmp_path / "bad.csv")]) == 2
    assert "only 1 row: at least 20 are needed" in capsys.readouterr().err
    assert main(["run", "rich-lazy", "--quick", "--data", str(tmp_path / "mine.npz")]) == 2
    assert "rich-lazy does not learn from a data set: --data is for" in capsys.readouterr().err


def test_the_python_api_takes_data(tmp_path):
    from paperscope.core.errors import ParamError
    from paperscope.ui import notebook as nb

    dataset = blobs(seed=6)
    assert nb.params("selu", data=(dataset.X, dataset.y)).data == dataset.key
    np.savez(tmp_path / "mine.npz", X=dataset.X, y=dataset.y)
    assert nb.params("neural-collapse", data=tmp_path / "mine.npz", mode="digits").data == dataset.key
    assert nb.params("selu", data="builtin").data == data.BUILTIN
    with pytest.raises(ParamError, match="rich-lazy does not learn from a data set"):
        nb.params("rich-lazy", data=tmp_path / "mine.npz")
    with pytest.raises(DataError, match="not a data source"):
        nb.params("selu", data=42)

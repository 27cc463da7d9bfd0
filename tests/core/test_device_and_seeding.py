import pytest
import torch

from paperscope.core import device as core_device
from paperscope.core.device import (
    apply_thread_policy,
    check_fits,
    memory_limit,
    resolve_device,
    resolve_device_for,
    worker_threads,
)
from paperscope.core.errors import ParamError
from paperscope.core.seeding import numpy_generator, torch_generator


def test_auto_device_and_override(monkeypatch):
    monkeypatch.delenv("PAPERSCOPE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected
    monkeypatch.setenv("PAPERSCOPE_DEVICE", "cpu")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ParamError, match="no CUDA"):
        resolve_device("cuda")


def test_thread_policy(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PAPERSCOPE_THREADS", "1")
        assert worker_threads() == 1 and apply_thread_policy() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("PAPERSCOPE_THREADS", "many")
        with pytest.raises(ParamError):
            worker_threads()
    finally:
        torch.set_num_threads(before)


def test_generators_are_seeded_streams():
    a = torch.randn(4, generator=torch_generator(1, stream=0))
    assert torch.equal(a, torch.randn(4, generator=torch_generator(1, stream=0)))
    assert not torch.equal(a, torch.randn(4, generator=torch_generator(1, stream=1)))
    assert not torch.equal(a, torch.randn(4, generator=torch_generator(2, stream=0)))
    assert numpy_generator(5).random() == numpy_generator(5).random()


@pytest.fixture
def mps_without_float64(monkeypatch):
    """Pretend ``auto`` resolves to an MPS device that, like Apple's, has no float64."""
    monkeypatch.setattr(core_device, "resolve_device", lambda choice="auto": torch.device("mps"))
    monkeypatch.setattr(core_device, "supports_dtype",
                        lambda device_type, dtype: device_type == "cpu" or dtype != torch.float64)


def test_a_device_without_the_dtype_falls_back_to_the_cpu_with_a_notice(mps_without_float64):
    assert resolve_device_for("auto", torch.float32) == (torch.device("mps"), "")
    device, notice = resolve_device_for("auto", torch.float64)
    assert device.type == "cpu" and notice == "MPS has no float64: computed on the CPU"


def test_the_cpu_holds_every_dtype():
    assert resolve_device_for("cpu", torch.float64) == (torch.device("cpu"), "")
    assert core_device.supports_dtype("cpu", torch.float64)


@pytest.mark.parametrize("slug", ["bandlimited", "vr_halpern"])
def test_float64_labs_run_on_the_cpu_and_say_so(mps_without_float64, slug):
    import importlib

    lab = importlib.import_module(f"paperscope.labs.{slug}")
    first = next(lab.run(lab.Params.preset("quick", device="auto")))
    assert "MPS has no float64" in first.notice


def test_check_fits_refuses_with_size_place_and_hint():
    check_fits(2**20, "cpu", "a small matrix", "lower n")  # fits: no error
    with pytest.raises(ParamError) as refused:
        check_fits(3 * 2**30, "cpu", "one repetition at n=9, d=9", "lower n or d")
    assert str(refused.value) == ("one repetition at n=9, d=9 needs ~3.0 GB on cpu (limit 2.0 GB): "
                                  "lower n or d")
    with pytest.raises(ParamError, match=r"needs ~3 MB on cpu \(limit 1 MB\): lower k"):
        check_fits(3 * 2**20, torch.device("cpu"), "x", "lower k", limit=2**20)


def test_memory_limit_per_device():
    assert memory_limit(torch.device("cpu")) == core_device.CPU_LIMIT_BYTES
    assert memory_limit(torch.device("mps")) == core_device.ACCEL_LIMIT_BYTES
    if torch.cuda.is_available():
        assert 0 < memory_limit(torch.device("cuda")) <= core_device.ACCEL_LIMIT_BYTES

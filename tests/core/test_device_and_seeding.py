import pytest
import torch

from paperscope.core.device import apply_thread_policy, resolve_device, worker_threads
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

"""Cleanup is the framework's: closing a lab's ``run`` generator (what the runner does on cancel,
finish and session close) frees every tensor the run made, at once, without the garbage
collector. Labs therefore need no try/finally of their own: a closed generator drops its frame's
locals, and this test fails if a lab keeps a tensor elsewhere (a module cache, a reference cycle
that only the collector would break)."""

import collections
import gc
import importlib
import itertools
import weakref

import pytest
import torch

# smooth_diffusion keeps trained models in a memo on purpose (evaluation-only sliders reuse
# them); its cleanup is tested with that memo.
LABS = ["bandlimited", "dpp_least_squares", "nsdim", "pinn_sampling", "rich_lazy", "selu",
        "thresholdout", "vr_halpern"]


def _live_tensors() -> dict[int, torch.Tensor]:
    return {id(o): o for o in gc.get_objects() if issubclass(type(o), torch.Tensor)}


@pytest.mark.parametrize("name", LABS)
@pytest.mark.parametrize("frames", [2, 3])
def test_closing_a_run_frees_its_tensors_without_the_collector(name, frames):
    lab = importlib.import_module(f"paperscope.labs.{name}")
    params = lab.Params.preset("quick", device="cpu")
    gc.collect()
    before = set(_live_tensors())
    gc.disable()  # only reference counting may free them
    try:
        run = lab.run(params)
        # Frames are not kept: on the CPU their arrays may share memory with the run's tensors.
        collections.deque(itertools.islice(run, frames), maxlen=0)
        made = [weakref.ref(t) for i, t in _live_tensors().items() if i not in before]
        assert made, "the test saw no tensor of the run: it would prove nothing"
        run.close()
        left = [r() for r in made if r() is not None]
        assert not left, f"{len(left)} of the run's {len(made)} tensors outlive its close, e.g. {left[0].shape}"
    finally:
        gc.enable()


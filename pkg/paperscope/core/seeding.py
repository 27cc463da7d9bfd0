"""All randomness flows from ``params.seed`` through explicit generators, never global state."""

import numpy as np
import torch


def torch_generator(seed: int, device: torch.device | str = "cpu", stream: int = 0) -> torch.Generator:
    """A torch generator on ``device`` for one independent ``stream`` of a seed."""
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, stream]).generate_state(1)[0]))
    return g


def numpy_generator(seed: int, stream: int = 0) -> np.random.Generator:
    """A numpy generator for one independent ``stream`` of a seed."""
    return np.random.default_rng([seed, stream])

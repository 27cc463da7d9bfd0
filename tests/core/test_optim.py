"""The hand-written optimisers give torch.optim's updates."""

import torch

from paperscope.core.optim import Adam, MomentumSGD

F64 = torch.float64


def test_momentum_sgd_matches_torch_optim():
    g = torch.Generator().manual_seed(4)
    target = torch.randn(6, 6, generator=g, dtype=F64)
    a = torch.zeros(6, 6, dtype=F64, requires_grad=True)
    b = torch.zeros(6, 6, dtype=F64, requires_grad=True)
    ours, ref = MomentumSGD([a], lr=0.05, momentum=0.9), torch.optim.SGD([b], lr=0.05, momentum=0.9)
    for _ in range(20):
        for p, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            ((p @ p - target) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_adam_matches_torch_optim():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(6, 3, generator=g, dtype=F64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours, ref = Adam([a], lr=1e-2), torch.optim.Adam([b], lr=1e-2)
    for _ in range(20):
        for p, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            (p.sin() ** 2).sum().backward()
            opt.step()
    assert torch.allclose(a, b, rtol=0, atol=1e-12)

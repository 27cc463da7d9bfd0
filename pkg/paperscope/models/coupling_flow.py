"""A bounded coupling flow on the hypercube [-1, 1]^d: exact density and exact sampling.

The normalizing-flow adversary of the PINN-sampling lab (the paper uses KRnet, a bounded flow of
the same family). Each coupling layer splits the coordinates into a conditioning part ``x_A`` and
a transformed part ``x_B``; every transformed coordinate goes through a piecewise-linear CDF
(Müller et al., "Neural importance sampling", 2019):

* the coordinate's interval is cut into K equal bins of width ``h = 2/K``;
* ``q = softmax(NN(x_A))`` gives each bin's probability mass (K per transformed coordinate);
* ``z = -1 + 2 (Σ_{k<b} q_k + (x - x_b)/h · q_b)`` for ``x`` in bin b, so ``dz/dx = K q_b / 1``
  (a conditional histogram density in ``x_B``, smooth in ``x_A``).

Composing layers gives ``p(x) = 2^{-d} Π_layers Π_B K q_b`` w.r.t. Lebesgue measure on
[-1, 1]^d (the base is uniform), and sampling runs the layers backwards with their exact
inverses (a bin search on the cumulative masses). The last layer of each conditioner starts at
zero, so a new flow is exactly uniform.
"""

import math

import torch
from torch import nn


class CouplingLayer(nn.Module):
    """One piecewise-linear coupling: ``x_B`` through a histogram CDF conditioned on ``x_A``."""

    def __init__(self, mask: torch.Tensor, bins: int, width: int, gen: torch.Generator,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.register_buffer("mask", mask)  # (d,) bool, True = transformed
        self.bins = bins
        n_a, n_b = int((~mask).sum()), int(mask.sum())
        sizes = [max(1, n_a), width, width, n_b * bins]
        self.layers = nn.ModuleList()
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(fan_in, fan_out, dtype=dtype, device=device)
            with torch.no_grad():
                scale = 0.0 if k == len(sizes) - 2 else (1.0 / fan_in) ** 0.5  # zero last: uniform
                lin.weight.copy_(torch.randn(fan_out, fan_in, generator=gen, dtype=dtype, device=device) * scale)
                lin.bias.zero_()
            self.layers.append(lin)

    def masses(self, x_a: torch.Tensor) -> torch.Tensor:
        """Bin masses ``q`` ``(n, n_B, K)`` of each transformed coordinate, given ``x_A`` ``(n, n_A)``."""
        h = x_a if x_a.shape[1] else torch.zeros(x_a.shape[0], 1, dtype=x_a.dtype, device=x_a.device)
        for lin in self.layers[:-1]:
            h = torch.tanh(lin(h))
        logits = self.layers[-1](h)
        return torch.softmax(logits.view(x_a.shape[0], -1, self.bins), -1)

    def forward(self, x: torch.Tensor):
        """Normalizing direction: ``(z, log|dz/dx|)`` for points ``x`` ``(n, d)``."""
        q = self.masses(x[:, ~self.mask])
        t = (x[:, self.mask] + 1) / 2 * self.bins  # (n, n_B) position in bin units
        b = t.detach().floor().clamp(0, self.bins - 1).long()
        cdf = torch.cumsum(q, -1) - q  # mass below each bin
        q_b = q.gather(-1, b.unsqueeze(-1)).squeeze(-1)
        u = cdf.gather(-1, b.unsqueeze(-1)).squeeze(-1) + (t - b) * q_b
        z = x.clone()
        z[:, self.mask] = 2 * u - 1
        return z, torch.log(q_b * self.bins).sum(-1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Sampling direction: the exact inverse of :meth:`forward` (``x_A = z_A`` is known)."""
        q = self.masses(z[:, ~self.mask])
        u = (z[:, self.mask] + 1) / 2  # (n, n_B) in [0, 1]
        upper = torch.cumsum(q, -1)
        b = torch.searchsorted(upper.contiguous(), u.unsqueeze(-1).contiguous()).squeeze(-1)
        b = b.clamp(0, self.bins - 1)
        below = (upper - q).gather(-1, b.unsqueeze(-1)).squeeze(-1)
        q_b = q.gather(-1, b.unsqueeze(-1)).squeeze(-1)
        t = b + ((u - below) / q_b.clamp_min(1e-12)).clamp(0, 1)
        x = z.clone()
        x[:, self.mask] = t / self.bins * 2 - 1
        return x


def masks(d: int, layers: int) -> list[torch.Tensor]:
    """Alternating coordinate masks: in 2-D x1 | x2 | x1 | ...; beyond, odd | even halves."""
    idx = torch.arange(d)
    return [(idx % 2 == (k % 2)) for k in range(layers)]


class CouplingFlow(nn.Module):
    """A stack of piecewise-linear coupling layers on [-1, 1]^d (exactly uniform at start)."""

    def __init__(self, d: int, gen: torch.Generator, layers: int = 4, bins: int = 32, width: int = 32,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.d = d
        self.couplings = nn.ModuleList(
            CouplingLayer(m.to(device), bins, width, gen, dtype, device) for m in masks(d, layers))

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` ``(n,)`` w.r.t. Lebesgue measure on [-1, 1]^d."""
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for layer in self.couplings:
            x, ld = layer(x)
            logdet = logdet + ld
        return logdet - self.d * math.log(2.0)

    def density(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_density(x).exp()

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """``n`` exact samples ``(n, d)``: uniform base points through the inverse layers."""
        z = torch.rand(n, self.d, generator=gen, dtype=dtype, device=device) * 2 - 1
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return z

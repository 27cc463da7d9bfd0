"""Optimisers written out for the labs' small models; they give ``torch.optim``'s updates (tests
compare them).

They stay because they are faster per step, not only because building a ``torch.optim``
optimiser first imports ``torch._dynamo`` (~1 s, which could be paid once at start-up).
``torch.optim``'s step carries fixed Python work (parameter groups, per-tensor state, step
counters kept as tensors, a loop over tensors on the CPU) that small models feel. Measured with
``benchmarks/optim.py`` (``paperscope bench optim``), torch 2.13 on one CPU thread of a loaded
2-core machine, rates as core.optim / torch.optim:

- the update alone (``zero_grad`` + ``step``) on each lab's trainable tensors at default size:
  rich-lazy SGD, 30k weights (linear net) 2.70x, 32k (rnn) 1.75x; pinn-sampling Adam, 8.6k
  weights 2.52x; smooth-diffusion Adam, 107k weights (a pair of MLPs) 1.61x;
- whole training steps at quick size, only the optimiser swapped: rich-lazy (linear net)
  1.31x-1.42x, pinn-sampling 1.18x-1.22x (three runs each).

Not measured on a GPU (where torch.optim defaults to its own multi-tensor path); rerun the
benchmark before switching there.
"""

import torch


class MomentumSGD:
    """SGD with heavy-ball momentum, the update of ``torch.optim.SGD(momentum=mu)``.

    ``b <- mu b + grad`` (``b = grad`` on the first step), ``p <- p - lr b``.
    """

    def __init__(self, params: list[torch.Tensor], lr: float, momentum: float):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            b = self.buffers[i]
            self.buffers[i] = b = p.grad.clone() if b is None else b.mul_(self.momentum).add_(p.grad)
            p.sub_(b, alpha=self.lr)

    def release(self) -> None:
        self.params, self.buffers = [], []


class Adam:
    """Adam, the update of ``torch.optim.Adam``."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps = list(params), lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        grads = [p.grad for p in self.params]
        # Multi-tensor ops: one call per update for all tensors (the small net is op-bound).
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.b2)
        denom = torch._foreach_div(self.v, c2)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, value=-self.lr / c1)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

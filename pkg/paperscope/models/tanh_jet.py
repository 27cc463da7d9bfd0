"""Value, gradient and Laplacian of a tanh MLP in one forward pass, with a hand-written backward.

For ``N(x) = W_L tanh(... tanh(W_0 x + b_0) ...) + b_L`` the jet ``(h, ∇h, Δh)`` of every layer
follows from the previous one by the chain rule (the "forward Laplacian"):

    z = W h + b,   ∇z = ∇h Wᵀ,   Δz = Δh Wᵀ
    h' = tanh z,   t = 1 - h'²,   ∇h' = t ∇z,   Δh' = t (Δz - 2 h' |∇z|²)

(tanh' = t, tanh'' = -2 h' t). The first layer needs no jet input: ∇z = W_0ᵀ for every point and
|∇z|² is ``W_0``'s column norms.

Why a hand-written backward: on a CPU the step is bound by elementwise multiplies on
``(n, d, w)`` tensors, not by the matmuls (those already run near the core's peak). Autograd
records each multiply of the forward pass and replays two per multiply backwards, with a
temporary for each; the backward below is the same chain rule written once per layer, reusing
the forward's intermediates (``t``, ``∇z``, ``Δz - 2h'|∇z|²``) and fusing multiply-adds, so about
half the elementwise passes. ``benchmarks/pinn_sampling.py`` measures it against nested autograd;
``tests/labs/test_pinn_sampling_compute.py`` checks value, Laplacian and every parameter gradient
against nested autograd in float64.

The input ``x`` is a constant here (collocation points): no gradient flows to it, and the
backward is not itself differentiable (no Hessian-vector products through it).
"""

import torch
from torch.autograd.function import once_differentiable


def _dot0(A, B):
    """``(A * B).sum(0)`` for ``(d, n, w)`` tensors (``B`` may be ``(d, 1, w)``) without the
    ``(d, n, w)`` temporary: d multiply-adds on one ``(n, w)`` block (twice as fast on a CPU)."""
    out = A[0] * B[0]
    for a, b in zip(A[1:], B[1:]):
        out.addcmul_(a, b)
    return out


def _first_layer(x, W, b):
    z = torch.addmm(b, x, W.T)
    h = torch.tanh(z)
    t = torch.addcmul(torch.ones_like(h), h, h, value=-1.0)  # 1 - h²
    c = (W * W).sum(1)  # |∇z_j|² = Σ_i W_ji², the same for every point
    J = W.T.contiguous().unsqueeze(1) * t  # (d, n, w): ∂h/∂x_i = t W_0[:, i]
    ht = h * t
    L = ht * (-2.0 * c)  # Δh = tanh''(z) |∇z|²
    return h, t, ht, c, J, L


def _hidden_layer(h, J, L, W, b):
    d, n, w = J.shape
    z = torch.addmm(b, h, W.T)
    Jz = (J.view(d * n, w) @ W.T).view(d, n, -1)
    Lz = L @ W.T
    h2 = torch.tanh(z)
    t = torch.addcmul(torch.ones_like(h2), h2, h2, value=-1.0)
    q = _dot0(Jz, Jz)  # |∇z|²
    P = torch.addcmul(Lz, h2, q, value=-2.0)  # Δz - 2 h' |∇z|²
    return h2, t, q, Jz, P, P * t, Jz * t


class TanhJet(torch.autograd.Function):
    """``TanhJet.apply(x, W_0, b_0, ..., W_L, b_L) -> (N (n,), ∇N (n, d), ΔN (n,))``.

    Inside, gradients are stored ``(d, n, w)``: one contiguous ``(n, w)`` block per coordinate,
    so the per-point factors broadcast over the leading axis (CPU kernels broadcast an
    ``(n, 1, w)`` factor over the middle axis of ``(n, d, w)`` about ten times slower)."""

    @staticmethod
    def forward(ctx, x, *wb):
        Ws, bs = wb[0::2], wb[1::2]
        h, t, ht, c, J, L = _first_layer(x, Ws[0], bs[0])
        saved = [x, h, t, ht, c]
        for W, b in zip(Ws[1:-1], bs[1:-1]):
            h_in, J_in, L_in = h, J, L
            h, t, q, Jz, P, L, J = _hidden_layer(h_in, J_in, L_in, W, b)
            saved += [h_in, J_in, L_in, h, t, q, Jz, P]
        W, b = Ws[-1], bs[-1]
        d, n, w = J.shape
        out = (torch.addmm(b, h, W.T).squeeze(-1), (J.view(d * n, w) @ W.T).view(d, n).T,
               (L @ W.T).squeeze(-1))
        saved += [h, J, L]
        ctx.save_for_backward(*saved, *wb)
        ctx.n_hidden = len(Ws) - 2
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gN, gJN, gLN):
        saved = ctx.saved_tensors
        n_hidden = ctx.n_hidden
        n_act = 5 + 8 * n_hidden + 3
        acts, wb = saved[:n_act], saved[n_act:]
        Ws = wb[0::2]
        grads = [None] * len(wb)

        # Output layer: N = h Wᵀ + b, ∇N = ∇h Wᵀ, ΔN = Δh Wᵀ.
        h, J, L = acts[-3:]
        d, n, w = J.shape
        W = Ws[-1]
        gN = h.new_zeros(n) if gN is None else gN
        gJN = h.new_zeros(d, n) if gJN is None else gJN.T.contiguous()  # (d, n)
        gLN = h.new_zeros(n) if gLN is None else gLN
        gW = (gN @ h + gJN.view(1, d * n) @ J.view(d * n, w) + gLN @ L).view_as(W)
        grads[-2], grads[-1] = gW, gN.sum().view(1)
        g_h, g_J, g_L = torch.outer(gN, W[0]), gJN.unsqueeze(-1) * W[0], torch.outer(gLN, W[0])

        # Hidden layers, last to first.
        for k in range(n_hidden, 0, -1):
            h_in, J_in, L_in, h2, t, q, Jz, P = acts[5 + 8 * (k - 1): 5 + 8 * k]
            W = Ws[k]
            a = g_L * t  # ∂/∂Δz
            g_t = _dot0(g_J, Jz).addcmul_(g_L, P)
            # h' enters through Δh' = t Δz - 2 t h' q and through t = 1 - h'².
            g_z = torch.addcmul(g_h, a, q, value=-2.0).addcmul_(h2, g_t, value=-2.0).mul_(t)
            g_Jz = (g_J * t).addcmul_(Jz, h2 * a, value=-4.0)  # ∂q/∂∇z = 2∇z
            m = Jz.shape[-1]
            gW = torch.addmm(torch.addmm(g_z.T @ h_in, g_Jz.view(d * n, m).T, J_in.view(d * n, -1)),
                             a.T, L_in)
            grads[2 * k], grads[2 * k + 1] = gW, g_z.sum(0)
            g_h, g_J, g_L = g_z @ W, (g_Jz.view(d * n, m) @ W).view(d, n, -1), a @ W

        # First layer: h = tanh(W_0 x + b_0), ∇h = t W_0ᵀ, Δh = -2 h t c.
        x, h, t, ht, c = acts[:5]
        W0 = Ws[0]
        g_c = (ht * g_L).sum(0) * -2.0
        g_t = _dot0(g_J, W0.T.unsqueeze(1)).addcmul_(h * c, g_L, value=-2.0)
        g_z = torch.addcmul(g_h, t * c, g_L, value=-2.0).addcmul_(h, g_t, value=-2.0).mul_(t)
        gW0T = (g_J * t).sum(1)  # (d, w)
        gW0 = torch.addmm(gW0T.T, g_z.T, x) + 2.0 * W0 * g_c.unsqueeze(1)
        grads[0], grads[1] = gW0, g_z.sum(0)
        return (None, *grads)


def tanh_jet(x: torch.Tensor, weights, biases):
    """Value ``(n,)``, gradient ``(n, d)`` and Laplacian ``(n,)`` of the tanh MLP at ``x (n, d)``.

    ``weights[k]`` is ``(out, in)``, the last one ``(1, w)``; at least one hidden layer."""
    if x.requires_grad:
        raise ValueError("tanh_jet treats x as constant collocation points; detach it first")
    if len(weights) < 2:
        raise ValueError("tanh_jet needs at least one hidden layer")
    wb = [p for pair in zip(weights, biases) for p in pair]
    return TanhJet.apply(x, *wb)

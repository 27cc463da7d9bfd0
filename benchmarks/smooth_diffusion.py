"""Benchmarks of the Smooth Diffusion lab: what the regularizer's double backward costs, the
batched λ = 0 / λ pair against two models stepped in a Python loop, and the batched ISTD
evaluation against a per-pair loop.

``cases()`` returns ratios measured side by side in one run (absolute rates depend on the
machine). Nothing runs at import.
"""

import math

import torch

from paperscope.core.bench import Comparison, interleaved_rates
from paperscope.labs import smooth_diffusion as sd


def _trainer(lambdas, device, hidden=256, batch=256, seed=0):
    X = torch.as_tensor(sd.to_model_scale(sd.digits_pixels()), dtype=torch.float32, device=device)
    net = sd.init_mlp(hidden, torch.Generator(device=device).manual_seed(seed), len(lambdas), device)
    return sd.Trainer(net, lambdas, X=X, sched=sd.make_schedule(device=device), batch_size=batch, lr=1e-3,
                      steps=10**6, ema_decay=0.01, data_gen=torch.Generator(device=device).manual_seed(1),
                      proj_gen=torch.Generator(device=device).manual_seed(2), monitor_every=10**9)


def _steps(trainers, n, sync):
    def work() -> int:
        for _ in range(n):
            for tr in trainers:
                tr.train_steps(1)
        sync()
        return n
    return work


def _label(device: str) -> str:
    return "cpu (1 thread)" if device == "cpu" else device


def _svr_cost(device: str, n: int, sync) -> Comparison:
    plain, reg = _trainer([0.0], device), _trainer([0.3], device)
    base, cand = interleaved_rates(_steps([reg], n, sync), _steps([plain], n, sync))
    return Comparison(
        topic="training step, H=256, B=256", baseline="with SVR (λ > 0)", candidate="without SVR (λ = 0)",
        unit="steps/s", baseline_rate=base, candidate_rate=cand, device=_label(device),
        note=("the ratio is what the regularizer costs: one vector-Jacobian product of x̂_0 w.r.t. ε with "
              "create_graph, then a backward pass through that graph (a double backward)"))


def _pair(device: str, n: int, sync) -> Comparison:
    loop = [_trainer([0.0], device), _trainer([0.3], device)]
    batched = _trainer([0.0, 0.3], device)
    base, cand = interleaved_rates(_steps(loop, n, sync), _steps([batched], n, sync))
    return Comparison(
        topic="λ = 0 and λ = 0.3 models, one step each", baseline="two models in a Python loop",
        candidate="one batched pair (bmm)", unit="pair steps/s", baseline_rate=base, candidate_rate=cand,
        device=_label(device),
        note=("the loop steps the λ = 0 model without the double backward; the batched pair runs it for both "
              "models (λ = 0 weights it by 0) in one set of batched matmuls. The lab uses the loop on CPU "
              "and the batched pair on other devices"))


def _istd(device: str, n_pairs: int, sync) -> Comparison:
    sched = sd.make_schedule(device=device)
    ev = sd.make_eval_set(n_pairs, 10, device)
    net = sd.EpsMLP.stack([_trainer([0.0], device).net.member(0), _trainer([0.0], device, seed=1).net.member(0)])
    taus = sd.ddim_timesteps(25)

    def batched() -> int:
        sd.interpolation_eval(net, ev, sched, n_pairs=n_pairs, ddim_steps=25, kind="slerp")["istd"].tolist()
        sync()
        return n_pairs

    def loop() -> int:
        values = []
        for k in range(net.K):
            member = net.member(k)
            for p in range(n_pairs):
                Z = sd.interpolate(ev.pairs[p:p + 1, 0], ev.pairs[p:p + 1, 1])  # (1, F, D)
                for j in range(sd.N_FRAMES):
                    x = sd.to_pixels(sd.ddim_sample(member, Z[:, j:j + 1], sched, taus))
                    values.append(x)
        sync()
        return n_pairs
    base, cand = interleaved_rates(loop, batched, repeats=2)
    return Comparison(
        topic=f"ISTD evaluation, 2 models x {n_pairs} pairs x 11 frames, 25 DDIM steps",
        baseline="one image at a time", candidate="all images of both models at once", unit="pairs/s",
        baseline_rate=base, candidate_rate=cand, device=_label(device),
        note="DDIM (η = 0) over every latent of every pair and model in one batch per sampler step")


def cases() -> list[Comparison]:
    """CPU (1 thread) rows, and the same on CUDA when there is a GPU."""
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        rows += [_svr_cost("cpu", 15, lambda: None), _pair("cpu", 10, lambda: None), _istd("cpu", 4, lambda: None)]
        if torch.cuda.is_available():
            sync = torch.cuda.synchronize
            rows += [_svr_cost("cuda", 100, sync), _pair("cuda", 100, sync), _istd("cuda", 16, sync)]
    finally:
        torch.set_num_threads(before)
    assert all(math.isfinite(r.ratio) for r in rows)
    return rows

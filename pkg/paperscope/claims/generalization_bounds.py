"""Claims of the impossibility lab (spec C1, C2, C3), at the spec's sizes.

C1 holds by construction once h fits S and generalizes: the gap is ½(1 − q)(1 − ε_off), with
1 − q ≈ 0.95 at N/m = 10. C2 runs the algorithm on the S each distribution gives and compares
every bound bit for bit. C3 compares the PAC-Bayes bound (on the Gibbs classifier Q) on clean
and on 50 % noisy labels, same seed and sizes.
"""

import numpy as np
import torch

from ..core.claims import Claim, Measurement
from ..labs import generalization_bounds as gb


def clean_and_noisy(seed: int, **sizes) -> dict:
    """Final metrics of one run on clean labels and one with label_noise = 0.5 (same seed)."""
    torch.set_num_threads(1)  # a small MLP: one thread beats a contended pool
    out = {}
    for name, rho in (("clean", 0.0), ("noisy", 0.5)):
        *_, last = gb.run(gb.Params(**sizes, label_noise=rho, seed=seed, device="cpu"))
        out[name] = last.metrics
    return out


def bounds_per_distribution(seed: int, **sizes) -> dict:
    """Every bound computed from the S that D1, D2 and D3 each give (A run three times): the
    number of (bound, distribution) values that differ in any bit from D1's."""
    torch.set_num_threads(1)
    params = gb.Params(**sizes, seed=seed, device="cpu")
    world = gb.make_world(params, torch.device("cpu"))
    w0 = gb.init_net(params.width, seed, "cpu")
    h_pool = None
    rows = []
    for D in gb.DISTRIBUTIONS:
        X_S, y_S = gb.training_set(world, D, h_pool)
        trainer = gb.Trainer(w0, X_S, y_S, params.lr)
        trainer.train_steps(params.steps)
        net = trainer.net.detached()
        if h_pool is None:  # D2 is the adversary of the h trained on D1's sample
            h_pool = gb.predict(net, world.X)
        b = gb.bounds_from(X_S, y_S, net, w0, params, gb.torch_generator(seed, "cpu", gb.STREAM_GIBBS))
        rows.append(np.concatenate([[b.train_error, b.vc, b.nbs, b.pac_bayes.bound], b.pac_bayes.per_sigma]))
    rows = np.stack(rows)
    differ = (rows[1:].view(np.int64) != rows[:1].view(np.int64)).sum()
    return {"differ": int(differ), "values": rows}


RUNS = Measurement(clean_and_noisy)
EQUAL = Measurement(bounds_per_distribution)
QUICK = {"width": 64, "steps": 200, "sigmas": 6, "draws": 4}

CLAIMS = [
    Claim("C1", "impossibility gap (L_D2 − L_D1)/2 at N/m = 10, clean labels",
          RUNS, lambda r: r["clean"]["impossibility_gap"], 0.35, ">=",
          quick={**QUICK, "pool_ratio": 10.0}, paper={"pool_ratio": 10.0}, seeds=5),
    Claim("C2", "bound values (train error, VC, NBS, PAC-Bayes per σ) that differ between D1, D2, D3",
          EQUAL, lambda r: r["differ"], 0, "<=",
          quick={"width": 32, "steps": 100, "m": 100, "sigmas": 4, "draws": 2}, paper={}, seeds=3),
    Claim("C3", "PAC-Bayes bound (Gibbs Q): label noise 0.5 minus clean",
          RUNS, lambda r: r["noisy"]["pac_bayes_bound"] - r["clean"]["pac_bayes_bound"], 0.0, ">",
          quick={**QUICK, "pool_ratio": 10.0}, paper={"pool_ratio": 10.0}, seeds=5),
]

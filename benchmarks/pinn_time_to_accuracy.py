"""Time to accuracy for the PINN-sampling lab: ``python benchmarks/pinn_time_to_accuracy.py``.

Runs the 2-D Poisson peak (κ = 200, the lab's defaults: 2-64-64-64-1 tanh, N = 1000, 500 Adam
steps per stage) with each sampler for up to ``--stages`` stages on one CPU thread, and prints
the wall time and Adam steps at which the relative L2 error first reached ``--target`` (0.1 by
default), or the best error if it never did. With ``--set-update add`` (the default) rad is
RAR-D and the fair uniform baseline is ``uniform-redraw`` (a uniform set grown alike); with
``replace`` rad is RAD and the baseline is the fixed ``uniform`` set of N points. No in-run
control is trained (``control=False``): each baseline is its own row. Stage ends are where errors are measured, so times
are those of the first stage end at or below the target. A standalone script: these are
absolute times of one machine, not ratios.
"""

import argparse
import time

import torch

from paperscope.labs import pinn_sampling as ps


def time_to(sampler: str, target: float, stages: int, seed: int, set_update: str = "add",
            **overrides) -> dict:
    params = ps.Params(sampler=sampler, set_update=set_update, stages=stages, seed=seed,
                       control=False, device="cpu", **overrides)
    label = ps.sampler_label(sampler, set_update)
    start = time.perf_counter()
    best = float("inf")
    frames = ps.run(params)
    try:
        seen = 0
        for frame in frames:
            if len(frame.rel_l2) > seen:  # a stage just ended
                seen = len(frame.rel_l2)
                best = min(best, float(frame.rel_l2[-1]))
                if frame.rel_l2[-1] <= target:
                    return {"sampler": label, "seconds": time.perf_counter() - start,
                            "steps": int(frame.step), "rel_l2": float(frame.rel_l2[-1])}
    finally:
        frames.close()
    return {"sampler": label, "seconds": None, "steps": None, "rel_l2": best,
            "total_seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--stages", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samplers", default="rad,aas,uniform-redraw,uniform")
    parser.add_argument("--set-update", default="add", choices=["add", "replace"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [time_to(s, args.target, args.stages, args.seed, args.set_update) for s in args.samplers.split(",")]
    print(f"time to relative L2 <= {args.target} (κ = 200, N = 1000, 500 steps/stage, up to "
          f"{args.stages} stages, seed {args.seed}, 1 CPU thread)")
    print(f"{'sampler':18s}  {'seconds':>8s}  {'Adam steps':>10s}  rel. L2")
    for r in rows:
        if r["seconds"] is None:
            print(f"{r['sampler']:18s}  {'never':>8s}  {'-':>10s}  best {r['rel_l2']:.3g} "
                  f"in {r['total_seconds']:.0f} s")
        else:
            print(f"{r['sampler']:18s}  {r['seconds']:8.1f}  {r['steps']:10d}  {r['rel_l2']:.3g}")


if __name__ == "__main__":
    main()

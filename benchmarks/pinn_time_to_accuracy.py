"""Time to accuracy for the PINN-sampling lab: ``python benchmarks/pinn_time_to_accuracy.py``.

Runs the 2-D Poisson peak (κ = 200, the lab's defaults: 2-64-64-64-1 tanh, N = 1000, its lr
schedule and stage length) with each sampler for up to ``--stages`` stages on one CPU thread,
and prints the wall time, the CPU time and the Adam steps at which the relative L2 error first
reached ``--target`` (0.1 by default), or the best error if it never did. ``rad`` and ``aas``
run both set updates: ``add`` (rad is then RAR-D; its fair uniform baseline is
``uniform-redraw``, a uniform set grown alike) and ``replace`` (rad is RAD; its baseline is the
fixed ``uniform`` set of N points). No in-run control is trained (``control=False``): each
baseline is its own row. Stage ends are where errors are measured, so the times are those of
the first stage end at or below the target.

``--set name=value`` changes a lab parameter for every row (e.g. ``--set lr=0.001 --set
steps_per_stage=500`` for an earlier schedule); ``--seeds 0,1,2`` repeats the table per seed.

``--deepxde`` adds the library a user would pick instead, if it is installed (it is imported
only then; the project does not depend on it): DeepXDE with its PyTorch backend, the same
network (2-64-64-64-1 tanh, Glorot normal), the same hard ansatz as an output transform, the
same residual scaled by S = 4κ, 1000 uniform points (fixed), Adam at lr 1e-3 (DeepXDE's usual
constant rate), evaluated on the lab's 256² grid every 500 steps until the target or
``--stages`` × 500 steps.

A standalone script: these are absolute times of one machine, not ratios; the CPU column is
the process's own time, steadier than the wall time on a shared machine.
"""

import argparse
import os
import time

import torch

from paperscope.labs import pinn_sampling as ps

# (sampler, set_update) rows in the table's order.
ROWS = (("rad", "add"), ("rad", "replace"), ("aas", "add"), ("aas", "replace"),
        ("uniform-redraw", "add"), ("uniform", "add"))


def _value(text: str):
    """A ``--set`` value as the parameter wants it: int, float, or the string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def time_to(sampler: str, target: float, stages: int, seed: int, set_update: str = "add",
            **overrides) -> dict:
    """Seconds, CPU seconds and Adam steps of one lab run to ``target`` (stage ends only)."""
    params = ps.Params(sampler=sampler, set_update=set_update, stages=stages, seed=seed,
                       control=False, device="cpu", **overrides)
    label = ps.sampler_label(sampler, set_update)
    start, cpu_start = time.perf_counter(), time.process_time()
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
                            "cpu": time.process_time() - cpu_start,
                            "steps": int(frame.step), "rel_l2": float(frame.rel_l2[-1])}
    finally:
        frames.close()
    return {"sampler": label, "seconds": None, "steps": None, "rel_l2": best,
            "total_seconds": time.perf_counter() - start}


def deepxde_time_to(target: float, stages: int, seed: int, steps_per_stage: int = 500,
                    n_points: int = 1000, kappa: float = 200.0) -> dict:
    """The same PINN in DeepXDE (PyTorch backend), Adam lr 1e-3, checked every
    ``steps_per_stage`` steps; imported here only (the project does not depend on it)."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde  # noqa: PLC0415 (optional, heavy: only when asked)

    dde.config.set_default_float("float32")
    dde.config.set_random_seed(seed)
    u_fn, s_fn = ps.exact_solution("peak", kappa)
    scale = ps.residual_scale("peak", kappa, 2)

    def pde(x, y):  # the lab's residual r/S = (-Δu - s)/S
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        return -lap / scale - s_fn(x).unsqueeze(-1) / scale

    geom = dde.geometry.Rectangle([-1, -1], [1, 1])
    data = dde.data.PDE(geom, pde, [], num_domain=n_points, num_boundary=0,
                        train_distribution="pseudo")  # uniform random points, fixed
    net = dde.nn.FNN([2, 64, 64, 64, 1], "tanh", "Glorot normal")
    net.apply_output_transform(lambda x, y: (1 - x[:, :1] ** 2) * (1 - x[:, 1:2] ** 2) * y)
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3, verbose=0)
    _, err_pts = ps._cell_grid(ps.G_ERR, 2, torch.float32, "cpu")
    u_err = u_fn(err_pts.double())
    start, cpu_start = time.perf_counter(), time.process_time()
    best = float("inf")
    for stage in range(stages):
        model.train(iterations=steps_per_stage, display_every=10 * steps_per_stage, verbose=0)
        pred = torch.as_tensor(model.predict(err_pts.numpy())).reshape(-1).double()
        err = float((pred - u_err).norm() / u_err.norm())
        best = min(best, err)
        if err <= target:
            return {"sampler": "DeepXDE (uniform fixed)", "seconds": time.perf_counter() - start,
                    "cpu": time.process_time() - cpu_start,
                    "steps": (stage + 1) * steps_per_stage, "rel_l2": err}
    return {"sampler": "DeepXDE (uniform fixed)", "seconds": None, "steps": None, "rel_l2": best,
            "total_seconds": time.perf_counter() - start}


def print_table(rows: list[dict], title: str) -> None:
    print(title)
    print(f"{'sampler':24s}  {'seconds':>8s}  {'cpu s':>7s}  {'Adam steps':>10s}  rel. L2")
    for r in rows:
        if r["seconds"] is None:
            print(f"{r['sampler']:24s}  {'never':>8s}  {'':>7s}  {'-':>10s}  best {r['rel_l2']:.3g} "
                  f"in {r['total_seconds']:.0f} s")
        else:
            print(f"{r['sampler']:24s}  {r['seconds']:8.1f}  {r['cpu']:7.1f}  {r['steps']:10d}  "
                  f"{r['rel_l2']:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--stages", type=int, default=16)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, one table each")
    parser.add_argument("--rows", default=",".join(f"{s}:{u}" for s, u in ROWS),
                        help="sampler:set_update pairs, comma-separated")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a lab parameter for every row (repeatable)")
    parser.add_argument("--deepxde", action="store_true", help="add a DeepXDE row (if installed)")
    args = parser.parse_args()
    overrides = {name: _value(value) for name, value in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(1)
    defaults = ps.Params(**overrides)
    for seed in (int(s) for s in args.seeds.split(",")):
        rows = [time_to(s, args.target, args.stages, seed, u, **overrides)
                for s, u in (pair.split(":") for pair in args.rows.split(",") if pair)]
        if args.deepxde:
            rows.append(deepxde_time_to(args.target, args.stages, seed))
        print_table(rows, (
            f"time to relative L2 <= {args.target} (κ = {defaults.kappa:g}, N = {defaults.n_points}, "
            f"lr {defaults.lr:g} {defaults.lr_schedule}, {defaults.steps_per_stage} steps/stage, up to "
            f"{args.stages} stages, seed {seed}, 1 CPU thread)"))


if __name__ == "__main__":
    main()

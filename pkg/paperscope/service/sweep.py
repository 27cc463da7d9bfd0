"""Sweeps: every configuration of a parameter grid, over several seeds, run on Dask distributed.

A *task* is one (configuration, seed). :func:`run_task` runs the lab headless on one torch
thread and returns one flat row of the tidy table: ``lab``, the swept and fixed parameters,
``seed``, ``preset``, the scalar metrics of the last frame (nested dicts flattened with dots,
lists such as ``history`` left out), ``device``, ``seconds``, ``status`` (``ok``/``error``),
``error`` (one line), ``key`` and ``code``. ``key`` hashes (lab, every parameter, seed, preset,
code version), so a re-run into the same folder skips the rows it already holds; a failed task
becomes a row with its error and never stops the others.

Dask is imported only when tasks run (``import paperscope`` and the other commands stay light).
The figure is drawn by ``paperscope.views.sweep`` from :func:`summarize`'s table. This is the
application layer (``paperscope.service``): it drives labs through ``core`` and never the reverse.
"""

import datetime
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.device import apply_thread_policy, resolve_device
from ..core.errors import PaperscopeError, ParamError
from ..core.export import code_version, git_commit, versions
from ..core.files import atomic_write
from ..core.params import coerce
from ..core.registry import get_lab
from ..core.runner import describe_error, run_to_end

CSV, PARQUET, META, SUMMARY = "results.csv", "results.parquet", "sweep.json", "summary.csv"
OK, ERROR = "ok", "error"
# Columns every row has besides parameters and metrics (a metric with one of these names, or a
# parameter's, is stored as ``metric.<name>``).
RESERVED = ("lab", "seed", "preset", "device", "seconds", "status", "error", "key", "code")
SAVE_EVERY_S = 5.0  # the table is rewritten at most this often while tasks finish (and at the end)


@dataclass(frozen=True)
class Task:
    """One run of the sweep: a configuration (``values``: swept and fixed parameters) and a seed."""

    key: str
    values: dict
    seed: int


@dataclass
class Plan:
    """What a sweep will run: checked before any worker starts."""

    slug: str
    preset: str
    grid: dict  # name -> list of checked values, in the order given
    fixed: dict  # name -> checked value (``--set``)
    seeds: list
    code: str
    tasks: list = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The parameter columns: swept first, then fixed."""
        return [*self.grid, *(n for n in self.fixed if n not in self.grid)]


# --------------------------------------------------------------------------------------------
# Planning: text from the command line -> checked tasks


def _split_assignment(text: str, option: str) -> tuple[str, str]:
    if "=" not in text:
        raise ParamError(f"{option} expects name=value{'s' if option == '--grid' else ''}, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value


def parse_grid(cls, texts: list[str]) -> dict:
    """``["lr=1e-3,1e-2", "network=rnn"]`` -> ``{"lr": [0.001, 0.01], "network": ["rnn"]}``.

    Every value goes through :func:`coerce`, so a bad one names the allowed range.
    """
    grid = {}
    for text in texts:
        name, values = _split_assignment(text, "--grid")
        if name == "seed":
            raise ParamError("seeds are not a grid parameter: use --seeds N")
        if name in grid:
            raise ParamError(f"--grid {name} is given twice: list every value once, comma-separated")
        items = [v for v in values.split(",") if v.strip()]
        if not items:
            raise ParamError(f"--grid {name}= has no values: expected {name}=v1,v2,...")
        checked = []
        for item in items:
            value = coerce(cls, name, item)
            if isinstance(value, list):
                raise ParamError(f"{name} is a list parameter and cannot be swept; fix it with --set")
            if value not in checked:
                checked.append(value)
        grid[name] = checked
    return grid


def parse_fixed(cls, texts: list[str], grid: dict) -> dict:
    """``--set name=value`` for parameters held fixed across the sweep."""
    fixed = {}
    for text in texts:
        name, value = _split_assignment(text, "--set")
        if name == "seed":
            raise ParamError("the seed is set by --seeds N, not --set")
        if name in grid:
            raise ParamError(f"{name} is both swept (--grid) and fixed (--set): choose one")
        fixed[name] = coerce(cls, name, value)
    return fixed


def task_key(slug: str, params: dict, seed: int, preset: str, code: str) -> str:
    """A short stable hash of everything that determines a row."""
    text = json.dumps({"lab": slug, "params": params, "seed": seed, "preset": preset, "code": code},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(slug: str, grid_texts: list[str], set_texts: list[str], seeds: int, preset: str = "default",
         local: bool = True) -> Plan:
    """Check everything a person typed and list the tasks; raises ``ParamError`` on bad input.

    ``local``: devices are resolved here (a ``device=cuda`` on a machine without one fails now);
    for a remote cluster the workers decide.
    """
    lab = get_lab(slug)
    cls = lab.Params
    if seeds < 1:
        raise ParamError(f"--seeds {seeds}: expected at least 1")
    grid = parse_grid(cls, grid_texts)
    fixed = parse_fixed(cls, set_texts, grid)
    result = Plan(slug=lab.slug, preset=preset, grid=grid, fixed=fixed, seeds=list(range(seeds)),
                  code=code_version())
    for combo in itertools.product(*grid.values()):
        values = {**fixed, **dict(zip(grid, combo))}
        try:  # cross-parameter checks that param enforces on construction
            params = cls.preset(preset, **values)
        except ValueError as exc:
            raise ParamError(f"{describe(values)}: {exc}") from None
        if local:
            resolve_device(params.device)
        for seed in result.seeds:
            params.seed = seed
            key = task_key(lab.slug, params.values(), seed, preset, result.code)
            result.tasks.append(Task(key=key, values={n: values[n] for n in result.names}, seed=seed))
    return result


def describe(values: dict) -> str:
    """``name=value ...`` of a configuration, as progress lines print it."""
    return " ".join(f"{n}={_text(v)}" for n, v in values.items())


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------------------------
# One task (runs on a worker)


def flatten_metrics(metrics: dict, reserved=()) -> dict:
    """Scalar metrics as flat columns: ``{"by_rank": {"1": {"loss": 0.2}}}`` -> ``{"by_rank.1.loss": 0.2}``.

    Lists and arrays (histories) are left out; numpy scalars become Python numbers; a name that
    clashes with a parameter or a fixed column gets a ``metric.`` prefix.
    """
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / torch scalar
            flat[prefix] = value.item()
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[prefix] = value

    walk("", metrics or {})
    return {(f"metric.{k}" if k in reserved else k): v for k, v in flat.items()}


def run_task(slug: str, preset: str, values: dict, seed: int, key: str, code: str, threads: int = 1) -> dict:
    """Run one (configuration, seed) headless and return its row; never raises for a failed run.

    A plain top-level function so Dask can send it to a worker process by reference.
    """
    row = {"lab": slug, **values, "seed": seed, "preset": preset}
    metrics, device, status, error = {}, None, OK, None
    start = time.perf_counter()
    try:
        apply_thread_policy(threads)  # one intra-op thread per worker: workers share the cores
        lab = get_lab(slug)
        params = lab.Params.preset(preset, **values, seed=seed)
        device = str(resolve_device(params.device))
        frame = run_to_end(lab.run, params)
        metrics = flatten_metrics(frame.metrics, reserved=(*RESERVED, *row))
    except Exception as exc:  # recorded in the table; the sweep goes on
        status, error = ERROR, one_line(describe_error(exc))
    seconds = time.perf_counter() - start
    return {**row, **metrics, "device": device, "seconds": round(seconds, 3), "status": status,
            "error": error, "key": key, "code": code}


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def failed_row(result: Plan, task: Task, exc: BaseException) -> dict:
    """The row of a task whose worker died or whose result never came back."""
    return {"lab": result.slug, **task.values, "seed": task.seed, "preset": result.preset, "device": None,
            "seconds": math.nan, "status": ERROR, "error": one_line(describe_error(exc)), "key": task.key,
            "code": result.code}


# --------------------------------------------------------------------------------------------
# The table


def load_table(out: Path) -> pd.DataFrame | None:
    """The rows already in ``out`` (Parquet if there, else CSV), or None."""
    if (out / PARQUET).is_file():
        return pd.read_parquet(out / PARQUET)
    if (out / CSV).is_file():
        return pd.read_csv(out / CSV)
    return None


def _columns(table: pd.DataFrame, names: list[str]) -> list[str]:
    """lab, parameters, seed, preset, status, metrics..., device, seconds, error, key, code."""
    head = ["lab", *[n for n in names if n in table], "seed", "preset", "status"]
    tail = ["device", "seconds", "error", "key", "code"]
    rest = [c for c in table.columns if c not in head and c not in tail]
    return [c for c in head + rest + tail if c in table]


def save_table(table: pd.DataFrame, out: Path) -> None:
    """Write ``results.parquet`` and ``results.csv`` (each replaced whole, never half written)."""
    atomic_write(out / PARQUET, lambda path: table.to_parquet(path, index=False))
    atomic_write(out / CSV, lambda path: table.to_csv(path, index=False))


def merge(previous: pd.DataFrame | None, rows: list[dict], result: Plan) -> pd.DataFrame:
    """Old rows of other sweeps first, then this sweep's rows in task order; a new row replaces
    an old one with the same key."""
    new = pd.DataFrame(rows)
    frames = [f for f in (previous, new) if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=["lab", *result.names, "seed", "preset", "status"])
    table = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")
    order = {t.key: i for i, t in enumerate(result.tasks)}
    rank = table["key"].map(order).fillna(-1)
    table = table.iloc[rank.argsort(kind="stable")].reset_index(drop=True)
    # Nullable types where a column mixes values and gaps (bool columns of older rows, say),
    # which Parquet could not store as objects; numbers stay float.
    table = table.convert_dtypes(convert_integer=False, convert_floating=False)
    return table[_columns(table, result.names)]


def current(table: pd.DataFrame, result: Plan) -> pd.DataFrame:
    """This sweep's rows (the table may also hold other grids or older code)."""
    keys = {t.key for t in result.tasks}
    return table[table["key"].isin(keys)]


def metric_names(table: pd.DataFrame, result: Plan, everywhere: bool = False) -> list[str]:
    """Numeric metric columns of the successful rows; ``everywhere``: only those every successful
    row reported (when there are any), the default choice of what to plot."""
    skip = {*RESERVED, *result.names}
    ok = table[table["status"] == OK]
    numeric = [c for c in table.columns if c not in skip and ok[c].notna().any()
               and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    full = [c for c in numeric if ok[c].notna().all()]
    return (full or numeric) if everywhere else numeric


def summarize(table: pd.DataFrame, grid: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, standard error (std with ddof=1 over sqrt(n); 0 for one seed) and n over the
    successful seeds: one row per configuration and metric, metrics in the order given."""
    ok = table[table["status"] == OK]
    # Long form, one row per (configuration, seed, metric), so one groupby covers every metric.
    long = ok.melt(id_vars=list(grid), value_vars=[m for m in metrics if m in ok], var_name="metric")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long["metric"] = pd.Categorical(long["metric"], categories=list(dict.fromkeys(metrics)))
    stats = (long.dropna(subset=["value"])
             .groupby(["metric", *grid], sort=True, dropna=False, observed=True)["value"]
             .agg(mean="mean", sem="sem", n="count")
             .reset_index())
    stats["metric"] = stats["metric"].astype(str)
    stats["sem"] = stats["sem"].fillna(0.0)  # one seed: no spread to estimate
    return stats[[*grid, "metric", "mean", "sem", "n"]]


# --------------------------------------------------------------------------------------------
# Running on Dask


def wants_gpu(result: Plan, local: bool) -> bool:
    """True when tasks should be placed on GPU workers (``resources={"GPU": 1}``)."""
    devices = set(result.grid.get("device", [result.fixed.get("device", "auto")]))
    if "cuda" in devices:
        return True
    return local and "auto" in devices and resolve_device("auto").type == "cuda"


def default_workers(gpu: bool) -> int:
    if gpu:
        return 1  # one process owns the (one) GPU; --workers K shares it among K
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def connect(scheduler: str | None, workers: int, gpu: bool, dashboard: bool):
    """A Dask client and the local cluster it owns (None for a remote scheduler)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="15s"), None
        except (OSError, TimeoutError) as exc:
            raise PaperscopeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0" if dashboard else None,
                               resources={"GPU": 1} if gpu else None, silence_logs=logging.ERROR)
    except RuntimeError as exc:  # e.g. a worker process that cannot re-import a __main__ without a guard
        raise PaperscopeError(f"could not start a local Dask cluster ({exc}); run from a script whose "
                              "code sits under `if __name__ == '__main__':`, or pass --scheduler") from None
    return Client(cluster), cluster


def _dashboard(client) -> str | None:
    try:
        return client.dashboard_link
    except (KeyError, AttributeError):  # a scheduler without a dashboard
        return None


def _check_gpu_workers(client, scheduler: str) -> None:
    workers = client.scheduler_info().get("workers", {}).values()
    if not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers):
        raise ParamError(f"the tasks ask for a GPU, but no worker of {scheduler} offers one: start each "
                         f"worker with `dask worker {scheduler} --resources GPU=1`")


def execute(result: Plan, out: Path, scheduler: str | None = None, workers: int | None = None,
            retry_errors: bool = False, dashboard: bool = True,
            log: Callable[[str], None] = print) -> tuple[pd.DataFrame, dict]:
    """Run the tasks not yet in ``out``'s table on Dask, saving the table as rows arrive.

    Returns the whole table and a summary of the run (counts, wall time, cluster) for the sidecar.
    """
    from distributed import as_completed

    previous = load_table(out)
    done = set()
    if previous is not None and len(previous):
        keep = previous if not retry_errors else previous[previous["status"] == OK]
        done = set(keep["key"])
    pending = [t for t in result.tasks if t.key not in done]
    skipped = len(result.tasks) - len(pending)
    n_conf = len(result.tasks) // len(result.seeds)
    log(f"{result.slug}: {_count(len(result.tasks), 'task')} ({_count(n_conf, 'configuration')} x "
        f"{_count(len(result.seeds), 'seed')}); {skipped} already in {out / PARQUET}, {len(pending)} to run")
    info = {"tasks": len(result.tasks), "skipped": skipped, "ran": len(pending), "scheduler": None,
            "workers": 0, "wall_s": 0.0}
    rows: list[dict] = []
    if not pending:
        table = merge(previous, rows, result)
        save_table(table, out)
        return table, info

    local = scheduler is None
    gpu = wants_gpu(result, local)
    workers = workers or default_workers(gpu)
    start = time.perf_counter()
    client, cluster = connect(scheduler, workers, gpu, dashboard)
    try:
        info["scheduler"] = scheduler or "local"
        info["workers"] = len(client.nthreads())
        if gpu and not local:
            _check_gpu_workers(client, scheduler)
        where = scheduler or f"a local cluster of {workers} worker process{'es' if workers > 1 else ''}"
        link = _dashboard(client) if (dashboard or not local) else None
        log(f"running on {where}" + (f"; dashboard: {link}" if link else "") + (" (GPU tasks)" if gpu else ""))
        resources = {"GPU": 1} if gpu else None
        futures = {client.submit(run_task, result.slug, result.preset, t.values, t.seed, t.key, result.code,
                                 key=f"{result.slug}-{t.key}", resources=resources, pure=False): t
                   for t in pending}
        last_save = time.perf_counter()
        for k, future in enumerate(as_completed(futures), 1):
            task = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # the worker died or the task was lost: record, go on
                row = failed_row(result, task, exc)
            rows.append(row)
            log(progress_line(k, len(pending), result, task, row))
            if time.perf_counter() - last_save > SAVE_EVERY_S:
                save_table(merge(previous, rows, result), out)
                last_save = time.perf_counter()
    finally:
        if rows:  # an interrupted sweep keeps what finished; a re-run skips it
            save_table(merge(previous, rows, result), out)
        client.close()
        if cluster is not None:
            cluster.close()
    info["wall_s"] = round(time.perf_counter() - start, 2)
    return merge(previous, rows, result), info


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def progress_line(k: int, n: int, result: Plan, task: Task, row: dict) -> str:
    swept = describe({name: task.values[name] for name in result.grid})
    head = f"[{k}/{n}] {swept + ' ' if swept else ''}seed={task.seed}"
    seconds = row.get("seconds")
    took = f" {seconds:.1f} s" if isinstance(seconds, (int, float)) and not math.isnan(seconds) else ""
    if row["status"] == OK:
        return f"{head} ok{took}"
    return f"{head} error{took}: {row['error']}"


def sidecar(result: Plan, command: str, info: dict, metrics: list[str], files: list[str]) -> dict:
    """``sweep.json``: how the table and figure were made."""
    return {
        "command": command,
        "lab": result.slug,
        "preset": result.preset,
        "grid": result.grid,
        "fixed": result.fixed,
        "seeds": result.seeds,
        "metrics": metrics,
        "files": files,
        **info,
        "versions": versions(),
        "git_commit": git_commit(),
        "code": result.code,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }

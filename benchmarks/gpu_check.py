"""GPU check: every lab's quick and default runs on a device against the CPU, then ``verify --quick``.

Run it once on a lent GPU machine (and in CI with ``--device cpu``, to keep it working)::

    python3 benchmarks/gpu_check.py --out $OUT                     # every lab, quick + default, cuda
    python3 benchmarks/gpu_check.py --device cpu --labs selu --sizes quick --skip-verify

For each lab and size it runs ``lab.run(Params.preset(size, device=DEVICE))`` to the end, times
it (CUDA synchronized before the clock stops; checking frames is left out of the clock), walks
every frame's numbers for NaN/inf, then runs the same on the CPU and compares the flat scalar
metrics of the last frames: the table reports the largest relative difference and flags one
above ``--rtol``. Labs draw their random numbers from generators on their device, and CUDA's
streams differ from the CPU's, so a flagged stochastic lab may be sampling noise: the flag is a
prompt to compare with the claim's tolerance, not a failure.

"Finite" is judged against the CPU run, because the labs use NaN for "not computed yet" (nsdim,
bandlimited, dpp-least-squares, smooth-diffusion, vr-halpern's early frames) and inf for
"unlimited" (thresholdout's budget): a device run fails when its last frame holds NaN/inf where
the CPU's last frame is finite; NaN/inf only in earlier frames is flagged (frames come at
device-dependent steps). With ``--device cpu`` there is no reference, and only NaN/inf in the
metrics fails (a lab raises on divergence by itself).

A run longer than ``--max-run-seconds`` is stopped there and its time extrapolated from its
progress (shown as ``~``; nothing compared), so the check fits one device command; the tables
are rewritten after every run, so a command killed at its limit still brings back what was done.
It then runs ``paperscope verify --quick --workers 1`` with ``PAPERSCOPE_DEVICE`` set to the
device (thresholdout's, vr-halpern's and dpp-least-squares' claim measurements pin
``device="cpu"``; those run on the CPU there too).

Writes ``gpu_check.md`` (the table), ``gpu_check.json``, ``verify.json`` and ``verify.log`` to
``--out`` (default ``$OUT`` when set, else ``./gpu_check_out``). Exit code 1 when a run raised or
produced NaN/inf as above, else 0 (claim results and flags are reported, not counted).

The device machine has torch, numpy, scipy, pandas, pyarrow, tqdm and pytest, but none of
param, dask, distributed and their few pure-Python needs, and no network. Prepare the wheels
once, in the repository root on the CPU machine (``.whl/`` is git-ignored; the machine's
Python is 3.12; keep dask and distributed at the same version; panel, holoviews and bokeh are
not needed: the check imports no UI; the wheels are about 3 MB)::

    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl param==2.4.2 dask==2026.8.0 distributed==2026.8.0 tblib==3.2.2 zict==3.0.0 tornado==6.6.1 \\
        locket==1.0.0 partd==1.4.2

and carry ``.whl`` with the device command (the device tool's ``run``: command
``PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT``, carry ``[".whl"]``,
timeout_s 600). When ``param`` or paperscope itself is missing, the
script installs them from ``.whl`` into ``/tmp/paperscope-site`` (no index, no build isolation)
and starts itself again with that folder on ``PYTHONPATH``.
"""

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"
SITE = Path("/tmp/paperscope-site")  # where carried wheels are installed on the device machine
CARRIED = ("param", "dask", "distributed", "tblib", "zict", "tornado", "locket", "partd")
REEXEC_MARK = "PAPERSCOPE_GPU_CHECK_INSTALLED"  # set once installed, so a failed install cannot loop
SIZES = ("quick", "default")


# -- bootstrap on the device machine ---------------------------------------------------------------
def _installed() -> bool:
    """True when param imports and paperscope's labs are registered (its dist-info is present)."""
    from importlib.metadata import entry_points

    return importlib.util.find_spec("param") is not None and bool(entry_points(group="paperscope.labs"))


def ensure_installed() -> None:
    """Install param, dask & co. and paperscope from the carried wheels when they are missing,
    then start this script again so the new folder is on ``sys.path`` for it and its children."""
    if _installed():
        return
    wheels = sorted(WHEELS.glob("*.whl"))
    have = {w.name.split("-")[0].lower() for w in wheels}
    if os.environ.get(REEXEC_MARK) or not wheels:
        missing = ", ".join(p for p in CARRIED if p not in have) or "none"
        sys.exit(f"gpu_check: param or paperscope is not importable here, and {WHEELS} "
                 f"{'did not provide them' if wheels else 'holds no wheels'} (missing wheels: {missing}).\n"
                 "Prepare them on the CPU machine with the pip download command in this script's docstring "
                 "and name .whl in the device command's carry.")
    print(f"gpu_check: installing {len(wheels)} carried wheels and paperscope into {SITE}", flush=True)
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
               "--no-compile", "--upgrade", "--target", str(SITE), *map(str, wheels), str(ROOT)]
    if subprocess.run(command).returncode != 0:
        sys.exit("gpu_check: pip could not install the carried wheels (see above)")
    path = os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONPATH": path, REEXEC_MARK: "1"})


# -- checks on one run ----------------------------------------------------------------------------
def nonfinite_masks(value, path: str = "") -> dict:
    """Where a frame (a dataclass, walked through dicts, lists, tuples and numpy arrays) holds NaN
    or inf: ``{"field.key[i]": boolean mask}`` for each leaf with at least one; strings and
    booleans are skipped."""
    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [(f"{path}.{f.name}".lstrip("."), getattr(value, f.name)) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        items = [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype == object):
        items = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    else:
        if hasattr(value, "detach"):  # a torch tensor a lab forgot to move to the host
            value = value.detach().cpu().numpy()
        numeric = isinstance(value, (int, float, complex, np.number, np.ndarray)) and not isinstance(value, bool)
        if not numeric or not np.issubdtype(np.asarray(value).dtype, np.number):
            return {}
        mask = ~np.isfinite(np.asarray(value))
        return {path: mask} if mask.any() else {}
    return {name: mask for key, item in items for name, mask in nonfinite_masks(item, key).items()}


def new_nonfinite(masks: dict, reference: dict) -> list[str]:
    """Leaves with NaN/inf where the reference run's same frame field is finite (entry by entry
    when the shapes agree, by count otherwise)."""
    def worse(mask, ref) -> bool:
        if ref is None:
            return True
        return bool((mask & ~ref).any()) if ref.shape == mask.shape else int(mask.sum()) > int(ref.sum())

    return [name for name, mask in masks.items() if worse(mask, reference.get(name))]


def flat_metrics(metrics, prefix: str = "") -> dict[str, float]:
    """The scalar numbers of a (nested) metrics dict, keyed ``outer.inner`` (booleans excluded)."""
    import numpy as np

    flat = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{name}."))
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            flat[name] = float(value)
    return flat


def relative_difference(a: float, b: float, floor: float = 1e-12) -> float:
    """|a - b| over the larger magnitude (0 when both are within ``floor`` of zero or both NaN)."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if a == b:  # equal infinities too
        return 0.0
    scale = max(abs(a), abs(b))
    return 0.0 if scale <= floor else abs(a - b) / scale


def largest_difference(device_metrics: dict, cpu_metrics: dict) -> tuple[float, str]:
    """The largest relative difference over the metrics both runs report, and its metric's name."""
    ours, theirs = flat_metrics(device_metrics), flat_metrics(cpu_metrics)
    diffs = {name: relative_difference(ours[name], theirs[name]) for name in ours.keys() & theirs.keys()}
    if not diffs:
        return math.nan, ""
    name = max(sorted(diffs), key=diffs.get)
    return diffs[name], name


class StopRun(Exception):
    """Raised from the frame callback to stop a run at its time cap."""


@dataclasses.dataclass
class Timing:
    """One run of one lab at one size on one device."""

    seconds: float = math.nan  # measured, or extrapolated when ``stopped``
    stopped: bool = False  # stopped at the time cap: seconds extrapolated from its progress
    metrics: dict | None = None  # the last frame's, when the run finished
    error: str = ""
    ever_nonfinite: set = dataclasses.field(default_factory=set)  # leaves with NaN/inf in any frame
    last_masks: dict = dataclasses.field(default_factory=dict, repr=False)  # the last frame's NaN/inf

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "stopped": self.stopped, "error": self.error, "metrics": self.metrics,
                "nonfinite_in_last_frame": sorted(self.last_masks),
                "nonfinite_in_any_frame": sorted(self.ever_nonfinite)}


def timed_run(lab, size: str, device: str, max_seconds: float, threads: int | None) -> Timing:
    """Run ``lab`` at ``size`` on ``device`` to the end (or the time cap); frames are checked as
    they come, and the time spent checking is left out of the clock."""
    import torch

    from paperscope.core.runner import describe_error, run_to_end

    timing, checking, progress = Timing(), [0.0], [0.0]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def on_frame(frame) -> None:
        t0 = time.perf_counter()
        timing.last_masks = nonfinite_masks(frame)
        timing.ever_nonfinite |= timing.last_masks.keys()
        progress[0] = frame.progress
        checking[0] += time.perf_counter() - t0
        if time.perf_counter() - start - checking[0] > max_seconds and not frame.done:
            raise StopRun

    start = time.perf_counter()
    try:
        last = run_to_end(lab.run, lab.Params.preset(size, device=device), on_frame=on_frame, threads=threads)
        sync()
        timing.metrics = last.metrics
    except StopRun:
        timing.stopped = True
    except Exception as exc:  # a row with its error; the other labs go on
        timing.error = describe_error(exc).splitlines()[0]
    elapsed = time.perf_counter() - start - checking[0]
    if not timing.error:
        timing.seconds = elapsed / progress[0] if timing.stopped and progress[0] > 0 else elapsed
    return timing


def judge_finite(run: Timing, reference: Timing | None) -> tuple[list[str], list[str]]:
    """(failing, flagged) NaN/inf leaves of a run. The labs use NaN for "not computed yet" and inf
    for "unlimited", so with a finished CPU reference only NaN/inf the CPU's last frame does not
    have fail; without one, NaN/inf in the metrics. Leaves non-finite in some earlier frame on the
    device but in none on the CPU are flagged only: frames are yielded at device-dependent steps."""
    if run.metrics is None:  # raised or stopped: its last frame is not the run's end
        return [], []
    if reference is None or reference.metrics is None:
        return sorted(name for name in run.last_masks if name.startswith("metrics")), []
    return new_nonfinite(run.last_masks, reference.last_masks), sorted(run.ever_nonfinite - reference.ever_nonfinite)


# -- one row per lab and size ---------------------------------------------------------------------
@dataclasses.dataclass
class Row:
    lab: str
    size: str
    device: Timing
    cpu: Timing | None = None  # None when the device is the CPU
    nonfinite: list = dataclasses.field(default_factory=list)  # leaves that make ``finite`` "no"
    max_rel_diff: float = math.nan
    worst_metric: str = ""
    flag: str = ""

    @property
    def ok(self) -> bool:
        return not self.device.error and not self.nonfinite

    @property
    def speedup(self) -> float:
        if self.cpu is None or self.cpu.error or not self.device.seconds > 0:
            return math.nan
        return self.cpu.seconds / self.device.seconds

    def as_dict(self) -> dict:
        return {"lab": self.lab, "size": self.size, "device": self.device.as_dict(),
                "cpu": None if self.cpu is None else self.cpu.as_dict(), "ok": self.ok, "speedup": self.speedup,
                "nonfinite": self.nonfinite, "max_rel_diff": self.max_rel_diff, "worst_metric": self.worst_metric,
                "flag": self.flag}


def _listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (" ..." if len(names) > most else "")


def check(lab, size: str, args) -> Row:
    """Run one lab at one size on the device (and on the CPU to compare), and judge the result."""
    print(f"gpu_check: {lab.slug} {size} on {args.device}", flush=True)
    row = Row(lab.slug, size, timed_run(lab, size, args.device, args.max_run_seconds, args.threads))
    if args.device != "cpu":
        row.cpu = timed_run(lab, size, "cpu", args.max_run_seconds, args.threads)
        if row.device.metrics is not None and row.cpu.metrics is not None:
            row.max_rel_diff, row.worst_metric = largest_difference(row.device.metrics, row.cpu.metrics)
    row.nonfinite, earlier = judge_finite(row.device, row.cpu)
    notes = []
    if row.device.error:
        notes.append(f"error: {row.device.error}")
    if row.nonfinite:
        notes.append(f"NaN/inf in {_listed(row.nonfinite)}")
    if earlier:
        notes.append(f"NaN/inf in earlier frames of {_listed(earlier)} (not in the CPU run's)")
    if row.max_rel_diff > args.rtol:
        notes.append(f"{row.worst_metric} differs from CPU by {row.max_rel_diff:.1%} (> {args.rtol:.0%})")
    if row.cpu is not None and row.cpu.error:
        notes.append(f"CPU run error: {row.cpu.error}")
    for timing, where in ((row.device, args.device), (row.cpu, "CPU")):
        if timing is not None and timing.stopped:
            notes.append(f"{where} run stopped at {args.max_run_seconds:g} s, time extrapolated")
    row.flag = "; ".join(notes)
    return row


# -- verify ---------------------------------------------------------------------------------------
def run_verify(slugs: list[str], all_chosen: bool, args) -> dict:
    """``paperscope verify --quick --workers 1`` with ``PAPERSCOPE_DEVICE`` set; its table goes to
    ``verify.log``, its records to ``verify.json``; returns a summary (exit code, counts)."""
    from paperscope.core import claims

    with_claims = [s for s in slugs if claims.claims_of(s)]
    if not with_claims:
        return {"skipped": "none of the chosen labs declares claims"}
    out = Path(args.out)
    (out / "verify.json").unlink(missing_ok=True)  # never read an earlier run's table
    command = [sys.executable, "-m", "paperscope.cli", "verify", "--quick", "--workers", "1",
               "--json", str(out / "verify.json"), *([] if all_chosen else with_claims)]
    print(f"gpu_check: {' '.join(command[1:])} (PAPERSCOPE_DEVICE={args.device})", flush=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.verify_timeout,
                              env={**os.environ, "PAPERSCOPE_DEVICE": args.device})
    except subprocess.TimeoutExpired as exc:
        # TimeoutExpired holds bytes whatever ``text`` said
        (out / "verify.log").write_bytes((exc.stdout or b"") + b"\n" + (exc.stderr or b""))
        return {"error": f"timed out after {args.verify_timeout:g} s"}
    (out / "verify.log").write_text(done.stdout + done.stderr)
    summary = {"exit_code": done.returncode, "seconds": round(time.perf_counter() - start, 1)}
    try:
        records = json.loads((out / "verify.json").read_text())["claims"]
    except (OSError, ValueError, KeyError):
        return {**summary, "error": (done.stderr.strip().splitlines() or ["no verify.json written"])[-1]}
    statuses = [r.get("status", "?") for r in records]
    return {**summary, "claims": len(statuses), "statuses": {s: statuses.count(s) for s in sorted(set(statuses))}}


# -- report ---------------------------------------------------------------------------------------
def _seconds(timing: Timing | None) -> str:
    if timing is None or math.isnan(timing.seconds):
        return "-"
    return f"{'~' if timing.stopped else ''}{timing.seconds:.2f}"


def markdown_table(rows: list[Row], device: str) -> str:
    """The report's table, one row per lab and size."""
    head = ["lab", "size", f"{device} s", "CPU s", "speed-up", "finite", "max metric rel. diff", "flag"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        finite = "no" if r.nonfinite else ("-" if r.device.error or r.device.metrics is None else "yes")
        diff = "-" if math.isnan(r.max_rel_diff) else f"{r.max_rel_diff:.2%} ({r.worst_metric})"
        speedup = "-" if math.isnan(r.speedup) else f"{r.speedup:.2f}x"
        cells = [r.lab, r.size, _seconds(r.device), _seconds(r.cpu), speedup, finite, diff, r.flag.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment(device: str, threads: int | None, rtol: float) -> dict:
    """Where the check ran: device name, torch version, CPU threads per run, code version."""
    import torch

    from paperscope.core.device import worker_threads
    from paperscope.core.export import code_version

    gpu = torch.cuda.get_device_name() if device == "cuda" else ""
    return {"device": device, "gpu": gpu, "torch": torch.__version__, "python": sys.version.split()[0],
            "cpu_threads": threads or worker_threads(), "rtol": rtol, "code": code_version()}


def write_report(out: Path, rows: list[Row], info: dict, verify: dict | None) -> str:
    """Write gpu_check.md and gpu_check.json; returns the Markdown."""
    where = f"{info['device']}{' (' + info['gpu'] + ')' if info['gpu'] else ''}"
    text = (f"# GPU check on {where}\n\ntorch {info['torch']}, Python {info['python']}, "
            f"{info['cpu_threads']} CPU thread(s) per run, {info['code']}\n\n{markdown_table(rows, info['device'])}\n")
    if any(r.max_rel_diff > info["rtol"] for r in rows):
        text += ("\nA metric that differs from the CPU's may be sampling noise: each lab draws its random numbers "
                 "on its device, and CUDA's streams differ from the CPU's. Compare it with the claim's tolerance "
                 "(`verify` below).\n")
    if verify is not None:
        text += f"\n`paperscope verify --quick` with PAPERSCOPE_DEVICE={info['device']}: {json.dumps(verify)}\n"
    (out / "gpu_check.md").write_text(text)
    record = {**info, "rows": [r.as_dict() for r in rows], "verify": verify}
    (out / "gpu_check.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return text


def warm_up(device: str) -> None:
    """Pay CUDA's context creation and first cuBLAS / generator calls before any clock starts."""
    import torch

    if device == "cuda":
        g = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(256, 256, device="cuda", generator=g)
        (x @ x).sum().item()
        torch.cuda.synchronize()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="device to check (default cuda)")
    p.add_argument("--labs", nargs="+", metavar="SLUG", help="labs to run (default: every registered lab)")
    p.add_argument("--sizes", default=",".join(SIZES), help="comma-separated presets (default quick,default)")
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out",
                   help="output folder (default $OUT, else ./gpu_check_out)")
    p.add_argument("--rtol", type=float, default=0.05, help="flag metrics differing more from CPU (default 0.05)")
    p.add_argument("--max-run-seconds", type=float, default=60.0,
                   help="stop a run there and extrapolate its time from its progress (default 60)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per run (default PAPERSCOPE_THREADS or 1, as the app's workers)")
    p.add_argument("--skip-verify", action="store_true", help="do not run paperscope verify --quick")
    p.add_argument("--verify-timeout", type=float, default=300.0, help="seconds before verify is stopped")
    args = p.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if unknown := [s for s in args.sizes if s not in SIZES]:
        p.error(f"unknown size(s) {', '.join(unknown)}: choose from {', '.join(SIZES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    ensure_installed()
    import torch

    from paperscope.core.registry import all_labs

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU here; use --device cpu", file=sys.stderr)
        return 2
    known = {lab.slug: lab for lab in all_labs()}  # read from source: a lab that fails to import is a row
    if unknown := [s for s in args.labs or () if s.replace("_", "-") not in known]:
        print(f"gpu_check: unknown lab(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    labs = [known[s.replace("_", "-")] for s in args.labs] if args.labs else list(known.values())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warm_up(args.device)
    info, rows = environment(args.device, args.threads, args.rtol), []
    order = {(lab.slug, size): i for i, (size, lab) in enumerate((s, lab) for lab in labs for s in args.sizes)}
    for size in args.sizes:  # every lab's quick run first: it warms each code path on the device
        for lab in labs:
            rows = sorted([*rows, check(lab, size, args)], key=lambda r: order[r.lab, r.size])
            write_report(out, rows, info, None)  # what was done survives a command killed at its limit
    verify = None if args.skip_verify else run_verify([lab.slug for lab in labs], not args.labs, args)
    print(write_report(out, rows, info, verify))
    print(f"gpu_check: wrote {out / 'gpu_check.md'} and {out / 'gpu_check.json'}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

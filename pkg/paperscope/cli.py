"""The ``paperscope`` command: list | readme-table | thumbnails | serve | run | sweep | precompute |
export-html | bench | verify | reproduce.

Bad input (unknown lab or parameter, wrong type, out-of-range value) ends with exit code 2 and
one line that names the problem and what is allowed, never a traceback.
"""

import argparse
import json
import sys
from pathlib import Path

from .core.errors import DivergenceError, PaperscopeError, ParamError
from .core.params import CAP_MULTIPLE

LOCAL_ADDRESSES = {"localhost", "127.0.0.1", "::1"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message by default)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ParamError(f"--set expects name=value, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value


def cmd_list(args) -> int:
    from .core.registry import all_labs

    for lab in all_labs():
        print(lab.slug if args.names else f"{lab.slug}\t{lab.paper.title}\t{lab.paper.claim}")
    return 0


def readme_table(labs) -> str:
    """The README's lab table, one row per built-in lab, from the labs' ``PAPER`` declarations."""
    cell = lambda text: text.replace("|", "\\|")  # a pipe inside a cell would end it
    from .claims import recorded, summary

    rows = ["| lab | paper | claim | reproduced (`paperscope verify`) | app | notebook |", "|---|---|---|---|---|---|"]
    for lab in labs:
        if not lab.builtin:  # labs from other packages have no app or notebook in this repository
            continue
        paper, app, notebook = lab.paper, f"apps/{lab.name}.py", f"notebooks/{lab.name}.ipynb"
        arxiv = f", [arXiv:{paper.arxiv}]({paper.arxiv_url})" if paper.arxiv else ""
        rows.append(f"| `{paper.slug}` | {cell(paper.paper_title)} ({cell(paper.authors)}; {paper.venue}{arxiv}) "
                    f"| {cell(paper.claim)} | {summary(recorded(lab.name))} "
                    f"| [`{app}`]({app}) | [`{notebook}`]({notebook}) |")
    return "\n".join(rows)


def cmd_readme_table(args) -> int:
    from .core.registry import all_labs

    print(readme_table(all_labs()))
    return 0


def cmd_thumbnails(args) -> int:
    from .core.registry import all_labs, get_lab
    from .ui import thumbnails

    labs = [get_lab(slug) for slug in args.labs] if args.labs else all_labs()
    if args.force:
        for lab in labs:
            thumbnails.thumbnail_path(lab).unlink(missing_ok=True)
    failed = thumbnails.render_missing(labs, log=lambda line: print(line, flush=True))
    print(f"thumbnails in {thumbnails.thumbnail_path(labs[0]).parent}" if labs else "no labs", file=sys.stderr)
    return 1 if failed else 0


def cmd_run(args) -> int:
    from tqdm import tqdm

    from .core.device import resolve_device
    from .core.export import result
    from .core.params import apply_strings
    from .core.registry import get_lab
    from .core.runner import run_to_end

    lab = get_lab(args.lab)
    params = lab.Params.preset(_preset(args))
    assignments = dict(_parse_assignment(text) for text in args.set)
    if args.seed is not None:
        assignments["seed"] = str(args.seed)
    if args.data:
        assignments["data"] = _use_data(lab, args.data)
    apply_strings(params, assignments)
    device = resolve_device(params.device)
    if args.export:
        from .views.figure import figure_format

        figure_format(args.export)  # a bad suffix fails before minutes of compute

    bar = tqdm(desc=f"{lab.slug} on {device}", unit="step", disable=args.no_progress, file=sys.stderr)

    def advance(frame):
        bar.total = frame.total_steps
        bar.n = frame.step
        bar.refresh()
    try:
        frame = run_to_end(lab.run, params, advance)
    finally:
        bar.close()

    record = result(lab, params, frame)
    print(json.dumps(record["metrics"], indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.export:
        from .views.figure import export

        figure, sidecar = export(lab, params, frame, args.export)
        print(f"wrote {figure} and {sidecar}", file=sys.stderr)
    return 0


def _use_data(lab, path: str) -> str:
    """Load, check and register the file of ``--data``; its key is the run's ``data`` value."""
    from .core.data import load, register

    if "data" not in lab.Params.param:
        from .core.registry import all_labs

        takers = [other.slug for other in all_labs() if "data" in other.Params.param]
        raise ParamError(f"{lab.slug} does not learn from a data set: --data is for {', '.join(takers)}")
    return register(load(path))


def cmd_precompute(args) -> int:
    import time

    from .core.registry import get_lab
    from .core.runner import run_to_end
    from .service import run_cache, sweep

    preset = _preset(args)
    plan = sweep.plan(args.lab, args.grid, args.set, args.seeds, preset)
    lab = get_lab(plan.slug)
    stored = skipped = failed = 0
    for k, task in enumerate(plan.tasks, 1):
        params = lab.Params.preset(preset, **task.values, seed=task.seed)
        label = f"[{k}/{len(plan.tasks)}] {sweep.describe(task.values)} seed={task.seed}"
        if run_cache.lookup(plan.slug, params) is not None:
            skipped += 1
            print(f"{label} already cached", flush=True)
            continue
        start = time.perf_counter()
        try:
            run_cache.store(plan.slug, params, run_to_end(lab.run, params))
        except PaperscopeError as exc:  # a diverging configuration: report it, go on
            failed += 1
            print(f"{label} failed: {exc}", flush=True)
            continue
        stored += 1
        print(f"{label} stored ({time.perf_counter() - start:.1f} s)", flush=True)
    print(f"{stored} stored, {skipped} already cached, {failed} failed in {run_cache.runs_dir()}",
          file=sys.stderr)
    return 1 if failed else 0


def cmd_export_html(args) -> int:
    from .ui.offline_html import export_html

    page = export_html(args.lab, args.grid, args.set, args.seeds, _preset(args), args.out,
                       log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"wrote {page.path}: {page.file_bytes / 1e6:.1f} MB, {page.points} points ({page.computed} computed, "
          f"{page.cached} from the run cache) in {page.seconds:.0f} s", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    import shlex

    from .service import sweep

    if args.workers is not None and args.workers < 1:
        raise ParamError(f"--workers {args.workers}: expected at least 1")
    preset = _preset(args)
    plan = sweep.plan(args.lab, args.grid, args.set, args.seeds, preset, local=args.scheduler is None)
    out = Path(args.out or Path("sweeps") / plan.slug)
    figure = out / f"figure.{args.format}"
    command = shlex.join(["paperscope", "sweep", plan.slug, *(f"--grid={g}" for g in args.grid),
                          *(f"--set={s}" for s in args.set), f"--seeds={args.seeds}",
                          *([f"--preset={preset}"] if preset != "default" else [])])
    log = lambda line: print(line, flush=True)
    table, info = sweep.execute(plan, out, scheduler=args.scheduler, workers=args.workers,
                                retry_errors=args.retry_errors, dashboard=not args.no_dashboard, log=log)
    rows = sweep.current(table, plan)
    failed = int((rows["status"] != sweep.OK).sum())
    known = sweep.metric_names(rows, plan)
    unknown = [m for m in args.metric if m not in known]
    if unknown:
        raise ParamError(f"unknown metric {unknown[0]!r} (the table is saved in {out}); known: {', '.join(known)}")
    shared = sweep.metric_names(rows, plan, everywhere=True)
    metrics = args.metric or shared[: _panels()]
    if not args.metric and len(known) > len(metrics):
        print(f"plotting {len(metrics)} of {len(known)} metrics; choose with --metric NAME", file=sys.stderr)
    summary = sweep.summarize(rows, list(plan.grid), metrics)
    summary.to_csv(out / sweep.SUMMARY, index=False)
    drawn = bool(metrics) and bool((rows["status"] == sweep.OK).any())
    files = [sweep.CSV, sweep.PARQUET, *([figure.name] if drawn else []), sweep.SUMMARY, sweep.META]
    meta = sweep.sidecar(plan, command, {**info, "failed": failed}, metrics, files)
    if drawn:
        from .views.sweep import write_figure

        title = f"{plan.slug}: mean ± s.e. over {len(plan.seeds)} seed{'s' if len(plan.seeds) > 1 else ''}"
        write_figure(summary, plan.grid, metrics, figure, title, record=meta)  # the figure carries sweep.json
    else:
        print("no successful run to draw: no figure written", file=sys.stderr)
    (out / sweep.META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(f"wrote {', '.join(str(out / f) for f in files)}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(rows)} runs failed (status=error in {out / sweep.CSV})", file=sys.stderr)
    return 0


def _panels() -> int:
    from .views.sweep import MAX_PANELS

    return MAX_PANELS


def cmd_serve(args) -> int:
    from .ui.credentials import Instructors, read_basic_auth
    from .ui.server import Workshop, serve

    if args.address not in LOCAL_ADDRESSES and not args.allow_websocket_origin:
        raise ParamError(f"--address {args.address} is not local: also give --allow-websocket-origin "
                         "HOST[:PORT] for each address browsers will use")
    for flag in ("max_sessions", "num_procs", "cpu_slots", "gpu_slots"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ParamError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.cap_multiple is not None and args.cap_multiple <= 0:
        raise ParamError(f"--cap-multiple must be positive, got {args.cap_multiple}")
    extra = {k: getattr(args, k) for k in ("basic_auth", "cookie_secret", "oauth_provider", "oauth_key",
                                           "oauth_secret", "oauth_redirect_uri", "oauth_encryption_key")
             if getattr(args, k)}
    marked = frozenset()
    if args.basic_auth and Path(args.basic_auth).is_file():  # users, some marked as instructors
        extra["basic_auth"], marked = read_basic_auth(args.basic_auth)
    instructors = Instructors(args.instructor_password, marked)
    if instructors.configured and not args.workshop:
        raise ParamError("the instructor console is part of workshop mode: add --workshop")
    if instructors.configured and args.num_procs and args.num_procs > 1:
        raise ParamError("the instructor console needs the room in one process: drop --num-procs")
    parts = {"shared_queue": args.shared_queue or None, "max_sessions": args.max_sessions,
             "liveness": args.liveness or None, "admin": args.admin or None, "cpu_slots": args.cpu_slots,
             "gpu_slots": args.gpu_slots, "cap_multiple": args.cap_multiple,
             "cap_overrides": parse_caps(args.cap) or None, "instructors": instructors}
    parts = {k: v for k, v in parts.items() if v is not None}
    workshop = Workshop.room(**parts) if args.workshop else Workshop(**parts)
    if args.oauth_extra_params:
        extra["oauth_extra_params"] = json.loads(args.oauth_extra_params)
    if args.prefix:
        extra["prefix"] = args.prefix.strip("/")
    if args.num_procs and args.num_procs > 1:
        extra["num_procs"] = args.num_procs
    serve(args.labs, port=args.port, address=args.address, origins=args.allow_websocket_origin,
          show=not args.no_show, workshop=workshop, **extra)
    return 0


def parse_caps(texts: list[str]) -> dict:
    """``["pinn-sampling.n_points=4000"]`` -> ``{"pinn-sampling": {"n_points": 4000}}`` (checked)."""
    from .core.params import coerce
    from .core.registry import get_lab

    caps = {}
    for text in texts:
        target, _, value = text.partition("=")
        slug, _, name = target.rpartition(".")
        if not (slug and name and value):
            raise ParamError(f"--cap expects SLUG.NAME=VALUE, got {text!r}")
        caps.setdefault(slug, {})[name] = coerce(get_lab(slug).Params, name, value)
    return caps


def cmd_bench(args) -> int:
    from .core.bench import available, format_table, load_cases

    names = [args.lab] if args.lab else available()
    rows = []
    for name in names:
        print(f"running benchmark {name}...", file=sys.stderr)
        rows.extend(load_cases(name)())
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return 0


def cmd_verify(args) -> int:
    from .service import verify

    checks = verify.plan(args.labs, quick=args.quick, seeds=args.seeds)
    size = "quick" if args.quick else "paper"
    print(f"verifying {len(checks)} claims at {size} sizes", file=sys.stderr)
    if not args.labs and (bare := verify.undeclared(checks)):
        print(f"no claims declared yet for {', '.join(bare)}", file=sys.stderr)
    outcomes, info = verify.execute(checks, scheduler=args.scheduler, workers=args.workers)
    print(verify.table(outcomes))
    print(f"{info['tasks']} tasks on {info['workers']} workers in {info['seconds']:.1f} s", file=sys.stderr)
    if args.json:
        verify.write_json(args.json, verify.report(checks, outcomes, info, args.quick))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.record:
        for path in verify.record(checks, outcomes, info, args.quick):
            print(f"recorded {path}", file=sys.stderr)
    return 0 if verify.passed(outcomes) else 1


def cmd_reproduce(args) -> int:
    from tqdm import tqdm

    from .service import reproduce

    bars = []  # opened with the first frame: a record that cannot be read shows no bar

    def advance(frame):
        if not bars:
            bars.append(tqdm(desc="reproducing", unit="step", disable=args.no_progress, file=sys.stderr))
        bars[0].total, bars[0].n = frame.total_steps, frame.step
        bars[0].refresh()
    try:
        outcome = reproduce.reproduce(args.figure, out=args.out, device=args.device, on_frame=advance,
                                      data=args.data)
    finally:
        for bar in bars:
            bar.close()
    print(reproduce.table(outcome))
    print(reproduce.summary(outcome), file=sys.stderr)
    return 0 if outcome.match else 1


def _preset(args) -> str:
    """The preset named by ``--preset``, or by ``--quick`` (its older spelling)."""
    if args.quick and args.preset not in (None, "quick"):
        raise ParamError(f"--quick and --preset {args.preset} disagree: give one")
    return "quick" if args.quick else args.preset or "default"


def _preset_options(p) -> None:
    p.add_argument("--preset", choices=("quick", "default", "large"),
                   help="sizes: quick (seconds, a first look), default, or large (the lab's GPU "
                        "scale-up, where it declares one)")
    p.add_argument("--quick", action="store_true", help="the quick sizes (same as --preset quick)")


def _grid_options(p, seeds: int) -> None:
    """The lab, grid, fixed values, seeds and size of ``sweep`` and ``precompute``."""
    p.add_argument("lab", metavar="SLUG")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="a parameter and its values (repeatable: every combination runs)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter held fixed (repeatable)")
    p.add_argument("--seeds", type=int, default=seeds, metavar="N",
                   help=f"seeds 0..N-1 for every configuration (default {seeds})")
    _preset_options(p)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="paperscope", description="Recent ML papers as live, interactive labs.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the labs, one per line, slug first")
    p.add_argument("--names", action="store_true", help="print slugs only")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("readme-table", help="print the README's lab table from the labs' PAPER declarations")
    p.set_defaults(func=cmd_readme_table)

    p = sub.add_parser("thumbnails", help="render the gallery's missing thumbnails (each lab at quick size)")
    p.add_argument("labs", nargs="*", metavar="SLUG", help="labs to render (default: all)")
    p.add_argument("--force", action="store_true", help="render again even where a thumbnail is cached")
    p.set_defaults(func=cmd_thumbnails)

    p = sub.add_parser("serve", help="serve the gallery (/) and each lab (/<slug>)")
    p.add_argument("labs", nargs="*", metavar="SLUG", help="labs to serve (default: all)")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="localhost", help="address to bind (default: localhost)")
    p.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST[:PORT]",
                   help="browser origins allowed to connect (repeatable); needed for a non-local address")
    p.add_argument("--no-show", action="store_true", help="do not open a browser")
    room = p.add_argument_group("workshop (one server, a room of browsers)")
    room.add_argument("--workshop", action="store_true",
                      help="all of: --shared-queue, --max-sessions 30, --liveness, --admin (each can be overridden)")
    room.add_argument("--shared-queue", action="store_true",
                      help="sessions take turns frame by frame: one slot per core, one per GPU")
    room.add_argument("--cpu-slots", type=int, metavar="N", help="CPU slots of the shared queue (default: cores)")
    room.add_argument("--max-sessions", type=int, metavar="N",
                      help="lab sessions per server process; later visitors get a 'room is full' page")
    room.add_argument("--num-procs", type=int, metavar="N", help="server processes (each with its own limit)")
    room.add_argument("--liveness", action="store_true", help="GET /liveness answers 200 while serving")
    room.add_argument("--admin", action="store_true", help="Panel's admin page at /admin")
    room.add_argument("--prefix", metavar="PATH", help="URL prefix when behind a reverse proxy (e.g. labs)")
    room.add_argument("--basic-auth", metavar="PASSWORD|FILE",
                      help="password, or a file of user:password[:instructor] lines (or JSON, as Panel reads)")
    room.add_argument("--instructor-password", metavar="PASSWORD",
                      help="turn on the instructor console (/instructor, sign in at /instructor/login) "
                           "and the projector pages (/room/SLUG); needs --workshop")
    room.add_argument("--cap", action="append", default=[], metavar="SLUG.NAME=VALUE",
                      help="the largest value participants may run (repeatable; the default caps "
                           "every size at --cap-multiple times the paper's)")
    room.add_argument("--cap-multiple", type=float, metavar="X",
                      help=f"default caps: X times each lab's paper size (default {CAP_MULTIPLE:g})")
    room.add_argument("--gpu-slots", type=int, metavar="N", help="GPU slots of the shared queue (default 1)")
    room.add_argument("--cookie-secret", metavar="SECRET", help="cookie secret (basic auth / OAuth)")
    for name in ("provider", "key", "secret", "redirect-uri", "encryption-key"):
        room.add_argument(f"--oauth-{name}", metavar="VALUE", help=f"passed to Panel's OAuth ({name})")
    room.add_argument("--oauth-extra-params", metavar="JSON", help="passed to Panel's OAuth (a JSON object)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("run", help="run a lab headless; export its figure and metrics")
    p.add_argument("lab", metavar="SLUG")
    _preset_options(p)
    p.add_argument("--seed", type=int, help="seed of every random generator")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a parameter (repeatable)")
    p.add_argument("--data", metavar="PATH",
                   help="your own data set in place of the lab's (labs with a data parameter): a .csv with a "
                        "header row, the label column named y/label/target/class or else the last, or an .npz "
                        "with arrays X and y; checked first (size, numbers only, classes: see paperscope.core.data)")
    p.add_argument("--export", metavar="PATH", help="write the figure (.pdf/.svg/.png) and PATH.json")
    p.add_argument("--json", metavar="PATH", help='write {"lab", "params", "metrics", "versions"}')
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a grid of configurations x seeds on Dask; write a table and a figure")
    _grid_options(p, seeds=3)
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local cluster worker processes (default: one per core; 1 for a GPU)")
    p.add_argument("--out", metavar="DIR", help="output folder (default sweeps/SLUG); a re-run skips rows it holds")
    p.add_argument("--format", choices=("pdf", "png", "svg"), default="pdf", help="figure format (default pdf)")
    p.add_argument("--metric", action="append", default=[], metavar="NAME",
                   help="a metric to plot (repeatable; default: those every run reported, up to 12)")
    p.add_argument("--retry-errors", action="store_true", help="run again the rows that failed before")
    p.add_argument("--no-dashboard", action="store_true", help="no Dask dashboard for the local cluster")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("precompute", help="fill the app's on-disk cache for a grid of settings (workshops)")
    _grid_options(p, seeds=1)
    p.set_defaults(func=cmd_precompute)

    p = sub.add_parser("export-html", help="write a lab as one offline HTML file: sliders over a grid computed ahead")
    _grid_options(p, seeds=1)
    p.add_argument("--out", metavar="PATH", help="the .html file to write (default: SLUG.html)")
    p.set_defaults(func=cmd_export_html)

    p = sub.add_parser("bench", help="run benchmarks and print measured ratios")
    p.add_argument("lab", nargs="?", metavar="SLUG")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("verify", help="check the labs' declared paper claims over seeds (paper sizes by default)")
    p.add_argument("labs", nargs="*", metavar="SLUG", help="labs to verify (default: every lab with claims)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 for every claim (default: each claim's own)")
    p.add_argument("--quick", action="store_true", help="the quick sizes pytest uses instead of the paper's")
    p.add_argument("--json", metavar="PATH", help="also write the table and run info as JSON")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler instead of a local cluster")
    p.add_argument("--record", action="store_true",
                   help="keep each lab's outcomes as its recorded run (what notebooks and the README show)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("reproduce", help="run an exported figure's run again from its record; compare its metrics")
    p.add_argument("figure", metavar="FIGURE", help="a figure (.pdf/.svg/.png) or its .json sidecar")
    p.add_argument("--out", metavar="PATH", help="where to write the figure again (default: FIGURE.reproduced.EXT)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"),
                   help="run here instead of on the recorded device (default: the recorded one when present)")
    p.add_argument("--data", metavar="PATH",
                   help="the data file of a run on your own data (default: its recorded name, here or beside FIGURE)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reproduce)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except DivergenceError as exc:
        print(f"paperscope: stopped: {exc}", file=sys.stderr)
        return 1
    except PaperscopeError as exc:
        print(f"paperscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paperscope: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

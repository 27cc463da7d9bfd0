"""The ``paperscope`` command: list | serve | run | bench.

Bad input (unknown lab or parameter, wrong type, out-of-range value) ends with exit code 2 and
one line that names the problem and what is allowed, never a traceback.
"""

import argparse
import json
import sys
from pathlib import Path

from .core.errors import DivergenceError, PaperscopeError, ParamError

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
        print(lab.slug if args.names else f"{lab.slug}\t{lab.info.title}\t{lab.info.claim}")
    return 0


def cmd_run(args) -> int:
    from tqdm import tqdm

    from .core.device import resolve_device
    from .core.export import result
    from .core.params import apply_strings
    from .core.registry import get_lab
    from .core.runner import run_to_end

    lab = get_lab(args.lab)
    params = lab.Params.preset("quick" if args.quick else "default")
    assignments = dict(_parse_assignment(text) for text in args.set)
    if args.seed is not None:
        assignments["seed"] = str(args.seed)
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


def cmd_serve(args) -> int:
    from .ui.server import serve

    if args.address not in LOCAL_ADDRESSES and not args.allow_websocket_origin:
        raise ParamError(f"--address {args.address} is not local: also give --allow-websocket-origin "
                         "HOST[:PORT] for each address browsers will use")
    serve(args.labs, port=args.port, address=args.address, origins=args.allow_websocket_origin,
          show=not args.no_show)
    return 0


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


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="paperscope", description="Recent ML papers as live, interactive labs.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the labs, one per line, slug first")
    p.add_argument("--names", action="store_true", help="print slugs only")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("serve", help="serve the gallery (/) and each lab (/<slug>)")
    p.add_argument("labs", nargs="*", metavar="SLUG", help="labs to serve (default: all)")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="localhost", help="address to bind (default: localhost)")
    p.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST[:PORT]",
                   help="browser origins allowed to connect (repeatable); needed for a non-local address")
    p.add_argument("--no-show", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("run", help="run a lab headless; export its figure and metrics")
    p.add_argument("lab", metavar="SLUG")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds, for a first look)")
    p.add_argument("--seed", type=int, help="seed of every random generator")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a parameter (repeatable)")
    p.add_argument("--export", metavar="PATH", help="write the figure (.pdf/.svg/.png) and PATH.json")
    p.add_argument("--json", metavar="PATH", help='write {"lab", "params", "metrics", "versions"}')
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bench", help="run benchmarks and print measured ratios")
    p.add_argument("lab", nargs="?", metavar="SLUG")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.set_defaults(func=cmd_bench)
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

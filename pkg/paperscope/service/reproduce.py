"""``paperscope reproduce FIGURE``: run a figure's run again and say whether its numbers came back.

The record comes from the figure file itself (PDF document info, SVG ``<metadata>``, PNG text
chunks: what :mod:`paperscope.views.figure` embeds) or from its ``.json`` sidecar. The run is
rebuilt from the recorded ``paperscope run`` command (checked against the recorded parameters),
on the recorded device when this machine has it and else on the current one, with the recorded
number of torch threads; the figure is written again (next to the original as
``NAME.reproduced.EXT``, or where asked) and every summary metric is compared.

The tolerance rule (:func:`tolerance`):

- same device and chip, same package versions, same clean commit, same torch thread count:
  bit-for-bit. Every lab draws its randomness from the seed through explicit generators, and
  the same kernels on the same chip with the same threads do the same floating-point operations
  in the same order, so any difference is a real change (CUDA kernels that use atomics are the
  known exception);
- the same kind of device, but another version, commit (or uncommitted changes) or thread
  count: relative ``1e-4`` (absolute ``1e-12``, for values at rounding level). These change the
  order of sums (a BLAS, a torch kernel or a thread split that cuts a reduction elsewhere):
  well-conditioned float64 results move at rounding level, float32 training and least-squares
  solves near their noise floor further; 1e-4 is far below what a figure shows and far below
  what a change to the computation moves;
- another kind of device (CPU vs GPU): relative ``1e-3`` (absolute ``1e-8``): GPU kernels use
  other reduction orders and fused multiply-adds throughout, and the gap grows over training.

Integers, booleans and text always compare exactly; NaN matches NaN. A metric that amplifies
rounding (an unstable baseline's loss, an ill-conditioned solve) can differ by more than these
outside the bit-for-bit case: the table shows it as not matching, with its relative difference.
"""

import argparse
import json
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.device import resolve_device
from ..core.errors import PaperscopeError, ParamError
from ..core.export import value_text
from ..core.params import apply_strings
from ..core.registry import get_lab
from ..core.runner import run_to_end
from ..views.figure import FORMATS, RECORD_KEY, RECORD_TAG, export

BIT_FOR_BIT = (0.0, 0.0)  # (relative, absolute) tolerances
SAME_DEVICE = (1e-4, 1e-12)
ACROSS_DEVICES = (1e-3, 1e-8)
SHOWN_LIST = 4  # a list metric longer than this shows as "[n values]"


@dataclass(frozen=True)
class Row:
    """One metric: recorded, now, whether they match under the rule, and how far apart."""

    metric: str
    recorded: object
    now: object
    match: bool
    difference: float  # largest relative difference (0 when equal, inf when not comparable)


@dataclass
class Outcome:
    """What :func:`reproduce` found."""

    source: str  # where the record came from
    command: str
    rule: str  # the tolerance applied, in words
    differences: list[str]  # versions, commit, device ... that differ from the record
    rows: list[Row]
    figure: Path
    sidecar: Path
    notices: list[str] = field(default_factory=list)
    incomplete: bool = False  # the figure was exported before its run finished: nothing to confirm

    @property
    def match(self) -> bool:
        return bool(self.rows) and all(row.match for row in self.rows) and not self.incomplete


# -- reading the record ----------------------------------------------------------------------
def read_record(path: str | Path) -> tuple[dict, str]:
    """The provenance record of a figure (``.pdf``/``.svg``/``.png``) or of its ``.json``
    sidecar, and where it was found. A figure without an embedded record falls back to its
    sidecar next to it."""
    path = Path(path)
    if not path.is_file():
        raise PaperscopeError(f"{path}: no such file")
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "json":
        try:
            return json.loads(path.read_text()), "sidecar"
        except json.JSONDecodeError as exc:
            raise PaperscopeError(f"{path.name} is not a paperscope sidecar: {exc}") from None
    readers = {"pdf": _pdf_record, "svg": _svg_record, "png": _png_record}
    if fmt not in readers:
        raise PaperscopeError(f"cannot read {path.name!r}: give a .pdf, .svg, .png figure or its .json sidecar")
    text = readers[fmt](path)
    if text is not None:
        try:
            return json.loads(text), f"{fmt.upper()} metadata"
        except json.JSONDecodeError as exc:
            raise PaperscopeError(f"{path.name}: its paperscope record is damaged ({exc})") from None
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        return read_record(sidecar)
    raise PaperscopeError(f"{path.name} carries no paperscope record (a figure from before records were "
                          "embedded, or rewritten by another tool) and has no .json sidecar beside it")


def _pdf_record(path: Path) -> str | None:
    """The record from the PDF document info. matplotlib writes the info dictionary as plain
    (uncompressed) PDF syntax, the record as a string under ``/Paperscope``; an incremental
    update appends a newer dictionary, so the last one wins."""
    data = path.read_bytes()
    found = list(re.finditer(rb"/" + RECORD_KEY.encode() + rb"\s*([(<])", data))
    if not found:
        return None
    start = found[-1].end(1)
    raw = _pdf_literal(data, start) if found[-1].group(1) == b"(" else _pdf_hex(data, start)
    if raw.startswith(b"\xfe\xff"):  # a UTF-16BE text string (non-ASCII text)
        return raw[2:].decode("utf-16-be")
    return raw.decode("latin-1")


_PDF_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


def _pdf_literal(data: bytes, i: int) -> bytes:
    """A PDF literal string's bytes from just after its ``(`` (PDF 32000-1, 7.3.4.2): balanced
    parentheses nest, backslash escapes one character, an octal code, or a line end."""
    out, depth = bytearray(), 1
    while i < len(data):
        c = data[i]
        if c == 0x5C and i + 1 < len(data):  # backslash
            nxt = data[i + 1]
            if nxt in _PDF_ESCAPES:
                out += _PDF_ESCAPES[nxt]
                i += 2
            elif 0x30 <= nxt <= 0x37:  # \ddd, one to three octal digits
                digits = re.match(rb"[0-7]{1,3}", data[i + 1:i + 4]).group()
                out.append(int(digits, 8) & 0xFF)
                i += 1 + len(digits)
            elif nxt in b"\r\n":  # a line continuation
                i += 3 if data[i + 1:i + 3] == b"\r\n" else 2
            else:  # \( \) \\ and any other character stand for themselves
                out.append(nxt)
                i += 2
            continue
        depth += (c == 0x28) - (c == 0x29)
        if depth == 0:
            return bytes(out)
        out.append(c)
        i += 1
    raise PaperscopeError("the PDF's paperscope record is cut off")


def _pdf_hex(data: bytes, i: int) -> bytes:
    end = data.find(b">", i)
    if end < 0:
        raise PaperscopeError("the PDF's paperscope record is cut off")
    digits = re.sub(rb"\s", b"", data[i:end])
    return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())


def _svg_record(path: Path) -> str | None:
    import xml.etree.ElementTree as ET

    try:
        element = ET.parse(path).getroot().find(f".//{RECORD_TAG}")
    except ET.ParseError as exc:
        raise PaperscopeError(f"{path.name} is not readable SVG: {exc}") from None
    return element.text if element is not None else None


def _png_record(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(RECORD_KEY)
    except OSError as exc:  # not a PNG, or a damaged one
        raise PaperscopeError(f"{path.name} is not a readable PNG: {exc}") from None


# -- rebuilding the run ----------------------------------------------------------------------
def _run_command_parser() -> argparse.ArgumentParser:
    """The options of ``paperscope run`` a recorded command uses (``cli`` sits above this layer)."""
    p = argparse.ArgumentParser(prog="paperscope run", add_help=False, exit_on_error=False)
    p.add_argument("lab")
    p.add_argument("--preset", default="default")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--export")
    p.add_argument("--data")
    p.add_argument("--json")
    p.add_argument("--no-progress", action="store_true")
    return p


def params_from_command(command: str, data: str | Path | None = None, folder: Path | None = None):
    """The lab and parameters a recorded ``paperscope run ...`` line sets, and its ``--export``.
    Its ``--data FILE`` is read from ``data`` when given, else as named, else from ``folder``."""
    words = shlex.split(command)
    if words[:2] != ["paperscope", "run"]:
        raise PaperscopeError(f"the recorded command is not a 'paperscope run' line: {command}")
    try:
        args, unknown = _run_command_parser().parse_known_args(words[2:])
    except argparse.ArgumentError as exc:
        raise PaperscopeError(f"cannot read the recorded command ({exc}): {command}") from None
    if unknown:
        raise PaperscopeError(f"the recorded command has options reproduce does not know: {' '.join(unknown)}")
    lab = get_lab(args.lab)
    params = lab.Params.preset("quick" if args.quick else args.preset)
    assignments = dict(_assignment(text) for text in args.set)
    if args.seed is not None:
        assignments["seed"] = str(args.seed)
    if args.data:
        assignments["data"] = _data_key(data or _data_file(args.data, folder))
    return lab, apply_strings(params, assignments), args.export


def _data_file(name: str, folder: Path | None) -> Path:
    for path in (Path(name), *([folder / name] if folder is not None else [])):
        if path.is_file():
            return path
    raise PaperscopeError(f"the run learnt from the data file {name!r}, which is neither here nor beside the "
                          "figure: give it with --data PATH")


def _data_key(path: Path) -> str:
    from ..core.data import use

    return use(Path(path))  # checked and registered; its key names its content


def _assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ParamError(f"--set expects name=value, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value


def rebuild(record: dict, data: str | Path | None = None, folder: Path | None = None):
    """The lab and parameters of a record: from its command, checked against its parameters (a
    record from before commands were recorded: from the parameters alone). A data file that is
    not the recorded one shows as a different ``data`` key."""
    recorded = record.get("params") or {}
    if not record.get("command"):
        lab = get_lab(record["lab"])
        known = lab.Params.names()
        return lab, apply_strings(lab.Params.preset("default"),
                                  {name: value_text(v) for name, v in recorded.items() if name in known})
    lab, params, _ = params_from_command(record["command"], data, folder)
    if lab.slug != record.get("lab", lab.slug):
        raise PaperscopeError(f"the recorded command runs {lab.slug}, the record is of {record['lab']}")
    rebuilt = params.values()
    wrong = [f"{name} (command: {rebuilt.get(name)!r}, record: {value!r})" for name, value in recorded.items()
             if name != "device" and rebuilt.get(name) != value]
    if wrong:
        raise PaperscopeError("the recorded command does not give the recorded parameters: " + "; ".join(wrong))
    return lab, params


def choose_device(record: dict, requested: str | None) -> tuple[str, str]:
    """The device to run on (``requested``, else the recorded one when this machine has it,
    else the current default) and a notice when it is not the recorded one."""
    recorded = str(record.get("device", "auto")).split(":")[0]
    if requested:
        return requested, ""
    try:
        resolve_device(recorded)
    except ParamError as exc:
        return "auto", f"the recorded device is not here ({exc}): running on {resolve_device('auto')}"
    return recorded, ""


# -- comparing -------------------------------------------------------------------------------
def environment_differences(recorded: dict, now: dict) -> list[str]:
    """What differs between the machine and code of two records, one line each."""
    lines = []
    for name, version in (recorded.get("versions") or {}).items():
        current = (now.get("versions") or {}).get(name)
        if current != version:
            lines.append(f"version of {name}: {current} here, {version} recorded")
    for key, what in (("git_commit", "commit"), ("device", "device"), ("device_name", "chip"),
                      ("threads", "torch threads")):
        if key not in recorded:  # a record from before it was kept
            lines.append(f"{what}: {now.get(key)} here, not recorded")
        elif recorded[key] != now.get(key):
            lines.append(f"{what}: {now.get(key)} here, {recorded[key]} recorded")
    return lines


def tolerance(recorded: dict, now: dict) -> tuple[tuple[float, float], str]:
    """The (relative, absolute) tolerance of the rule in the module docstring, and the rule in words."""
    same_device = str(recorded.get("device")) == str(now.get("device"))
    clean = "+dirty" not in str(recorded.get("git_commit")) and recorded.get("git_commit") is not None
    if not environment_differences(recorded, now) and clean:
        return BIT_FOR_BIT, "bit-for-bit (same device, chip, versions, threads and clean commit)"
    if same_device:
        why = "" if clean else "; the recorded commit had uncommitted changes"
        return SAME_DEVICE, f"within relative {SAME_DEVICE[0]:g} (same device, other versions or code{why})"
    return ACROSS_DEVICES, f"within relative {ACROSS_DEVICES[0]:g} (another device)"


def flatten(metrics, prefix: str = "") -> dict:
    """Dotted name -> value for every leaf of nested metrics; a list of plain values stays one leaf."""
    if isinstance(metrics, dict):
        out = {}
        for key, value in metrics.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(metrics, list) and any(isinstance(v, (dict, list)) for v in metrics):
        out = {}
        for i, value in enumerate(metrics):
            out.update(flatten(value, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: metrics}


def difference(a, b, rtol: float, atol: float) -> tuple[bool, float]:
    """Whether two leaves match under the tolerance, and their largest relative difference."""
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return False, math.inf
        pairs = [difference(x, y, rtol, atol) for x, y in zip(a, b)]
        return all(ok for ok, _ in pairs), max((d for _, d in pairs), default=0.0)
    if isinstance(a, bool) or isinstance(b, bool) or not (_is_number(a) and _is_number(b)):
        return a == b, (0.0 if a == b else math.inf)
    if isinstance(a, int) and isinstance(b, int):  # counts compare exactly
        return a == b, (0.0 if a == b else abs(a - b) / max(abs(a), abs(b)))
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return (a == b or (math.isnan(a) and math.isnan(b))), (0.0 if a == b else math.inf)
    gap = abs(a - b)
    relative = gap / max(abs(a), abs(b)) if gap else 0.0
    return gap <= max(rtol * max(abs(a), abs(b)), atol), relative


def _is_number(value) -> bool:
    return isinstance(value, (int, float))


def compare(recorded: dict, now: dict, rtol: float, atol: float) -> list[Row]:
    """One row per metric leaf of either record (one missing on a side does not match)."""
    old, new = flatten(recorded or {}), flatten(now or {})
    missing = object()
    rows = []
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name, missing), new.get(name, missing)
        if a is missing or b is missing:
            rows.append(Row(name, None if a is missing else a, None if b is missing else b, False, math.inf))
            continue
        ok, gap = difference(a, b, rtol, atol)
        rows.append(Row(name, a, b, ok, gap))
    return rows


# -- the whole round -------------------------------------------------------------------------
def reproduced_path(path: Path) -> Path:
    """Where the figure is written again by default: ``NAME.reproduced.EXT`` beside the original
    (``FIG.pdf`` or ``FIG.pdf.json`` -> ``FIG.reproduced.pdf``), never over it."""
    figure = path.with_suffix("") if path.suffix.lower() == ".json" else path
    fmt = figure.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        fmt = "pdf"
        figure = figure.with_name(figure.name + ".pdf")
    return figure.with_name(f"{figure.stem}.reproduced.{fmt}")


def reproduce(path: str | Path, out: str | Path | None = None, device: str | None = None,
              on_frame: Callable | None = None, data: str | Path | None = None) -> Outcome:
    """Run ``path``'s recorded run again, write its figure to ``out`` (default
    :func:`reproduced_path`) with a sidecar, and compare the summary metrics. ``data``: the
    user's data file of a run that learnt from one (default: the recorded file name, as given
    or beside the figure)."""
    path = Path(path)
    record, source = read_record(path)
    if "params" not in record or "lab" not in record:  # a sweep's or a room's figure: many runs, not one
        if "runs" in record:  # the instructor console's room figure: every run has its own command
            raise PaperscopeError(f"{path.name} is a room's figure of {len(record['runs'])} runs: each run's "
                                  "`paperscope run` command and app link are in its record's runs")
        what = "a sweep's figure" if "grid" in record else "not the figure of one run"
        raise PaperscopeError(f"{path.name} is {what}: run its recorded command again: "
                              f"{record.get('command', '(none recorded)')}")
    lab, params = rebuild(record, data, path.parent)
    device, notice = choose_device(record, device)
    params.device = device
    notices = [notice] if notice else []
    incomplete = record.get("complete") is False
    if incomplete:
        notices.append(f"the figure was exported at step {record.get('step')} of {record.get('total_steps')}, "
                       "before its run finished; the run goes to the end")
    threads = record.get("threads")
    frame = run_to_end(lab.run, params, on_frame, threads=threads)
    figure, sidecar = export(lab, params, frame, Path(out) if out else reproduced_path(path),
                             threads=threads)
    now = json.loads(sidecar.read_text())
    (rtol, atol), rule = tolerance(record, now)
    return Outcome(source=source, command=record.get("command") or now["command"], rule=rule,
                   differences=environment_differences(record, now),
                   rows=compare(record.get("metrics"), now["metrics"], rtol, atol),  # both read back from JSON
                   figure=figure, sidecar=sidecar, notices=notices, incomplete=incomplete)


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list) and len(value) > SHOWN_LIST:
        return f"[{len(value)} values]"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def table(outcome: Outcome) -> str:
    """The report: metric, recorded, now, match (with the relative difference where not equal)."""
    rows = [("metric", "recorded", "now", "match")]
    for row in outcome.rows:
        verdict = "yes" if row.match else "NO"
        if row.difference and math.isfinite(row.difference):
            verdict += f" (rel. diff {row.difference:.2g})"
        rows.append((row.metric, _shown(row.recorded), _shown(row.now), verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths)) + "  " + r[3] for r in rows)


def summary(outcome: Outcome) -> str:
    """The lines around the table: the record's source, the command, what differs, the verdict."""
    lines = [f"record from the {outcome.source}", f"command: {outcome.command}", *outcome.notices]
    lines += outcome.differences or ["same versions, commit, device and threads as recorded"]
    failed = sum(not row.match for row in outcome.rows)
    verdict = (f"MATCH: all {len(outcome.rows)} metrics {outcome.rule}" if outcome.match else
               f"DIFFERENT: {failed} of {len(outcome.rows)} metrics do not match {outcome.rule}"
               + ("; the recorded run had not finished" if outcome.incomplete else ""))
    lines += [verdict, f"wrote {outcome.figure} and {outcome.sidecar}"]
    return "\n".join(lines)

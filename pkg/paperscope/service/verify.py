"""``paperscope verify``: every declared claim of the chosen labs, at the paper's sizes (or the
quick ones), over seeds, on Dask.

One task per (measurement, size, seed), shared by every claim that reads it; each runs on one
torch thread in a worker process (a local cluster, or any scheduler given). The claims are then
evaluated here and printed as one row each: lab, claim, values per seed, threshold, worst margin
and PASS / FAIL / KNOWN-FAIL / UNEXPECTED-PASS (ERROR when the measurement raised).
"""

import datetime
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from .. import claims as declared_claims
from ..core import claims as cl
from ..core.device import apply_thread_policy
from ..core.errors import ParamError
from ..core.export import code_version
from ..core.files import atomic_write
from ..core.registry import all_labs, get_lab
from ..core.runner import describe_error
from .sweep import connect, default_workers, one_line

TEXT_WIDTH = 64  # characters of a claim's wording in the printed table


@dataclass(frozen=True)
class Check:
    """One claim of one lab to check at a size over seeds."""

    lab: str
    claim: cl.Claim
    size: dict
    seeds: tuple

    def keys(self) -> list[tuple]:
        """The tasks it needs: (measurement name, size as JSON, seed)."""
        return [(*cl.size_key(self.claim.measure, self.size), seed) for seed in self.seeds]


def plan(slugs: list[str], quick: bool = False, seeds: int | None = None) -> list[Check]:
    """The checks of the named labs (all labs with claims when none are named)."""
    if seeds is not None and seeds < 1:
        raise ParamError(f"--seeds {seeds}: expected at least 1")
    named = [get_lab(s).slug for s in slugs] if slugs else [lab.slug for lab in all_labs()]
    declared = {slug: cl.claims_of(slug) for slug in named}
    if slugs and (bare := [slug for slug, claims in declared.items() if not claims]):
        raise ParamError(f"no claims are declared for {', '.join(bare)}")
    return [Check(slug, claim, claim.size(quick), cl.seeds_of(claim, seeds, quick))
            for slug, claims in declared.items() for claim in claims]


def undeclared(checks: list[Check]) -> list[str]:
    """Registered labs that declare no claims (yet)."""
    return [lab.slug for lab in all_labs() if lab.slug not in {c.lab for c in checks}]


def measure(measurement: cl.Measurement, size: dict, seed: int, threads: int = 1):
    """One seed of one measurement (runs on a worker; a top-level function so Dask sends it by
    reference)."""
    apply_thread_policy(threads)  # workers share the cores: one intra-op thread each
    return measurement.run((seed,), size)[0]


def execute(checks: list[Check], scheduler: str | None = None, workers: int | None = None,
            progress: bool = True) -> tuple[list[cl.Outcome], dict]:
    """Run every needed task once on Dask, then evaluate each claim; returns the outcomes and
    run info (seconds, workers, scheduler, tasks)."""
    from distributed import as_completed
    from tqdm import tqdm

    tasks = {key: (check.claim.measure, check.size, key[-1]) for check in checks for key in check.keys()}
    workers = workers or default_workers(gpu=False)
    start = time.perf_counter()
    results, errors = {}, {}
    client, cluster = connect(scheduler, workers, gpu=False, dashboard=False)
    try:
        futures = {client.submit(measure, *task, pure=False, key=f"verify-{i}"): key
                   for i, (key, task) in enumerate(tasks.items())}
        with tqdm(total=len(futures), desc="verify", unit="task", disable=not progress) as bar:
            for future in as_completed(futures):
                key = futures[future]
                try:
                    results[key] = future.result()
                except Exception as exc:  # reported on the claims that need it; the others go on
                    errors[key] = one_line(describe_error(exc))
                bar.update()
        info = {"scheduler": scheduler or "local", "workers": len(client.nthreads()), "tasks": len(tasks)}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    info["seconds"] = round(time.perf_counter() - start, 2)
    return [outcome(check, results, errors) for check in checks], info


def outcome(check: Check, results: dict, errors: dict) -> cl.Outcome:
    """Evaluate one claim from its tasks' results (ERROR if one failed or the claim's value raised)."""
    failed = [errors[k] for k in check.keys() if k in errors]
    if failed:
        return cl.failed(check.lab, check.claim, check.seeds, failed[0])
    try:
        return cl.evaluate(check.lab, check.claim, check.seeds, [results[k] for k in check.keys()])
    except Exception as exc:
        return cl.failed(check.lab, check.claim, check.seeds, one_line(describe_error(exc)))


def passed(outcomes: list[cl.Outcome]) -> bool:
    """True when no claim FAILed, passed UNEXPECTEDly or could not be measured."""
    return not any(o.status in cl.BAD for o in outcomes)


def _number(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3g}"


def table(outcomes: list[cl.Outcome]) -> str:
    """The printed table: one row per claim, columns left-aligned."""
    def short(text: str) -> str:
        return text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"

    head = ("lab", "claim", "wording", "values (per seed)", "threshold", "worst margin", "status")
    rows = [(o.lab, o.claim.id, short(o.claim.text), " ".join(_number(v) for v in o.values) or "-",
             f"{o.claim.direction} {o.claim.threshold:g}", _number(o.worst_margin), o.status) for o in outcomes]
    widths = [max(len(r[k]) for r in (head, *rows)) for k in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in (head, *rows)]
    lines += [f"{o.lab} {o.claim.id}: {o.error}" for o in outcomes if o.error]
    return "\n".join(lines)


def report(checks: list[Check], outcomes: list[cl.Outcome], info: dict, quick: bool) -> dict:
    """What ``--json`` writes: one record per claim (with its size) and how the run was made."""
    return {"claims": [{**o.row(), "size": c.size} for c, o in zip(checks, outcomes)],
            "run": {**info, "quick": quick, "code": code_version(), "passed": passed(outcomes)}}


def write_json(path: str, record: dict) -> None:
    atomic_write(path, json.dumps(record, indent=2, default=str) + "\n")


def record(checks: list[Check], outcomes: list[cl.Outcome], info: dict, quick: bool) -> list[Path]:
    """Keep each lab's outcomes as its recorded run (``paperscope.claims.recorded``), the one
    place the notebooks and the README read measured numbers from. Only labs whose every
    declared claim was checked are recorded."""
    written = []
    for slug in dict.fromkeys(c.lab for c in checks):
        lab = get_lab(slug)
        rows = [{**o.row(), "size": c.size} for c, o in zip(checks, outcomes) if c.lab == slug]
        if len(rows) != len(cl.claims_of(slug)):
            continue
        entry = {"lab": slug, "size": "quick" if quick else "paper",
                 "date": datetime.date.today().isoformat(), "code": code_version(),
                 "seconds": round(info["seconds"], 1), "workers": info["workers"], "claims": rows}
        path = declared_claims.recorded_path(lab.name)
        written.append(atomic_write(path, json.dumps(entry, indent=1, default=str) + "\n"))
    return written

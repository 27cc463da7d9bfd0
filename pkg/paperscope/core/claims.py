"""Claims: each lab's paper claims declared once, checked by pytest (quick sizes) and by
``paperscope verify`` (the paper's sizes).

A :class:`Measurement` is the expensive part (a training run, a grid of fits), computed once per
(size, seed) and shared by every claim that reads it. A :class:`Claim` reads one number from a
seed's measurement (or, ``pooled``, from all seeds' together) and compares it with a threshold::

    RUNS = Measurement(runs_at)  # runs_at(seed, n, reps) -> dict of numbers / arrays
    CLAIMS = [Claim("C1", "the reused holdout overfits", RUNS, lambda r: r["gap"], 0.07, ">=",
                    quick={"n": 500}, paper={"n": 2000}, seeds=5)]

Declarations live in ``paperscope.claims.<lab module>`` as ``CLAIMS``; measured numbers never
live in text: they come from running the claims (``paperscope verify --json``).
"""

import importlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .registry import get_lab

PASS, FAIL, KNOWN_FAIL, UNEXPECTED_PASS, ERROR = "PASS", "FAIL", "KNOWN-FAIL", "UNEXPECTED-PASS", "ERROR"
BAD = (FAIL, UNEXPECTED_PASS, ERROR)  # statuses that make a check fail
# A claim holds when ``value <direction> threshold``; strict directions keep an assertion's
# ``<``/``>`` exact where values are counts.
DIRECTIONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Measurement:
    """An expensive computation that several claims of one lab share.

    ``fn(seed, **size)`` returns one seed's result; with ``batched``, ``fn(seeds, **size)`` takes a
    tuple of consecutive seeds and returns one result per seed (the seeds run as lanes of one
    batched computation, as the lab's own tests do, and each lane equals a single-seed run).
    ``fn`` must be a module-level function and its results picklable (numbers, numpy arrays,
    dicts of them): ``verify`` runs it in worker processes.
    """

    fn: Callable
    batched: bool = False

    @property
    def name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    def run(self, seeds: Sequence[int], size: Mapping) -> list:
        """One result per seed, in order."""
        if not self.batched:
            return [self.fn(seed, **size) for seed in seeds]
        results = []
        for run in consecutive(seeds):
            got = list(self.fn(run, **size))
            if len(got) != len(run):
                raise ValueError(f"{self.name} returned {len(got)} results for {len(run)} seeds")
            results += got
        return results


def consecutive(seeds: Sequence[int]) -> list[tuple[int, ...]]:
    """``(0, 1, 2, 5)`` -> ``[(0, 1, 2), (5,)]``: the runs a batched measurement takes as lanes."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return [tuple(run) for run in runs]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper: ``value(result) <direction> threshold`` on every seed.

    ``quick``: keyword arguments of ``measure`` in pytest (the lab's test sizes); ``paper``: those
    ``paperscope verify`` uses by default (None: the same as ``quick``). ``pooled``: ``value``
    takes the list of all seeds' results and returns one number (a median over seeds, say).
    ``quick_seeds``: fewer seeds at the quick size (pytest) for a claim whose quick measurement is
    expensive; ``verify`` at the paper's size still checks all ``seeds``.
    ``known_fail``: why the claim is declared not to reproduce (no numbers: verify measures them);
    it reads KNOWN-FAIL when it fails and UNEXPECTED-PASS when it holds, like a strict xfail.
    """

    id: str
    text: str
    measure: Measurement
    value: Callable
    threshold: float
    direction: str = ">="
    quick: Mapping = field(default_factory=dict)
    paper: Mapping | None = None
    seeds: int = 3
    quick_seeds: int | None = None
    pooled: bool = False
    known_fail: str | None = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.id}: direction {self.direction!r} is not one of {list(DIRECTIONS)}")

    def size(self, quick: bool) -> dict:
        """The measurement's keyword arguments at quick or paper size."""
        return dict(self.quick if quick or self.paper is None else self.paper)


@dataclass(frozen=True)
class Outcome:
    """A claim checked: one value per seed (one in all when pooled), its margin and status."""

    lab: str
    claim: Claim
    seeds: tuple
    values: tuple
    margins: tuple
    status: str
    error: str | None = None

    @property
    def worst_margin(self) -> float:
        """The smallest margin (NaN when nothing was measured)."""
        return min(self.margins, default=math.nan)

    def row(self) -> dict:
        """A plain record for tables and JSON."""
        c = self.claim
        worst = None if math.isnan(self.worst_margin) else self.worst_margin  # JSON has no NaN or inf
        values = [v if math.isfinite(v) else str(v) for v in self.values]
        return {"lab": self.lab, "claim": c.id, "text": c.text, "seeds": list(self.seeds),
                "values": values, "direction": c.direction, "threshold": c.threshold,
                "worst_margin": worst, "status": self.status, "known_fail": c.known_fail, "error": self.error}


def margin(value: float, threshold: float, direction: str) -> float:
    """Signed distance to the threshold, positive on the passing side."""
    return value - threshold if direction in (">=", ">") else threshold - value


def holds(value: float, claim: Claim) -> bool:
    return not math.isnan(value) and DIRECTIONS[claim.direction](value, claim.threshold)


def evaluate(lab: str, claim: Claim, seeds: Sequence[int], results: Sequence) -> Outcome:
    """Check a claim against its measurement's per-seed ``results`` (in the order of ``seeds``)."""
    values = [claim.value(results)] if claim.pooled else [claim.value(r) for r in results]
    values = tuple(float(v) for v in values)
    passed = all(holds(v, claim) for v in values)
    if claim.known_fail:
        status = UNEXPECTED_PASS if passed else KNOWN_FAIL
    else:
        status = PASS if passed else FAIL
    return Outcome(lab, claim, tuple(seeds), values,
                   tuple(margin(v, claim.threshold, claim.direction) for v in values), status)


def failed(lab: str, claim: Claim, seeds: Sequence[int], error: str) -> Outcome:
    """The outcome of a claim whose measurement raised."""
    return Outcome(lab, claim, tuple(seeds), (), (), ERROR, error)


def seeds_of(claim: Claim, seeds: int | None = None, quick: bool = False) -> tuple[int, ...]:
    """Seeds 0 .. n-1, n from the command line or the claim's declaration (``quick_seeds`` at
    the quick size where it declares them)."""
    return tuple(range(seeds or (quick and claim.quick_seeds) or claim.seeds))


def size_key(measurement: Measurement, size: Mapping) -> tuple[str, str]:
    """What identifies a measurement's computation apart from the seed."""
    return measurement.name, json.dumps(size, sort_keys=True, default=str)


def claims_of(slug: str) -> list[Claim]:
    """The claims declared for a lab, [] if none are: ``paperscope.claims.<name>.CLAIMS`` for a
    built-in lab, the lab module's own ``CLAIMS`` for one installed from another package."""
    lab = get_lab(slug)
    if not lab.builtin:
        return list(getattr(lab.module, "CLAIMS", []))
    name = f"paperscope.claims.{lab.name}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # a missing dependency inside the declarations is a real error
            raise
        return []
    return list(module.CLAIMS)


class MeasurementCache:
    """Results per (measurement, size, seed), computed on first use: the claims of a lab share
    one computation per seed. Seeds missing together are computed in one (batched) call."""

    def __init__(self):
        self._results: dict = {}

    def results(self, measurement: Measurement, size: Mapping, seeds: Sequence[int]) -> list:
        key = size_key(measurement, size)
        missing = tuple(s for s in seeds if (key, s) not in self._results)
        if missing:
            for seed, result in zip(missing, measurement.run(missing, size)):
                self._results[key, seed] = result
        return [self._results[key, s] for s in seeds]

    def check(self, lab: str, claim: Claim, quick: bool = True, seeds: int | None = None) -> Outcome:
        """Measure (or reuse) and evaluate one claim."""
        chosen = seeds_of(claim, seeds, quick)
        return evaluate(lab, claim, chosen, self.results(claim.measure, claim.size(quick), chosen))

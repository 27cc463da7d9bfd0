"""The claim vocabulary: margins, statuses (strict known-fail), shared and batched measurements."""

import dataclasses
import math

import pytest

from paperscope.core import claims as cl

CALLS = []


def squares(seed, scale):
    CALLS.append(("one", seed))
    return {"x": scale * seed**2}


def lanes(seeds, scale):
    CALLS.append(("batch", seeds))
    return [{"x": scale * s**2} for s in seeds]


def claim(threshold=5.0, direction="<=", known_fail=None, measure=cl.Measurement(squares), **kw):
    return cl.Claim("C1", "x stays small", measure, value=lambda r: r["x"], threshold=threshold,
                    direction=direction, known_fail=known_fail, quick={"scale": 1.0}, **kw)


@pytest.mark.parametrize("direction, value, expected", [("<=", 3, 2), (">=", 3, -2), ("<", 5, 0), (">", 7, 2)])
def test_margin_is_signed_towards_passing(direction, value, expected):
    assert cl.margin(value, 5, direction) == expected


def test_statuses_follow_a_strict_xfail():
    seeds, results = (0, 1, 2), [{"x": 1.0}, {"x": 4.0}, {"x": 9.0}]
    assert cl.evaluate("lab", claim(10), seeds, results).status == cl.PASS
    fail = cl.evaluate("lab", claim(5), seeds, results)
    assert fail.status == cl.FAIL and fail.values == (1, 4, 9) and fail.worst_margin == -4
    assert cl.evaluate("lab", claim(5, known_fail="why"), seeds, results).status == cl.KNOWN_FAIL
    assert cl.evaluate("lab", claim(10, known_fail="why"), seeds, results).status == cl.UNEXPECTED_PASS
    strict = cl.evaluate("lab", claim(9, direction="<"), seeds, results)
    assert strict.status == cl.FAIL and strict.margins == (8, 5, 0)
    assert cl.evaluate("lab", claim(0, direction=">="), (0,), [{"x": math.nan}]).status == cl.FAIL
    with pytest.raises(ValueError, match="direction"):
        claim(direction="=<")


def test_pooled_claims_read_all_seeds_at_once():
    pooled = cl.Claim("C3", "median", cl.Measurement(squares), value=lambda rs: sorted(r["x"] for r in rs)[1],
                      threshold=1.0, pooled=True)
    out = cl.evaluate("lab", pooled, (0, 1, 2), [{"x": 0}, {"x": 1}, {"x": 4}])
    assert out.values == (1.0,) and out.status == cl.PASS
    assert out.row()["values"] == [1.0] and out.row()["seeds"] == [0, 1, 2]


def test_claims_share_one_measurement_per_size_and_seed():
    CALLS.clear()
    cache = cl.MeasurementCache()
    for threshold in (5.0, 10.0):
        cache.check("lab", claim(threshold), quick=True)
    assert CALLS == [("one", 0), ("one", 1), ("one", 2)]
    assert cache.check("lab", claim(5.0), seeds=4).values == (0, 1, 4, 9)
    assert CALLS[-1] == ("one", 3)  # only the new seed


def test_batched_measurements_run_consecutive_seeds_as_lanes():
    CALLS.clear()
    batched = cl.Measurement(lanes, batched=True)
    assert batched.run((0, 1, 2, 5), {"scale": 2.0}) == [{"x": 0}, {"x": 2}, {"x": 8}, {"x": 50}]
    assert CALLS == [("batch", (0, 1, 2)), ("batch", (5,))]
    assert cl.consecutive(()) == []


def test_sizes_and_declarations():
    c = claim(paper={"scale": 3.0})
    assert c.size(quick=True) == {"scale": 1.0} and c.size(quick=False) == {"scale": 3.0}
    assert claim().size(quick=False) == {"scale": 1.0}  # no paper size: the quick one
    assert cl.seeds_of(c) == (0, 1, 2) and cl.seeds_of(c, 5) == (0, 1, 2, 3, 4)
    fewer = dataclasses.replace(c, quick_seeds=2)  # an expensive quick measurement
    assert cl.seeds_of(fewer, quick=True) == (0, 1) and cl.seeds_of(fewer) == (0, 1, 2)
    assert cl.seeds_of(fewer, 4, quick=True) == (0, 1, 2, 3)  # the command line wins
    declared = cl.claims_of("vr-halpern")
    assert declared and all(isinstance(d, cl.Claim) for d in declared)
    assert len({d.id for d in declared}) == len(declared)  # ids name rows and tests

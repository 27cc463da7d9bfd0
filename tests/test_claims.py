"""Every declared paper claim (``paperscope.claims``), checked at its quick size over its seeds.

One test class per lab: ``pytest-xdist --dist loadscope`` sends a class to one worker, so labs
run in parallel while a lab's claims share one class-scoped measurement cache (one computation
per (measurement, size, seed)). A known-fail claim that holds fails its test, as a strict xfail.
"""

import json

import pytest

from paperscope.claims import recorded
from paperscope.core import claims as cl
from paperscope.core.registry import all_labs, get_lab


def _claim_class(lab: str, declared: list) -> type:
    class LabClaims:
        @pytest.fixture(scope="class")
        def cache(self):
            return cl.MeasurementCache()

        @pytest.mark.claim
        @pytest.mark.parametrize("claim", declared, ids=[c.id for c in declared])
        def test_claim(self, claim, cache):
            outcome = cache.check(lab, claim, quick=True)
            detail = f"{claim.text}: values {outcome.values} vs {claim.direction} {claim.threshold:g}"
            if outcome.status == cl.KNOWN_FAIL:
                pytest.xfail(f"{claim.known_fail} ({detail})")
            assert outcome.status == cl.PASS, f"{outcome.status}: {detail}"

    LabClaims.__name__ = LabClaims.__qualname__ = f"Test_{lab.replace('-', '_')}"
    return LabClaims


for _slug in (lab.slug for lab in all_labs()):
    if _declared := cl.claims_of(_slug):
        globals()[f"Test_{_slug.replace('-', '_')}"] = _claim_class(_slug, _declared)


@pytest.mark.parametrize("slug", [lab.slug for lab in all_labs() if lab.builtin and cl.claims_of(lab.slug)])
def test_a_recorded_run_matches_the_declarations(slug):
    """The recorded verify run (what notebooks and the README show) checked these very claims:
    re-record with `paperscope verify SLUG --record` after changing a declaration."""
    record = recorded(get_lab(slug).name)
    if record is None:
        pytest.skip(f"{slug}: no recorded run yet")
    as_json = lambda size: json.loads(json.dumps(size))  # tuples come back as lists
    declared = [(c.id, c.direction, c.threshold, c.known_fail, as_json(c.size(quick=record["size"] == "quick")))
                for c in cl.claims_of(slug)]
    rows = [(r["claim"], r["direction"], r["threshold"], r["known_fail"], r["size"]) for r in record["claims"]]
    assert rows == declared, f"{slug}: the recorded run is stale: paperscope verify {slug} --record"
    assert record["size"] == "paper", "the recorded run is at the paper's sizes"

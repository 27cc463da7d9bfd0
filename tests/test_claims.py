"""Every declared paper claim (``paperscope.claims``), checked at its quick size over its seeds.

One test class per lab: ``pytest-xdist --dist loadscope`` sends a class to one worker, so labs
run in parallel while a lab's claims share one class-scoped measurement cache (one computation
per (measurement, size, seed)). A known-fail claim that holds fails its test, as a strict xfail.
"""

import pytest

from paperscope.core import claims as cl
from paperscope.core.registry import all_labs


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

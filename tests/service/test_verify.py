"""`paperscope verify`: planning, evaluation with failed measurements, the table, and one real
run on a local Dask cluster at quick size."""

import json

import pytest

from paperscope.cli import main
from paperscope.core import claims as cl
from paperscope.core.errors import ParamError
from paperscope.service import verify


def first(seed):
    return {"x": float(seed)}


def check(known_fail=None, threshold=1.0):
    c = cl.Claim("C1", "x is small", cl.Measurement(first), value=lambda r: r["x"], threshold=threshold,
                 direction="<=", known_fail=known_fail)
    return verify.Check("toy", c, {}, (0, 1))


def test_plan_uses_paper_or_quick_sizes_and_seeds(monkeypatch):
    quick = verify.plan(["thresholdout"], quick=True)
    paper = verify.plan(["thresholdout"], seeds=2)
    assert [c.claim.id for c in quick] == [c.claim.id for c in paper]
    assert all(c.seeds == (0, 1) for c in paper) and quick[0].seeds == tuple(range(quick[0].claim.seeds))
    assert all(c.size == c.claim.size(quick=False) for c in paper)
    with pytest.raises(ParamError, match="at least 1"):
        verify.plan(["thresholdout"], seeds=0)
    declared = cl.claims_of
    monkeypatch.setattr(cl, "claims_of", lambda slug: [] if slug == "selu" else declared(slug))
    with pytest.raises(ParamError, match="no claims are declared for selu"):
        verify.plan(["thresholdout", "selu"])
    assert "selu" in verify.undeclared(paper) and "thresholdout" not in verify.undeclared(paper)


def test_outcomes_table_and_exit_status():
    c = check()
    keys = c.keys()
    ok = verify.outcome(c, {keys[0]: {"x": 0.0}, keys[1]: {"x": 1.0}}, {})
    broken = verify.outcome(c, {keys[0]: {"x": 0.0}}, {keys[1]: "RuntimeError: boom"})
    unexpected = verify.outcome(check(known_fail="declared"), {keys[0]: {"x": 0.0}, keys[1]: {"x": 1.0}}, {})
    assert (ok.status, broken.status, unexpected.status) == (cl.PASS, cl.ERROR, cl.UNEXPECTED_PASS)
    assert verify.passed([ok]) and not verify.passed([ok, broken]) and not verify.passed([unexpected])
    text = verify.table([ok, broken])
    assert "PASS" in text and "ERROR" in text and "toy C1: RuntimeError: boom" in text
    assert json.dumps(verify.report([c, c], [ok, broken], {"seconds": 1.0}, quick=True))  # no NaN


def test_verify_runs_a_lab_on_a_local_cluster(tmp_path, capsys):
    out = tmp_path / "verify.json"
    assert main(["verify", "dpp-least-squares", "--quick", "--seeds", "1", "--workers", "1",
                 "--json", str(out)]) == 0
    assert "C2" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert {r["status"] for r in record["claims"]} == {cl.PASS} and record["run"]["tasks"] == 3
    first = cl.claims_of("dpp-least-squares")[0]
    assert record["run"]["quick"] and record["run"]["code"]
    assert record["claims"][0]["size"] == json.loads(json.dumps(first.size(quick=True)))  # the quick size

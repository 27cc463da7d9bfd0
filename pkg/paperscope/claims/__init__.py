"""Each lab's paper claims, declared once (``CLAIMS``, a list of ``core.claims.Claim``) in a
module named after the lab's; pytest checks them at quick sizes and ``paperscope verify`` at the
paper's. They may import the lab's computation, never a UI library.

What the claims measured lives in one place: ``recorded/<lab module>.json``, written by
``paperscope verify --record`` (the values per seed, margins and statuses of the last recorded
run, with its size, date and code version). The notebooks' "What reproduced" cell and the
README's table read it; numbers are never copied into docstrings or text.
"""

import json
from pathlib import Path

RECORDED = Path(__file__).with_name("recorded")


def recorded_path(module_name: str) -> Path:
    return RECORDED / f"{module_name}.json"


def recorded(module_name: str) -> dict | None:
    """The last recorded ``verify`` run of a lab (``None`` if none was recorded)."""
    path = recorded_path(module_name)
    return json.loads(path.read_text()) if path.is_file() else None


def summary(record: dict | None) -> str:
    """One line for a table: how many claims held in the recorded run, and at which size."""
    if record is None:
        return "not recorded yet"
    statuses = [row["status"] for row in record["claims"]]
    held = statuses.count("PASS")
    parts = [f"{held} of {len(statuses)} hold"]
    for status, words in (("KNOWN-FAIL", "known to fail"), ("FAIL", "FAIL"),
                          ("UNEXPECTED-PASS", "unexpectedly pass"), ("ERROR", "could not run")):
        if count := statuses.count(status):
            parts.append(f"{count} {words}")
    return ", ".join(parts) + f" ({record['size']} size, {record['date']})"

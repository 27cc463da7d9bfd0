"""Each lab declares its paper once (``PAPER``); the README table and the notebooks agree with it,
and listing labs reads the declarations without importing any lab's compute."""

import json
import subprocess
import sys

import pytest

from paperscope.cli import readme_table
from paperscope.core.paper import PaperDeclarationError, read_paper
from paperscope.core.registry import all_labs

LABS = all_labs()


def test_readme_table_is_the_declarations(root):
    """Regenerate it with `paperscope readme-table` when a declaration changes."""
    table = readme_table(LABS).splitlines()
    readme = (root / "README.md").read_text().splitlines()
    start = readme.index(table[0])
    assert readme[start:start + len(table)] == table, "README's lab table differs: run `paperscope readme-table`"
    assert not readme[start + len(table)].startswith("|"), "README's table has rows no lab declares"


@pytest.mark.parametrize("lab", [lab for lab in LABS if lab.builtin], ids=lambda lab: lab.slug)
def test_notebook_opens_with_the_declared_paper(lab, root):
    cell = json.loads((root / f"notebooks/{lab.name}.ipynb").read_text())["cells"][0]
    text = "".join(cell["source"])
    assert cell["cell_type"] == "markdown" and text.startswith("# ")
    paper = lab.paper
    assert paper.paper_title in text and paper.arxiv in text
    missing = [name for name in paper.authors.split(", ") if name not in text]
    assert not missing, f"{lab.slug}: the notebook's first cell does not name {missing}"


def test_the_static_reading_is_what_the_module_defines():
    from paperscope.labs import vr_halpern

    assert read_paper("paperscope.labs.vr_halpern") == vr_halpern.PAPER


def test_every_declaration_is_complete():
    for lab in LABS:
        paper = lab.paper
        assert paper.claim and paper.authors and paper.venue and paper.checked, lab.slug
        assert 1 <= len(paper.equations) <= 4 and paper.topics, lab.slug
        # The app header typesets them from Markdown, which turns & into &amp; before MathJax
        assert not any("&" in eq for eq in paper.equations), f"{lab.slug}: no alignment (&) in equations"


def test_a_declaration_must_be_literal(tmp_path, monkeypatch):
    (tmp_path / "computed_lab.py").write_text(
        'from paperscope.core.paper import Paper\nTITLE = "x"\n'
        'PAPER = Paper(slug="x", title=TITLE, paper_title="", authors="", venue="", arxiv="", claim="")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PaperDeclarationError, match=r"computed_lab\.py:3: PAPER's title= must be a literal"):
        read_paper("computed_lab")


@pytest.mark.parametrize("code", [
    "from paperscope.cli import main; main(['list'])",
    "from paperscope.ui.gallery import gallery; gallery()",
])
def test_listing_imports_no_lab_compute(code):
    probe = (f"import sys; {code}; "
             "print('MODULES', [m for m in sys.modules if m.startswith('paperscope.labs.')], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    line = out.splitlines()[-1]
    assert line.startswith("MODULES []"), line
    if "main(['list'])" in code:
        assert line.endswith("False"), "`paperscope list` should not even import torch"

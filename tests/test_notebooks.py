"""Notebooks are committed without outputs, and every one runs top to bottom at quick size in a
headless kernel (nbclient): no cell raises and the figure is exported. A real JupyterLab in the
browser tests (``tests/ui/test_notebooks_in_jupyterlab.py``) also sees what nbclient cannot,
the live app drawing: there for a few notebooks that cover the app's kinds of plot, or for all
with ``PAPERSCOPE_ALL_NOTEBOOKS=1`` (one JupyterLab run costs about 30 s more than a headless
one, which at thirty labs the suite cannot afford)."""

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]  # (not conftest's: the browser tests import this module)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What the JupyterLab test runs (tests/ui/test_notebooks_in_jupyterlab.py): the live app's kinds
# of plot, streamed curves and maps from torch (rich-lazy), comparisons with earlier runs
# (thresholdout). PAPERSCOPE_ALL_NOTEBOOKS=1 runs every notebook there.
IN_JUPYTERLAB = ("rich_lazy", "thresholdout")


def _run_in_jupyterlab(stem: str) -> bool:
    """Whether the browser tests run this notebook in JupyterLab, every cell included (they
    need Chromium): then it is not run a second time headless."""
    chromium = os.environ.get("PAPERSCOPE_CHROMIUM", "/usr/bin/chromium")
    return stem in IN_JUPYTERLAB and bool(shutil.which(chromium) or os.path.exists(chromium))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"][0].startswith("# ")
    for cell in cells:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name}: strip outputs"


def _headless_class(path) -> type:
    class Headless:
        @pytest.mark.timeout(600)
        @pytest.mark.parametrize("notebook", [path], ids=[path.stem])
        def test_runs_headless(self, notebook, tmp_path, monkeypatch):
            if _run_in_jupyterlab(notebook.stem):
                pytest.skip("the browser tests run this notebook in JupyterLab")
            monkeypatch.setenv("PAPERSCOPE_QUICK", "1")
            monkeypatch.setenv("PAPERSCOPE_DEVICE", "cpu")
            cells = nbformat.read(notebook, as_version=4)
            NotebookClient(cells, timeout=600, kernel_name="python3", shutdown_kernel="immediate",  # not ~3 s graceful
                           resources={"metadata": {"path": str(tmp_path)}}).execute()
            errors = [o for cell in cells.cells if cell.cell_type == "code" for o in cell.outputs
                      if o.output_type == "error"]
            assert not errors, f"{notebook.name}: {errors[0].ename}: {errors[0].evalue}"
            assert any(tmp_path.glob("*_figure.*")), f"{notebook.name}: the notebook exports a figure"

    Headless.__name__ = Headless.__qualname__ = f"TestHeadless_{path.stem}"
    return Headless


# One class per notebook: ``--dist loadscope`` sends a class to one worker, so the notebooks
# run in parallel (a module's plain functions would all go to one worker).
for _path in NOTEBOOKS:
    globals()[f"TestHeadless_{_path.stem}"] = _headless_class(_path)

"""Every notebook in a real JupyterLab, offline: Run All, then the live app's plots must fill in
as its run streams and redraw after a slider move, with no console errors. nbclient executes
cells without a front end and cannot see a plot that never draws (issue 11)."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import _free_port
from test_browser import wait_for

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_JS = (Path(__file__).parent / "notebook.js").read_text()
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK = "window.jupyterapp.shell.currentWidget"
KERNEL = f"{NOTEBOOK}?.sessionContext?.session?.kernel"
# Run All has finished: the kernel is idle and every code cell ran (or one raised, which stops it).
RUN_ALL_DONE = (f"{KERNEL}?.status === 'idle' && {NOTEBOOK}.content.widgets.every(c => c.model.type !== 'code'"
                " || c.model.executionCount !== null) || !!document.querySelector('.jp-OutputArea-output"
                "[data-mime-type=\"application/vnd.jupyter.stderr\"]')")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on localhost, no token, over a copy of the notebooks (JupyterLab saves what
    it runs; the committed notebooks stay without outputs), with a fresh workspace."""
    work = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("*_figure.*"))
    port = _free_port()
    env = {**os.environ, "PAPERSCOPE_QUICK": "1", "PAPERSCOPE_DEVICE": "cpu",
           "JUPYTER_CONFIG_DIR": str(work / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={work / 'workspaces'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("jupyter lab did not start: " + (proc.stdout.read() if proc.poll() is not None else ""))
            time.sleep(0.3)
    yield url, work
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _open_notebook(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors, page.offline_requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # Offline: any request that leaves the machine is recorded and refused.
    def route(r):
        page.offline_requests.append(r.request.url)
        r.abort()
    page.route(lambda u: not u.startswith(url), route)
    page.goto(f"{url}/lab/tree/notebooks/{name}.ipynb")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=90000)
    wait_for(page, f"{KERNEL}?.status === 'idle'", timeout_s=90, poll_s=0.3)
    return page


@pytest.mark.timeout(420)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_live_app_draws_and_redraws_in_jupyterlab(browser, jupyterlab, name):
    url, work = jupyterlab
    page = _open_notebook(browser, url, name)
    try:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.evaluate(NOTEBOOK_JS)
        # The app's cell has run and its document is on the page: count its data changes.
        wait_for(page, "paperscopeNb.watch()", timeout_s=300, poll_s=0.5)
        wait_for(page, "paperscopeNb.changes() > 0", timeout_s=120)
        wait_for(page, "paperscopeNb.filled() > 0", timeout_s=60)  # plots hold real data now
        wait_for(page, RUN_ALL_DONE, timeout_s=300, poll_s=0.5)

        # A slider of the app (not the ipywidgets controls above it), one notch to the right.
        before = page.evaluate("paperscopeNb.changes()")
        handle = page.locator(".paperscope-live-app .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        handle.press("ArrowRight")
        wait_for(page, f"paperscopeNb.changes() > {before}", timeout_s=120)  # the new run streams

        outputs = [cell for cell in _saved_cells(page, work, name) if cell.get("output_type") == "error"]
        assert not outputs, f"{name}: a cell raised: {outputs[0].get('ename')}: {outputs[0].get('evalue')}"
        assert page.offline_requests == [], f"{name}: requests left the machine: {page.offline_requests}"
        assert page.errors == [], f"{name}: console errors: {page.errors[:5]}"
        assert any((work / "notebooks").glob("*_figure.pdf")), "the notebook exports a figure"
    finally:
        page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown')")
        page.context.close()


def _saved_cells(page, work: Path, name: str) -> list:
    """The outputs of every code cell, as JupyterLab saves them."""
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    path = work / "notebooks" / f"{name}.ipynb"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cells = json.loads(path.read_text())["cells"]
        outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
        if outputs:
            return outputs
        time.sleep(0.5)
    return []

"""The gallery and the rich/lazy app in a real browser (Debian's Chromium via Playwright)."""

import re
import time
from pathlib import Path

import pytest

from paperscope.core.registry import all_labs

pytestmark = pytest.mark.browser
LIVE_JS = (Path(__file__).parent / "live.js").read_text()


def wait_for(page, expression, timeout_s=60.0, poll_s=0.1):
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {expression}")


def open_lab(page, url):
    page.goto(url)
    page.wait_for_function("window.Bokeh && Bokeh.documents && Bokeh.documents.length > 0", timeout=60000)
    page.evaluate(LIVE_JS)


def test_gallery_lists_and_links_every_lab(page, server):
    page.goto(server + "/")
    page.wait_for_selector("text=paperscope gallery", timeout=60000)
    for lab in all_labs():
        link = page.locator(f"a[href$='{lab.slug}']", has_text=lab.paper.title).first
        link.wait_for(timeout=30000)  # the cards render after the page header
    first = all_labs()[0]
    page.locator(f"a[href$='{first.slug}']", has_text=first.paper.title).first.click()
    page.wait_for_url(re.compile(rf"/{first.slug}"), timeout=30000)
    page.wait_for_selector("text=Claim:", timeout=60000)
    assert page.errors == []


def test_rich_lazy_streams_and_a_slider_restarts_the_run(page, server):
    open_lab(page, server + "/rich-lazy?steps=3000&hidden_size=60")
    wait_for(page, "paperscope.maxLength() > 1")  # the plots receive data while training runs
    page.evaluate("paperscope.watch()")
    assert wait_for(page, "window.__dataChanges.length > 3", timeout_s=30)  # still streaming
    page.wait_for_selector("text=Running", timeout=30000)

    # Move the "Hidden size" slider one notch with the keyboard (a real slider release).
    handle = page.locator(".noUi-handle").nth(0)
    handle.focus()
    page.evaluate("paperscope.mark()")
    handle.press("ArrowRight")
    page.wait_for_url(re.compile(r"hidden_size=6[1-9]"), timeout=30000)  # the link follows the change
    new_size = int(re.search(r"hidden_size=(\d+)", page.url).group(1))
    # The run in flight was cancelled: the spectra now have the new hidden size's length.
    wait_for(page, f"paperscope.spectrumSize() === {new_size}", timeout_s=30)
    assert page.locator("text=Ignored from the link").count() == 0
    assert page.errors == []


def test_invalid_link_value_shows_a_notice_and_keeps_the_default(page, server):
    open_lab(page, server + "/rich-lazy?lr=7&steps=20")
    notice = page.wait_for_selector("text=Ignored from the link", timeout=60000)
    assert "lr=7.0 is out of range" in notice.inner_text()
    page.wait_for_selector("text=Done in", timeout=60000)
    assert page.errors == []

"""The instructor console in a real browser: two participants and the instructor on one local
workshop server. The instructor pushes a value; the participant who follows gets it in their
controls and URL, with a notice, and new data arrives; the one who opted out keeps theirs; the
room's figure counts both finished runs; the console refuses a visitor without the credential.
Both share the machine on the workshop's queue (benchmarks/room_load.py is the room-sized run)."""

import pytest
from conftest import start_server, stop_server
from test_browser import open_lab, wait_for

pytestmark = pytest.mark.browser
SLUG = "vr-halpern"
HETEROGENEITY = "Heterogeneity"


@pytest.fixture(scope="module")
def workshop():
    url, proc = start_server(SLUG, "--workshop", "--instructor-password", "sesame")
    yield url
    stop_server(proc)


def participant(browser, url):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    open_lab(page, url)
    page.wait_for_selector("text=Done in", timeout=90000)
    return page


def slider_text(page, label: str) -> str:
    return page.locator(f".bk-slider-title:has-text('{label}')").first.inner_text()


def test_the_instructor_pushes_a_value_to_the_room(browser, workshop):
    # A link past the workshop's caps gets the bad-link notice and keeps the default.
    follower = participant(browser, f"{workshop}/{SLUG}?n=1000")
    notice = follower.wait_for_selector("text=Ignored from the link", timeout=30000)
    assert "n=1000 is over this workshop's cap" in notice.inner_text()
    keeper = participant(browser, f"{workshop}/{SLUG}")
    keeper.locator("input[type=checkbox]").first.uncheck()  # "Follow the instructor", first in the sidebar
    keeper.locator("input[placeholder^='p0']").fill("Kim")
    keeper.keyboard.press("Enter")
    stranger = browser.new_context().new_page()
    stranger.goto(f"{workshop}/instructor")
    stranger.wait_for_selector("text=sign in with the instructor password", timeout=60000)
    assert stranger.locator("text=Push to everyone following").count() == 0

    instructor = browser.new_context(viewport={"width": 1400, "height": 1000},
                                     http_credentials={"username": "teacher", "password": "sesame"}).new_page()
    instructor.errors = []
    instructor.on("pageerror", lambda e: instructor.errors.append(str(e)))
    instructor.goto(f"{workshop}/instructor/login")
    instructor.wait_for_selector("text=Kim", timeout=60000)  # the console lists the room live
    follower.evaluate("paperscope.watch()")
    instructor.locator("input[placeholder='beta=0.1 seed=3']").fill("heterogeneity=2.5")
    instructor.keyboard.press("Enter")
    instructor.click("text=Push to everyone following")
    instructor.wait_for_selector("text=Pushed heterogeneity=2.5 to 1 participant(s)", timeout=30000)

    follower.wait_for_selector("text=the instructor set heterogeneity=2.5", timeout=30000)
    assert "2.50" in slider_text(follower, HETEROGENEITY)
    wait_for(follower, "window.__dataChanges.length > 0", timeout_s=60)  # the new run's data
    wait_for(follower, "window.__runsDone.length > 0", timeout_s=90)
    assert "heterogeneity=2.5" in follower.url
    assert "1.00" in slider_text(keeper, HETEROGENEITY) and keeper.locator("text=the instructor set").count() == 0
    keeper.evaluate("paperscope.watch()")  # their own moves still run, on the shared queue
    handle = keeper.locator(".noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    wait_for(keeper, "window.__dataChanges.length > 0 && window.__runsDone.length > 0", timeout_s=90)

    projector = browser.new_context().new_page()
    projector.goto(f"{workshop}/room/{SLUG}")
    projector.wait_for_selector("text=from 2 participant(s)", timeout=60000)  # both finished runs
    assert projector.locator("text=Push to everyone").count() == 0  # read-only
    for page in (follower, keeper, instructor):
        assert page.errors == []

"""Workshop serving without a browser: the session limit's full-room page, liveness, admin."""

import urllib.request

import pytest
from conftest import start_server, stop_server


@pytest.fixture(scope="module")
def room():
    url, proc = start_server("rich-lazy", "--workshop", "--max-sessions", "2")
    yield url
    stop_server(proc)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def test_the_visitor_past_the_limit_gets_the_full_room_page(room):
    # Each GET opens a Bokeh session (kept ~15 s even without a websocket): 2 places, 3 visitors.
    pages = [_get(f"{room}/rich-lazy")[1] for _ in range(3)]
    assert ["room is full" in p for p in pages] == [False, False, True]
    assert "Rich and lazy" in pages[0]
    assert "room is full" not in _get(room)[1]  # the gallery is never turned away


def test_liveness_and_admin_answer(room):
    assert _get(f"{room}/liveness")[0] == 200
    assert _get(f"{room}/admin")[0] == 200

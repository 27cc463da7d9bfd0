"""Workshop serving without a browser: the session limit's full-room page, liveness, admin,
the instructor console's sign-in and the caps on a link."""

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import start_server, stop_server

from paperscope.ui.credentials import COOKIE


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


def test_no_instructor_credential_no_console(room):
    with pytest.raises(urllib.error.HTTPError) as error:
        _get(f"{room}/instructor")
    assert error.value.code == 404


@pytest.fixture(scope="module")
def console_room():
    url, proc = start_server("rich-lazy", "--workshop", "--instructor-password", "sesame")
    yield url
    stop_server(proc)


def _request(url: str, headers: dict) -> http.client.HTTPResponse:
    """One GET without following redirects."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
    return connection.getresponse()


def test_the_console_refuses_a_request_without_the_instructor_credential(console_room):
    # The page's title says which page it is (its body arrives over the websocket).
    page = _request(f"{console_room}/instructor", {}).read().decode()
    assert "instructor sign-in" in page and "instructor console" not in page
    assert _request(f"{console_room}/instructor/login", {}).status == 401
    wrong = "Basic " + base64.b64encode(b"x:open-sesame").decode()
    assert _request(f"{console_room}/instructor/login", {"Authorization": wrong}).status == 401
    forged = _request(f"{console_room}/instructor", {"Cookie": f"{COOKIE}=0123abcd"}).read().decode()
    assert "instructor sign-in" in forged and "instructor console" not in forged


def test_the_instructor_signs_in_and_gets_the_console(console_room):
    right = "Basic " + base64.b64encode(b"x:sesame").decode()
    login = _request(f"{console_room}/instructor/login", {"Authorization": right})
    assert login.status == 302 and login.getheader("Location") == "/instructor"
    cookie = login.getheader("Set-Cookie").split(";")[0]
    page = _request(f"{console_room}/instructor", {"Cookie": cookie}).read().decode()
    assert "instructor console" in page
    assert "the room" in _get(f"{console_room}/room/rich-lazy")[1]  # the projector: no sign-in

"""Who may use the instructor console.

Two ways to be the instructor, both opt-in (without either the server has no console at all):

* ``--instructor-password PW``: the browser signs in at ``/instructor/login`` with HTTP basic
  authentication (any user name, that password); the answer sets a cookie holding an HMAC of
  a secret drawn when the server starts, so it proves the sign-in without carrying the
  password and dies with the server.
* ``--basic-auth FILE`` where the file marks users as instructors: JSON
  ``{"ana": {"password": "...", "instructor": true}, "ben": "..."}`` or lines
  ``ana:PASSWORD:instructor`` / ``ben:PASSWORD``. Panel's own login then names the user.
"""

import base64
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import tornado.web

from ..core.errors import ParamError

COOKIE = "paperscope_instructor"
INSTRUCTOR_MARK = "instructor"


@dataclass(frozen=True)
class Instructors:
    """The instructor credentials of one server."""

    password: str | None = None
    users: frozenset = frozenset()  # basic-auth user names marked as instructors
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.password or self.users)

    def token(self) -> str:
        return hmac.new(self.secret, b"paperscope instructor", "sha256").hexdigest()

    def password_matches(self, authorization: str | None) -> bool:
        """Whether an ``Authorization: Basic ...`` header carries the instructor password."""
        if not self.password or not authorization or not authorization.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), self.password.encode())

    def admits(self, user: str | None, cookies: dict) -> bool:
        """Whether a session with this signed-in ``user`` and these cookies is the instructor."""
        if user and user in self.users:
            return True
        cookie = cookies.get(COOKIE)
        value = getattr(cookie, "value", cookie)  # tornado gives Morsels, tests plain strings
        return bool(self.password and value and hmac.compare_digest(str(value), self.token()))


def current_session_is_instructor(instructors: Instructors | None) -> bool:
    """Whether the Panel session being built belongs to the instructor."""
    import panel as pn

    if instructors is None or not instructors.configured:
        return False
    return instructors.admits(pn.state.user, dict(pn.state.cookies or {}))


def read_basic_auth(path: str) -> tuple[dict, frozenset]:
    """``(user -> password for Panel, instructor user names)`` from a basic-auth file (JSON or
    ``user:password[:instructor]`` lines; blank lines and ``#`` comments skipped)."""
    text = Path(path).read_text(encoding="utf-8")
    users, instructors = {}, set()
    if text.lstrip().startswith("{"):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParamError(f"--basic-auth {path}: not valid JSON ({exc})") from None
        for user, entry in entries.items():
            if isinstance(entry, dict):
                users[user] = str(entry.get("password", ""))
                if entry.get(INSTRUCTOR_MARK):
                    instructors.add(user)
            else:
                users[user] = str(entry)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) < 2 or not parts[0]:
                raise ParamError(f"--basic-auth {path}, line {number}: expected user:password[:instructor]")
            marked = len(parts) > 2 and parts[-1] == INSTRUCTOR_MARK
            user, password = parts[0], ":".join(parts[1:-1] if marked else parts[1:])
            users[user] = password
            if marked:
                instructors.add(user)
    if not users or not all(users.values()):
        raise ParamError(f"--basic-auth {path}: every user needs a password")
    return users, frozenset(instructors)


class LoginHandler(tornado.web.RequestHandler):
    """``/instructor/login``: asks the browser for the instructor password (HTTP basic
    authentication); once given, sets the instructor cookie and goes to the console."""

    def initialize(self, instructors: Instructors, console: str):
        self.instructors, self.console = instructors, console

    def get(self):
        if not self.instructors.password_matches(self.request.headers.get("Authorization")):
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="paperscope instructor"')
            self.finish("The instructor console needs the instructor password.")
            return
        self.set_cookie(COOKIE, self.instructors.token(), httponly=True, samesite="Strict")
        self.redirect(self.console)

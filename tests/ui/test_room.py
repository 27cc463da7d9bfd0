"""The workshop room without a server: caps, pushes, the grid, the room's table and figure
exports, and the instructor's credentials."""

import base64
import io
import json

import pandas as pd
import pytest

from paperscope.core.errors import ParamError
from paperscope.core.frames import Frame
from paperscope.core.params import over_caps
from paperscope.core.registry import get_lab
from paperscope.ui.app import LabApp, values_from_query
from paperscope.ui.console import Console, grid_points, participants_html, room_provenance
from paperscope.ui.credentials import COOKIE, Instructors, read_basic_auth
from paperscope.ui.room import Room

SLUG = "vr-halpern"


def instant_run(params):
    """A run that finishes at once, its metric a function of the parameters."""
    yield Frame(step=1, total_steps=1, metrics={"residual": params.heterogeneity * 10 + params.seed,
                                                "detail": {"calls": 7}, "history": [1, 2]})


def app_in(room, **kwargs):
    return LabApp(SLUG, autostart=False, run=instant_run, room=room, **kwargs)


def wait_done(app, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while app.state != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.state == "done"


# -- caps ---------------------------------------------------------------------------------------

def test_caps_are_a_multiple_of_the_paper_size_for_every_size_a_preset_sets():
    params = get_lab("pinn-sampling").Params
    caps = params.caps(2.0)
    assert caps["n_points"] == 2 * params.param["n_points"].default
    assert set(caps) <= {n for values in params.presets().values() for n in values}
    assert params.caps(2.0, {"n_points": 123})["n_points"] == 123


def test_the_issue_s_link_is_refused_with_one_notice_per_value_over_its_cap():
    cls = get_lab("pinn-sampling").Params
    query = {"n_points": "20000", "stages": "50", "steps_per_stage": "20000", "seed": "3"}
    values, problems = values_from_query(cls, query, cls.caps())
    assert values == {"seed": 3}
    assert len(problems) == 3 and all("over this workshop's cap" in p for p in problems)


def test_a_participant_cannot_start_past_a_cap_and_sliders_end_at_it():
    room = Room()
    app = app_in(room)
    cap = room.caps(SLUG)["n"]
    assert app.widgets["n"].end == cap
    app.params.n = cap + 1  # e.g. a value typed elsewhere: put back, with the notice
    assert app.params.n != cap + 1 and "cap" in app.run_notice.object
    assert "large" not in app.preset.options or not over_caps(
        {**app.lab.Params.presets()["large"]}, room.caps(SLUG))


def test_the_instructor_s_own_app_is_not_capped():
    room = Room()
    assert app_in(room, instructor=True).caps == {}


# -- pushes and the grid --------------------------------------------------------------------------

def test_a_push_reaches_followers_runs_and_records_their_runs():
    room = Room()
    follower, other = app_in(room), app_in(room)
    other.participant.follow = False
    reached = room.push(SLUG, {"heterogeneity": 2.0}, "ana")
    assert reached == [follower.participant]
    wait_done(follower)
    assert follower.params.heterogeneity == 2.0 and other.params.heterogeneity != 2.0
    assert "ana set heterogeneity=2" in follower.room_notice.object and not other.room_notice.visible
    table = room.table(SLUG)
    assert list(table["participant"]) == [follower.participant.id]
    assert table.loc[0, "residual"] == 20.0 and table.loc[0, "detail.calls"] == 7
    assert "history" not in table.columns  # histories are not points
    assert "instructor ana" not in room.log()[0] and "heterogeneity=2" in room.log()[0]


def test_the_same_settings_run_again_are_one_point_not_two():
    room = Room()
    app = app_in(room)
    for _ in range(2):
        room.push(SLUG, {"heterogeneity": 1.5}, "ana")
        wait_done(app)
        app.state = "idle"
    assert len(room.table(SLUG)) == 1


def test_a_grid_gives_each_follower_the_next_point_round_robin():
    room = Room()
    apps = [app_in(room) for _ in range(3)]
    points = grid_points(get_lab(SLUG).Params, "heterogeneity=0.5,1 seed=4")
    assert points == [{"heterogeneity": 0.5, "seed": 4}, {"heterogeneity": 1.0, "seed": 4}]
    room.assign_grid(SLUG, points, "ana")
    for app in apps:
        wait_done(app)
    assert [a.params.heterogeneity for a in apps] == [0.5, 1.0, 0.5]
    assert "grid point 2 of 2" in apps[1].room_notice.object
    assert sorted(room.table(SLUG)["residual"]) == [9.0, 9.0, 14.0]


@pytest.mark.parametrize("text, message", [
    ("", "write the grid"), ("heterogeneity=", "has no values"), ("nope=1", "unknown parameter"),
    ("n=0", "out of range"),
])
def test_a_bad_grid_is_refused_with_a_clear_message(text, message):
    with pytest.raises(ParamError, match=message):
        grid_points(get_lab(SLUG).Params, text)


def test_the_console_shows_how_long_a_run_has_gone_and_why_one_stopped():
    def failing(params):
        raise RuntimeError("the step size is too large")
        yield
    room = Room()
    stuck = LabApp(SLUG, autostart=False, run=failing, room=room)
    stuck.participant.name = "Ida"
    stuck.start()
    stuck.runner.wait(10)
    assert "Stopped: RuntimeError: the step size is too large" in participants_html(room, SLUG)


def test_a_departed_participant_leaves_the_room():
    room = Room()
    app = app_in(room)
    assert room.participants_of(SLUG) == [app.participant]
    app.close()
    assert room.participants_of(SLUG) == [] and room.push(SLUG, {"seed": 1}, "ana") == []


# -- the console --------------------------------------------------------------------------------

def test_the_console_pushes_within_caps_and_exports_the_room():
    room = Room()
    app = app_in(room)
    app.participant.name = "Bo"
    console = Console(room, [SLUG], by="ana")
    console.settings.value = f"n={room.caps(SLUG)['n'] + 1}"
    console._act(console._push_form)
    assert "over this workshop's cap" in console.message.object and app.state == "idle"
    console.settings.value = "heterogeneity=3 seed=1"
    console._act(console._push_form)
    assert "to 1 participant" in console.message.object
    wait_done(app)
    console._seen = -1
    console.refresh()
    assert "Bo" in console.people.object and "residual=31" in console.people.object
    console.x.value, console.y.value = "heterogeneity", "residual"
    for fmt, magic in (("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", b"\x89PNG")):
        console.format.value = fmt
        assert console._figure_file().read()[:5].startswith(magic)
    record = json.loads(console._sidecar_file().read())
    assert record["runs"][0]["seed"] == 1 and record["runs"][0]["name"] == "Bo"
    assert "--set heterogeneity=3.0" in record["runs"][0]["command"] and "seed=1" in record["runs"][0]["app_link"]
    assert record["figure"] == {"x": "heterogeneity", "y": "residual", "color": None}
    assert pd.read_csv(console._table_file("csv")).loc[0, "residual"] == 31
    assert pd.read_parquet(console._table_file("parquet")).loc[0, "heterogeneity"] == 3.0


def test_the_console_refuses_exports_of_an_empty_room_and_pushes_without_followers():
    room = Room()
    console = Console(room, [SLUG])
    with pytest.raises(ParamError, match="no finished run"):
        console._figure_file()
    console.grid.value = "seed=1,2"
    console._act(console._assign_grid)
    assert "nobody follows" in console.message.object
    assert "Nobody has" in participants_html(room, SLUG)
    assert room_provenance(SLUG, room.table(SLUG), "seed", "residual", None)["runs"] == []


def test_push_my_own_app_needs_the_instructor_s_app_open():
    room = Room()
    follower = app_in(room)
    console = Console(room, [SLUG])
    console._act(console._push_mine)
    assert "open /vr-halpern" in console.message.object
    mine = app_in(room, instructor=True)
    mine.params.heterogeneity = 2.5
    console._act(console._push_mine)
    wait_done(follower)
    assert follower.params.heterogeneity == 2.5 and mine.participant not in room.push(SLUG, {}, "x")


# -- credentials --------------------------------------------------------------------------------

def test_the_instructor_cookie_proves_the_password_without_carrying_it():
    instructors = Instructors("sesame")
    header = "Basic " + base64.b64encode(b"anyone:sesame").decode()
    assert instructors.password_matches(header)
    assert not instructors.password_matches("Basic " + base64.b64encode(b"anyone:nope").decode())
    assert not instructors.password_matches(None)
    assert instructors.admits(None, {COOKIE: instructors.token()})
    assert "sesame" not in instructors.token()
    assert not instructors.admits(None, {COOKIE: Instructors("sesame").token()})  # another server's
    assert not instructors.admits("guest", {})


def test_basic_auth_files_mark_instructors(tmp_path):
    lines = tmp_path / "users.txt"
    lines.write_text("# the room\nana:pa:ss:instructor\nben:secret\n")
    assert read_basic_auth(str(lines)) == ({"ana": "pa:ss", "ben": "secret"}, frozenset({"ana"}))
    as_json = tmp_path / "users.json"
    as_json.write_text(json.dumps({"ana": {"password": "x", "instructor": True}, "ben": "y"}))
    assert read_basic_auth(str(as_json)) == ({"ana": "x", "ben": "y"}, frozenset({"ana"}))
    assert Instructors(users=frozenset({"ana"})).admits("ana", {})
    bad = tmp_path / "bad.txt"
    bad.write_text("just-a-name\n")
    with pytest.raises(ParamError, match="line 1"):
        read_basic_auth(str(bad))


def test_room_figure_export_is_a_figure_of_every_run():
    from paperscope.views import room as room_views
    from paperscope.views.figure import render_bytes

    table = pd.DataFrame({"participant": ["a", "b", "c"], "beta": [0.1, 0.1, 1.0], "loss": [1.0, 2.0, 3.0],
                          "seed": [0, 1, 0]})
    figure = room_views.figure(table, "beta", "loss", "seed")
    assert "3 runs" in figure.opts.get().kwargs["title"]
    assert len(figure) == 2  # the points and the mean over runs at each x
    assert render_bytes(figure, "png")[:4] == b"\x89PNG"
    assert io.BytesIO(render_bytes(room_views.figure(table.iloc[:0], "beta", "loss"), "svg")).read()

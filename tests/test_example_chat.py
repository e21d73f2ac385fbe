"""examples/chat end to end: HTTP in, a registered room actor, linked member actors, restarts."""

from __future__ import annotations

import pytest

from runtime.testing import LocalCloud
from tests.conftest import EXAMPLES

APP = EXAMPLES / "chat"
LOBBY = "room.lobby"  # the lobby service's registry_name
KEEP = 5  # the lobby's second service arg: how many messages an inbox keeps


@pytest.fixture
def cloud():
    with LocalCloud(APP) as c:
        c.drain()  # the lobby service starts
        yield c


def join(cloud, *names):
    for name in names:
        r = cloud.http("POST", "/rooms/lobby/members", body={"name": name})
        assert (r.status, r.body) == (202, {"room": "lobby", "name": name})
    cloud.drain()
    return cloud.state(cloud.lookup(LOBBY))["members"]


def post(cloud, sender, text):
    r = cloud.http("POST", "/rooms/lobby/messages", body={"from": sender, "text": text})
    assert (r.status, r.body) == (202, {"room": "lobby", "queued": True})


def inbox(cloud, pid):
    return [(m["seq"], m["from"], m["text"]) for m in cloud.state(pid)["inbox"]]


def test_the_lobby_runs_as_a_named_service_and_get_reports_it(cloud):
    room = cloud.lookup(LOBBY)
    assert room is not None and cloud.status(room).status == "running"
    assert cloud.state(room) == {
        "name": "lobby",
        "keep": KEEP,
        "seq": 0,
        "members": {},
        "history": {},  # an empty Lua table is encoded as an empty map
    }
    r = cloud.http("GET", "/rooms/lobby")
    assert (r.status, r.body) == (200, {"room": "lobby", "pid": room})
    r = cloud.http("GET", "/rooms/kitchen")
    assert (r.status, r.body) == (404, {"error": "no room named 'kitchen' is running"})


def test_each_message_reaches_every_member_inbox_in_room_order(cloud):
    members = join(cloud, "ada", "bob", "cy")
    assert sorted(members) == ["ada", "bob", "cy"]
    assert len(set(members.values())) == 3
    for pid in members.values():
        assert cloud.status(pid).status == "running"
    post(cloud, "ada", "hi all")
    post(cloud, "bob", "hey ada")
    post(cloud, "cy", "o/")
    post(cloud, "ada", "lunch?")
    cloud.drain()
    expected = [(1, "ada", "hi all"), (2, "bob", "hey ada"), (3, "cy", "o/"), (4, "ada", "lunch?")]
    for pid in members.values():
        assert inbox(cloud, pid) == expected
        assert cloud.state(pid)["received"] == 4


def test_inboxes_keep_the_last_messages_and_a_late_joiner_gets_the_history(cloud):
    members = join(cloud, "ada")
    for i in range(1, 8):
        post(cloud, "ada", f"m{i}")
    cloud.drain()
    last_five = [(i, "ada", f"m{i}") for i in range(3, 8)]
    assert inbox(cloud, members["ada"]) == last_five
    assert cloud.state(members["ada"])["received"] == 7
    dan = join(cloud, "dan")["dan"]
    assert inbox(cloud, dan) == last_five  # the backlog, passed to init
    assert cloud.state(dan)["received"] == 0
    post(cloud, "dan", "what did I miss")
    cloud.drain()
    assert inbox(cloud, dan)[-1] == (8, "dan", "what did I miss")
    assert inbox(cloud, members["ada"]) == inbox(cloud, dan)


def test_joining_twice_keeps_one_member_and_non_members_cannot_post(cloud):
    first = join(cloud, "ada")["ada"]
    assert join(cloud, "ada") == {"ada": first}
    post(cloud, "mallory", "spam")  # accepted by HTTP: only the room knows who is a member
    cloud.drain()
    room = cloud.state(cloud.lookup(LOBBY))
    assert room["seq"] == 0 and cloud.state(first)["inbox"] == {}
    (line,) = [line for line in cloud.logs if line.message == "post from a non-member dropped"]
    assert line.fields["from"] == "mallory"


def test_leaving_stops_the_member_normally_and_the_room_goes_on(cloud):
    members = join(cloud, "ada", "bob")
    post(cloud, "ada", "bye bob")
    cloud.drain()
    r = cloud.http("DELETE", "/rooms/lobby/members/bob")
    assert (r.status, r.body) == (202, {"room": "lobby", "name": "bob"})
    cloud.drain()
    bob = cloud.status(members["bob"])
    assert (bob.status, bob.result) == ("exited", {"name": "bob", "received": 1})
    room = cloud.lookup(LOBBY)
    assert cloud.status(room).status == "running"
    assert cloud.state(room)["members"] == {"ada": members["ada"]}
    post(cloud, "ada", "still here")
    cloud.drain()
    assert inbox(cloud, members["ada"]) == [(1, "ada", "bye bob"), (2, "ada", "still here")]


def test_a_crashing_member_is_removed_through_link_down_and_the_room_survives(cloud):
    members = join(cloud, "ada", "bob")
    room = cloud.lookup(LOBBY)
    cloud.send(members["bob"], "explode")  # a topic a member does not know: it raises
    cloud.drain()
    bob = cloud.status(members["bob"])
    assert bob.status == "crashed"
    assert bob.error["kind"] == "Internal"
    assert bob.error["message"].endswith('member bob: unexpected topic "explode"')
    # The room traps links: bob's crash reached on_event as LINK_DOWN instead of killing it.
    assert cloud.lookup(LOBBY) == room and cloud.status(room).status == "running"
    assert cloud.state(room)["members"] == {"ada": members["ada"]}
    (line,) = [line for line in cloud.logs if line.message == "member crashed, removed"]
    assert line.fields["name"] == "bob" and "explode" in line.fields["error"]
    post(cloud, "ada", "anyone?")
    cloud.drain()
    assert inbox(cloud, members["ada"]) == [(1, "ada", "anyone?")]
    assert cloud.state(members["bob"])["inbox"] == {}  # the dead keep their last state


def test_the_room_restarts_with_backoff_after_a_crash(cloud):
    ada = join(cloud, "ada")["ada"]
    first = cloud.lookup(LOBBY)
    cloud.send(LOBBY, "explode")  # a room raises on a topic it does not know
    cloud.drain()
    assert cloud.status(first).status == "crashed"
    # Members do not trap their link to the room: they go down with it.
    ada_status = cloud.status(ada)
    assert ada_status.status == "crashed" and ada_status.error["kind"] == "Canceled"
    # The name is released until the restart, 2 s later: the API says the room is not there.
    down = {"error": "no room named 'lobby' is running"}
    assert cloud.lookup(LOBBY) is None
    r = cloud.http("GET", "/rooms/lobby")
    assert (r.status, r.body) == (404, down)
    r = cloud.http("POST", "/rooms/lobby/messages", body={"from": "ada", "text": "hello?"})
    assert (r.status, r.body) == (404, down)
    cloud.advance_time(1.9)
    cloud.drain()
    assert cloud.lookup(LOBBY) is None
    cloud.advance_time(0.2)
    cloud.drain()
    second = cloud.lookup(LOBBY)
    assert second not in (None, first)
    r = cloud.http("GET", "/rooms/lobby")
    assert (r.status, r.body) == (200, {"room": "lobby", "pid": second})
    # A fresh room: no members, no history; joining and posting work again.
    assert cloud.state(second)["members"] == {} and cloud.state(second)["seq"] == 0
    ada_again = join(cloud, "ada")["ada"]
    post(cloud, "ada", "back")
    cloud.drain()
    assert inbox(cloud, ada_again) == [(1, "ada", "back")]
    # The second crash waits twice as long (backoff_factor: 2).
    cloud.send(LOBBY, "explode")
    cloud.drain()
    cloud.advance_time(3.9)
    cloud.drain()
    assert cloud.lookup(LOBBY) is None
    cloud.advance_time(0.2)
    cloud.drain()
    assert cloud.lookup(LOBBY) not in (None, first, second)


BAD_REQUESTS = [
    ("/rooms/lobby/messages", "{not json", "request body is not valid JSON: "),
    ("/rooms/lobby/messages", None, "request body is empty (expected JSON)"),
    ("/rooms/lobby/messages", '"hello"', "the body must be a JSON object"),
    ("/rooms/lobby/messages", ["ada", "hi"], "the body must be a JSON object"),
    ("/rooms/lobby/messages", {"text": "hi"}, "'from' must be a non-empty string"),
    ("/rooms/lobby/messages", {"from": "ada"}, "'text' must be a non-empty string"),
    ("/rooms/lobby/messages", {"from": "ada", "text": 5}, "'text' must be a non-empty string"),
    (
        "/rooms/lobby/messages",
        {"from": "ada", "text": "x" * 501},
        "'text' is longer than 500 bytes",
    ),
    (
        "/rooms/lobby/messages",
        {"from": "a/b", "text": "hi"},
        "'from' must be at most 32 letters, digits, '_' or '-'",
    ),
    ("/rooms/lobby/members", {}, "'name' must be a non-empty string"),
    ("/rooms/lobby/members", {"name": 7}, "'name' must be a non-empty string"),
    (
        "/rooms/lobby/members",
        {"name": "x" * 33},
        "'name' must be at most 32 letters, digits, '_' or '-'",
    ),
]


def test_a_bad_request_is_a_400_with_a_clear_message_and_reaches_no_one(cloud):
    # One cloud for all the cases (starting one costs about a second): none changes anything.
    room = cloud.lookup(LOBBY)
    version = cloud.status(room).version
    for path, body, error in BAD_REQUESTS:
        r = cloud.http("POST", path, body=body)
        assert r.status == 400, (path, body, r)
        assert r.body["error"].startswith(error), (path, body, r.body)
    cloud.drain()
    assert cloud.status(room).version == version  # the room never saw any of them


def test_paths_reach_rooms_only(cloud):
    join(cloud, "ada")
    # A room name with a '/' would be a pid and one without the prefix another process's name:
    # neither ever reaches process.send.
    r = cloud.http("POST", "/rooms/app:chat%2Fx/messages", body={"from": "ada", "text": "hi"})
    assert (r.status, r.body) == (404, {"error": "no room named 'app:chat/x' is running"})
    r = cloud.http("DELETE", "/rooms/lobby/members/a.b")
    assert r.status == 400 and r.body["error"].startswith("'name' must be at most 32")

"""List channels, hostile input and limits."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from tests.testapp.models import Board, Card, Message, Room
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)
BOARD = "testapp.BoardSerializer"


@sync_to_async
def owner_with_boards(n):
    user = User.objects.create(username=f"owner{n}")
    boards = [Board.objects.create(owner=user, title=f"b{i}") for i in range(n)]
    for b in boards:
        Card.objects.create(board=b, title="c")
    return user, Token.objects.create(user=user).key, boards


async def test_list_channel_loads_every_anchor_and_follows_new_visible_ones(live_worker):
    user, token, boards = await owner_with_boards(3)
    stranger, _, _ = await owner_with_boards(0)
    c = Client("/ws/boards/")
    ok = await c.connect(token=token)
    assert ok["list"] is True and ok["anchors"] == [b.pk for b in boards]
    ends = set()
    while len(ends) < 3:
        frame = await c.receive()
        if frame["type"] == "snapshot.end":
            ends.add(frame["anchor"])
    assert ends == {b.pk for b in boards}
    hidden = await sync_to_async(Board.objects.create)(owner=stranger, title="not mine")
    new = await sync_to_async(Board.objects.create)(owner=user, title="new")
    added = await c.until(lambda f: f["type"] == "anchor.added")
    assert added == {"type": "anchor.added", "anchor": new.pk}
    await c.until(lambda f: f["type"] == "snapshot.end" and f["anchor"] == new.pk)
    assert (BOARD, new.pk) in c.state
    assert all(f.get("anchor") != hidden.pk for f in c.frames)
    await c.close()


async def test_list_channel_caps_anchors_with_an_error_frame(live_worker, settings):
    settings.RX_MAX_ANCHORS = 2
    _, token, boards = await owner_with_boards(3)
    c = Client("/ws/boards/")
    ok = await c.connect(token=token)
    assert ok["anchors"] == [boards[0].pk, boards[1].pk]
    err = await c.until(lambda f: f["type"] == "error")
    assert err["code"] == "too_many_anchors"
    await c.close()


async def test_missing_worker_is_reported_not_waited_on(settings, transactional_db, redis_url):
    settings.RX_HEAT_TIMEOUT = 0.5
    from rxcdc import clients

    clients.reset()
    room = await sync_to_async(Room.objects.create)(name="r")
    user = await sync_to_async(User.objects.create)(username="w")
    token = (await sync_to_async(Token.objects.create)(user=user)).key
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    err = await c.until(lambda f: f["type"] == "error")
    assert err["code"] == "worker_unavailable"
    assert err["anchor"] == room.pk
    assert "replication worker is not running" in err["message"]
    await c.close()


async def test_oversized_frames_and_floods_get_error_frames(live_worker, settings):
    settings.RX_RATE_LIMIT = 1
    settings.RX_RATE_BURST = 5
    room = await sync_to_async(Room.objects.create)(name="r")
    user = await sync_to_async(User.objects.create)(username="f")
    token = (await sync_to_async(Token.objects.create)(user=user)).key
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    await c.comm.send_to(text_data="x" * 70000)
    assert (await c.until(lambda f: f["type"] == "error"))["code"] == "too_large"
    for _ in range(10):
        await c.comm.send_json_to({"type": "ping"})
    codes = []
    while len(codes) < 10:
        frame = await c.receive()
        if frame["type"] in ("pong", "error"):
            codes.append(frame.get("code", "pong"))
    assert "rate_limited" in codes and "pong" in codes
    await c.close()


hostile = st.one_of(
    st.binary(min_size=1, max_size=64).map(lambda b: ("bytes", b)),
    st.text(min_size=1, max_size=200).map(lambda t: ("text", t)),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "id",
                        "action",
                        "params",
                        "op",
                        "pk",
                        "data",
                        "token",
                        "instance_type",
                        "since",
                        "x",
                    ]
                ),
                children,
                max_size=6,
            )
        ),
        max_leaves=12,
    ).map(lambda v: ("json", v)),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["action", "write", "auth", "ping", "nope", ""]),
            "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
            "action": st.sampled_from(["post", "explode", "__init__", "helper", "has_permission"]),
            "op": st.sampled_from(["save", "create", "delete", "drop"]),
            "instance_type": st.sampled_from(["testapp.MessageSerializer", "x", ""]),
            "pk": st.one_of(st.integers(), st.text(max_size=4), st.lists(st.integers())),
            "params": st.one_of(
                st.lists(st.integers(), max_size=3),
                st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
                st.integers(),
            ),
        }
    ).map(lambda v: ("json", v)),
)


async def test_hostile_frames_get_answers_and_break_nothing(live_worker, settings):
    settings.RX_RATE_LIMIT = 100000
    settings.RX_RATE_BURST = 100000
    room = await sync_to_async(Room.objects.create)(name="r")
    await sync_to_async(Message.objects.create)(room=room, text="safe")
    user = await sync_to_async(User.objects.create)(username="h")
    token = (await sync_to_async(Token.objects.create)(user=user)).key
    victim, bystander = Client(f"/ws/room/{room.pk}/"), Client(f"/ws/room/{room.pk}/")
    for c in (victim, bystander):
        await c.connect(token=token)
        await c.until(lambda f: f["type"] == "snapshot.end")
    frames = []

    @hsettings(
        max_examples=1000, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(hostile)
    def collect(frame):
        frames.append(frame)

    collect()
    assert len(frames) == 1000
    for kind, value in frames:
        if kind == "bytes":
            await victim.comm.send_to(bytes_data=value)
        elif kind == "text":
            await victim.comm.send_to(text_data=value)
        else:
            await victim.comm.send_to(text_data=json.dumps(value))
    answered = 0
    while answered < 1000:
        frame = await victim.receive()
        if frame["type"] in (
            "error",
            "action.error",
            "action.result",
            "write.error",
            "write.result",
            "pong",
        ):
            answered += 1
    # Every frame got exactly one answer and both sockets still work.
    assert await victim.comm.receive_nothing(1.0)
    for c in (victim, bystander):
        await c.comm.send_json_to({"type": "ping"})
        await c.until(lambda f: f["type"] == "pong")
    await c.close()
    await victim.close()


async def test_list_channel_can_remove_and_clear_anchors_from_the_server(live_worker):
    _, token, boards = await owner_with_boards(2)
    c = Client("/ws/boards/")
    await c.connect(token=token)
    ends = set()
    while len(ends) < 2:
        frame = await c.receive()
        if frame["type"] == "snapshot.end":
            ends.add(frame["anchor"])
    await c.comm.send_json_to(
        {"type": "action", "id": "r", "action": "hide", "params": {"board": boards[0].pk}}
    )
    assert await c.until(lambda f: f["type"] == "anchor.removed") == {
        "type": "anchor.removed",
        "anchor": boards[0].pk,
    }
    await c.comm.send_json_to({"type": "action", "id": "c", "action": "hide_all", "params": {}})
    assert (await c.until(lambda f: f["type"] == "anchor.removed"))["anchor"] == boards[1].pk
    await c.until(lambda f: f["type"] == "action.result" and f["id"] == "c")
    await c.close()

"""Actions, writes, runtime variables, notifications, system messages and custom consumers."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from rxcdc.notify import abroadcast_notification
from tests.testapp.channels import RoomChannel
from tests.testapp.models import Message, Room
from tests.ws.conftest import Client, recomputed

ROOM = "testapp.RoomChannel"
MSG = "testapp.MessageSerializer"
pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def setup_room(messages=("a",)):
    user = User.objects.create(username=f"u{uuid.uuid4().hex[:6]}")
    room = Room.objects.create(name="r")
    for text in messages:
        Message.objects.create(room=room, text=text)
    return room, user, Token.objects.create(user=user).key


async def connected(room, token):
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    await c.until(lambda f: f["type"] == "snapshot.end")
    return c


async def test_runtime_variable_is_sent_on_connect(live_worker):
    room, user, token = await setup_room()
    c = await connected(room, token)
    assert {"type": "runtime", "name": "greeting", "value": f"hello {user.username}"} in c.frames
    await c.close()


async def test_async_action_result_and_its_change_arrive(live_worker):
    room, _, token = await setup_room()
    c = await connected(room, token)
    await c.comm.send_json_to(
        {"type": "action", "id": "1", "action": "post", "params": {"text": "via action"}}
    )
    result = await c.until(lambda f: f["type"] == "action.result")
    assert result["id"] == "1" and isinstance(result["result"], int)
    await c.until(
        lambda f: (
            f["type"] == "update" and any(i["_pk"] == result["result"] for i in f["instances"])
        )
    )
    assert c.state[(MSG, result["result"])]["text"] == "via action"
    await c.close()


async def test_dataclass_results_are_sent_and_unencodable_ones_are_errors(live_worker):
    room, _, token = await setup_room()
    c = await connected(room, token)
    await c.comm.send_json_to({"type": "action", "id": "d", "action": "as_dataclass"})
    assert (await c.until(lambda f: f["id"] == "d" if "id" in f else False)) == {
        "type": "action.result",
        "id": "d",
        "result": {"name": "x", "tags": ["a", "b"]},
    }
    await c.comm.send_json_to({"type": "action", "id": "o", "action": "unsendable"})
    error = await c.until(lambda f: f.get("id") == "o")
    assert (error["type"], error["code"]) == ("action.error", "failed")
    await c.close()


async def test_sync_action_gets_typed_params_and_encodes_its_result(live_worker):
    room, _, token = await setup_room()
    c = await connected(room, token)
    ident = str(uuid.uuid4())
    await c.comm.send_json_to(
        {
            "type": "action",
            "id": "2",
            "action": "echo",
            "params": ["2026-11-23T10:00:00+00:00", "12.50", ident],
        }
    )
    result = await c.until(lambda f: f["type"] == "action.result")
    assert result == {
        "type": "action.result",
        "id": "2",
        "result": {
            "when": "2026-11-23T10:00:00Z",
            "amount": "12.50",
            "ident": ident,
            "types": ["datetime", "Decimal", "UUID"],
        },
    }
    await c.close()


@pytest.mark.parametrize(
    ("action", "params", "code", "message"),
    [
        ("explode", {}, "failed", "action explode failed"),
        ("refuse", {}, "nope", "not today"),
        ("helper", {}, "unknown_action", "no action 'helper' on this channel"),
        ("missing", {}, "unknown_action", "no action 'missing' on this channel"),
        ("echo", {"when": "yesterday", "amount": "1", "ident": "x"}, "invalid_params", None),
        ("post", {"nope": 1}, "invalid_params", None),
    ],
)
async def test_failing_actions_answer_with_an_error_and_keep_the_socket(
    live_worker, action, params, code, message
):
    room, _, token = await setup_room()
    c = await connected(room, token)
    await c.comm.send_json_to({"type": "action", "id": "e", "action": action, "params": params})
    error = await c.until(lambda f: f["type"] == "action.error")
    assert error["id"] == "e" and error["code"] == code
    if message:
        assert error["message"] == message
    assert "internal detail" not in repr(c.frames)
    await c.comm.send_json_to({"type": "ping"})
    assert (await c.until(lambda f: f["type"] == "pong")) == {"type": "pong"}
    await c.close()


async def test_allowed_writes_save_create_delete_flow_back_through_the_wal(live_worker):
    room, _, token = await setup_room(("a", "b"))
    c = await connected(room, token)
    a, b = sorted(pk for (t, pk) in c.state if t == MSG)
    await c.comm.send_json_to(
        {
            "type": "write",
            "id": "w1",
            "op": "save",
            "instance_type": MSG,
            "pk": a,
            "data": {"text": "edited"},
        }
    )
    assert await c.until(lambda f: f["type"].startswith("write")) == {
        "type": "write.result",
        "id": "w1",
        "pk": a,
    }
    await c.comm.send_json_to(
        {
            "type": "write",
            "id": "w2",
            "op": "create",
            "instance_type": MSG,
            "parent_type": "testapp.RoomSerializer",
            "parent_pk": room.pk,
            "data": {"text": "created"},
        }
    )
    created = await c.until(lambda f: f["type"].startswith("write"))
    assert created["type"] == "write.result" and created["id"] == "w2"
    await c.comm.send_json_to(
        {"type": "write", "id": "w3", "op": "delete", "instance_type": MSG, "pk": b}
    )
    assert (await c.until(lambda f: f["type"].startswith("write")))["type"] == "write.result"
    expected = await sync_to_async(recomputed)(ROOM, room.pk)
    while c.data() != expected:
        await c.receive()
    assert c.state[(MSG, a)]["text"] == "edited"
    assert c.state[(MSG, created["pk"])]["text"] == "created"
    assert (MSG, b) not in c.state
    await c.close()


async def test_refused_writes_name_the_check_that_refused(live_worker):
    room, _, token = await setup_room(("keep",))
    other_room, _, _ = await setup_room(("elsewhere",))
    foreign = await sync_to_async(lambda: Message.objects.get(room=other_room).pk)()
    c = await connected(room, token)
    (mine,) = [pk for (t, pk) in c.state if t == MSG]
    cases = [
        (
            {"op": "save", "instance_type": "testapp.TagSerializer", "pk": 1, "data": {}},
            "not_writable",
        ),
        (
            {"op": "save", "instance_type": MSG, "pk": foreign, "data": {"text": "x"}},
            "not_in_state",
        ),
        (
            {"op": "save", "instance_type": MSG, "pk": mine, "data": {"text": "forbidden"}},
            "forbidden",
        ),
        ({"op": "delete", "instance_type": MSG, "pk": mine}, "forbidden"),
        ({"op": "save", "instance_type": MSG, "pk": mine, "data": {"text": ""}}, "invalid"),
        (
            {
                "op": "create",
                "instance_type": MSG,
                "parent_type": "testapp.RoomSerializer",
                "parent_pk": room.pk,
                "data": {},
            },
            "invalid",
        ),
        ({"op": "explode", "instance_type": MSG, "pk": mine}, "malformed"),
    ]
    for i, (write, code) in enumerate(cases):
        await c.comm.send_json_to({"type": "write", "id": f"r{i}", **write})
        error = await c.until(lambda f: f["type"].startswith("write"))
        assert (error["type"], error["id"], error["code"]) == ("write.error", f"r{i}", code)
    assert await sync_to_async(lambda: Message.objects.get(pk=mine).text)() == "keep"
    await c.close()


async def test_notification_reaches_the_anchor_or_only_one_user(live_worker):
    room, alice, alice_token = await setup_room()
    _, _, bob_token = await setup_room()
    alice_c, bob_c = await connected(room, alice_token), await connected(room, bob_token)
    await abroadcast_notification(RoomChannel, room.pk, {"hello": "all"})
    await abroadcast_notification(RoomChannel, room.pk, {"hello": "alice"}, user=alice)
    for c in (alice_c, bob_c):
        frame = await c.until(lambda f: f["type"] == "notification")
        assert frame == {"type": "notification", "anchor": room.pk, "payload": {"hello": "all"}}
    frame = await alice_c.until(lambda f: f["type"] == "notification")
    assert frame["payload"] == {"hello": "alice"}
    assert await bob_c.comm.receive_nothing(0.3)
    await alice_c.close()
    await bob_c.close()


async def test_rx_broadcast_sends_a_system_message_to_every_client(live_worker):
    room, _, token = await setup_room()
    c = await connected(room, token)
    await sync_to_async(call_command)("rx_broadcast", "maintenance", "back soon")
    frame = await c.until(lambda f: f["type"] == "system")
    assert frame == {"type": "system", "source": "maintenance", "message": "back soon"}
    await c.close()


async def test_consumer_handler_receives_its_group_events_until_disconnect(live_worker):
    room, _, token = await setup_room()
    c = await connected(room, token)
    layer = get_channel_layer()
    await layer.group_send(f"typing.{room.pk}", {"type": "room.typing", "who": "zoe"})
    assert await c.until(lambda f: f["type"] == "typing") == {"type": "typing", "who": "zoe"}
    await c.close()
    # Left on disconnect: a new group member count check through another send reaching nobody.
    assert await layer.group_send(f"typing.{room.pk}", {"type": "room.typing", "who": "x"}) is None

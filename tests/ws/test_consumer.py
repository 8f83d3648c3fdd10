"""The websocket protocol, frame by frame, against a live worker."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.testapp.models import Message, Note, Room
from tests.ws.conftest import Client, recomputed

ROOM = "testapp.RoomChannel"
MSG = "testapp.MessageSerializer"
pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def make_user(name="alice"):
    user = User.objects.create(username=name)
    return user, Token.objects.create(user=user).key


@sync_to_async
def make_room(messages=2):
    room = Room.objects.create(name="r")
    for i in range(messages):
        Message.objects.create(room=room, text=f"m{i}")
    return room


async def closed_with(client):
    out = await client.comm.receive_output(5)
    return out["type"], out.get("code")


async def test_no_token_and_no_session_is_unauthenticated(live_worker):
    room = await make_room()
    c = Client(f"/ws/room/{room.pk}/")
    frame = await c.connect()
    assert frame == {"type": "auth.error", "code": "unauthenticated", "message": "log in first"}
    assert await closed_with(c) == ("websocket.close", 4401)


async def test_bad_token_is_unauthenticated(live_worker):
    room = await make_room()
    c = Client(f"/ws/room/{room.pk}/")
    frame = await c.connect(token="nope")
    assert frame["code"] == "unauthenticated"
    assert await closed_with(c) == ("websocket.close", 4401)


async def test_user_without_permission_is_forbidden(live_worker):
    room = await make_room()
    _, token = await make_user("banned-bob")
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token))["code"] == "forbidden"
    assert await closed_with(c) == ("websocket.close", 4403)


async def test_session_user_is_accepted_without_token(live_worker):
    room = await make_room()
    user, _ = await make_user()
    c = Client(f"/ws/room/{room.pk}/", user=user)
    ok = await c.connect()
    assert ok == {
        "type": "auth.ok",
        "protocol": 1,
        "channel": ROOM,
        "list": False,
        "anchors": [room.pk],
        "user": user.pk,
    }
    await c.until(lambda f: f["type"] == "snapshot.end")
    await c.close()


async def test_silent_socket_is_closed_after_the_auth_timeout(live_worker, settings):
    settings.RX_AUTH_TIMEOUT = 0.2
    room = await make_room()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(send_auth=False)
    frame = await c.receive()
    assert frame["code"] == "timeout"
    assert await closed_with(c) == ("websocket.close", 4408)


async def test_missing_anchor_is_not_found(live_worker):
    _, token = await make_user()
    c = Client("/ws/room/999999/")
    frame = await c.connect(token=token)  # the first frame: refused before auth.ok
    assert frame["code"] == "not_found"
    assert await closed_with(c) == ("websocket.close", 4404)


async def test_snapshot_then_raw_sql_update_arrives_once_in_one_frame(live_worker):
    room = await make_room(3)
    _, token = await make_user()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    begin = await c.until(lambda f: f["type"] == "snapshot.begin")
    assert begin["mode"] == "full"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert c.data() == await sync_to_async(recomputed)(ROOM, room.pk)

    @sync_to_async
    def raw_update():
        with connection.cursor() as cur:
            cur.execute("UPDATE testapp_message SET text = 'raw' WHERE room_id = %s", [room.pk])

    await raw_update()
    # Frames for the room's own creation may still arrive (they committed after the snapshot's
    # LSN); the UPDATE is one transaction and must arrive whole, in one frame, once.
    update = await c.until(
        lambda f: f["type"] == "update" and any(i.get("text") == "raw" for i in f["instances"])
    )
    assert sorted(i["text"] for i in update["instances"]) == ["raw", "raw", "raw"]
    assert c.data() == await sync_to_async(recomputed)(ROOM, room.pk)
    assert await c.comm.receive_nothing(0.5)
    raw_frames = [
        f
        for f in c.frames
        if f["type"] == "update" and any(i.get("text") == "raw" for i in f["instances"])
    ]
    assert raw_frames == [update]
    await c.close()


async def test_resume_sends_changes_and_tombstones_since_the_last_lsn(live_worker):
    room = await make_room(3)
    _, token = await make_user()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    await c.until(lambda f: f["type"] == "snapshot.end")
    expected = await sync_to_async(recomputed)(ROOM, room.pk)
    while c.data() != expected:  # the room's own inserts may still be on their way
        await c.receive()
    # ...and their updates too: a snapshot may already hold a row whose update (a newer LSN)
    # is still in flight, and a `since` before it would rightly send that row again.
    written = await sync_to_async(live_worker.worker.cache.newest_lsn)(ROOM, room.pk)
    while c.lsn.get(room.pk, 0) < written:
        await c.receive()
    await c.close()

    @sync_to_async
    def change_while_away():
        first, second, _ = Message.objects.filter(room=room).order_by("pk")
        Message.objects.filter(pk=first.pk).update(text="changed")
        second.delete()
        Message.objects.create(room=room, text="new")

    await change_while_away()
    again = Client(f"/ws/room/{room.pk}/")
    again.state, again.dead = c.state, c.dead
    await again.connect(token=token, since={str(room.pk): c.lsn[room.pk]})
    begin = await again.until(lambda f: f["type"] == "snapshot.begin")
    # The worker may not have applied the changes yet when we reconnect: wait for the state.
    expected = await sync_to_async(recomputed)(ROOM, room.pk)
    while again.data() != expected:
        await again.receive()
    assert begin["mode"] == "delta"
    sent = [
        i
        for f in again.frames
        if f["type"] in ("snapshot.instances", "update")
        for i in f.get("instances", ())
    ]
    assert len(sent) <= 3  # only what changed, not the whole room
    await again.close()


async def test_user_key_rows_and_ids_never_reach_other_users(live_worker):
    room = await make_room(0)
    alice, alice_token = await make_user("alice")
    _, bob_token = await make_user("bob")
    await sync_to_async(Note.objects.create)(room=room, user=alice, text="alice's")
    bob = Client(f"/ws/room/{room.pk}/")
    await bob.connect(token=bob_token)
    await bob.until(lambda f: f["type"] == "snapshot.end")
    alice_note = await sync_to_async(Note.objects.create)(room=room, user=alice, text="second")
    await sync_to_async(Message.objects.create)(room=room, text="public")
    await bob.until(
        lambda f: f["type"] == "update" and any(i["_type"] == MSG for i in f["instances"])
    )
    everything = repr(bob.frames)
    assert "alice's" not in everything and "second" not in everything
    room_doc = bob.state[("testapp.RoomSerializer", room.pk)]
    assert room_doc["notes"] == []
    assert alice_note.pk not in room_doc["notes"]
    alice_client = Client(f"/ws/room/{room.pk}/")
    await alice_client.connect(token=alice_token)
    await alice_client.until(lambda f: f["type"] == "snapshot.end")
    assert len(alice_client.state[("testapp.RoomSerializer", room.pk)]["notes"]) == 2
    await bob.close()
    await alice_client.close()


async def test_an_update_lost_in_the_channel_layer_is_noticed_and_resumed(live_worker):
    from channels.layers import get_channel_layer

    from rxcdc.fanout import anchor_group

    room = await make_room(2)
    _, token = await make_user()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    end = await c.until(lambda f: f["type"] == "snapshot.end")
    # An update whose predecessor (prev_lsn) this consumer never received:
    await get_channel_layer().group_send(
        anchor_group(ROOM, room.pk),
        {
            "type": "rx.update",
            "channel": ROOM,
            "anchor": room.pk,
            "lsn": end["lsn"] + 20,
            "prev_lsn": end["lsn"] + 10,
            "part": 0,
            "last": True,
            "instances": [],
            "tombstones": [],
        },
    )
    begin = await c.until(lambda f: f["type"] == "snapshot.begin")
    assert begin["mode"] == "delta"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert c.data() == await sync_to_async(recomputed)(ROOM, room.pk)
    await c.close()


def lose_next(publisher, kind):
    """Make the worker's next group send carrying a ``kind`` message vanish; returns it."""
    publish, lost = publisher.group_send, []

    def lossy(messages, *, ordered=False):
        if not lost and any(m["type"] == kind for _, m in messages):
            lost.extend(messages)
            return []  # "accepted": the layer loses them without an error, as Redis pub/sub does
        return publish(messages, ordered=ordered)

    publisher.group_send = lossy
    return lost


async def test_a_lost_last_update_is_resumed_from_the_cache(live_worker, settings):
    settings.RX_RESYNC_INTERVAL = 0.3
    room = await make_room(2)
    _, token = await make_user()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    await c.until(lambda f: f["type"] == "snapshot.end")
    # The room's own inserts, committed before the heat, may still be on their way as updates:
    # once the worker acknowledged them, the next update it publishes is the one below.
    await sync_to_async(live_worker.wait_applied)()
    # The channel layer loses that update (a Redis disconnect would), and nothing else
    # happens to the room: no later update can reveal the gap.
    lost = lose_next(live_worker.worker.publisher, "rx.update")
    await sync_to_async(Message.objects.filter(room=room).update)(text="changed")
    begin = await c.until(lambda f: f["type"] == "snapshot.begin")
    assert [m["type"] for _, m in lost] == ["rx.update"]
    assert begin["mode"] == "delta"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert {i["text"] for k, i in c.data().items() if k[0] == MSG} == {"changed"}
    assert c.data() == await sync_to_async(recomputed)(ROOM, room.pk)
    changed = [
        f
        for f in c.frames
        if f["type"] == "update" and any(i.get("text") == "changed" for i in f["instances"])
    ]
    assert not changed  # it came through the resumed snapshot only
    await c.close()


async def test_a_cooled_anchor_whose_reset_was_lost_is_loaded_again(live_worker, settings):
    from django.core.management import call_command

    settings.RX_RESYNC_INTERVAL = 0.3
    room = await make_room(2)
    _, token = await make_user()
    c = Client(f"/ws/room/{room.pk}/")
    await c.connect(token=token)
    await c.until(lambda f: f["type"] == "snapshot.end")
    lost = lose_next(live_worker.worker.publisher, "rx.reset")
    # The worker cools the room and tells its consumers; the channel layer loses that message.
    await sync_to_async(call_command)("rx_cache", "clear", ROOM, str(room.pk))
    await c.until(lambda f: f["type"] == "snapshot.begin")
    assert [m["type"] for _, m in lost] == ["rx.reset"]
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert c.data() == await sync_to_async(recomputed)(ROOM, room.pk)
    # Hot again: updates flow.
    await sync_to_async(Message.objects.filter(room=room).update)(text="after")
    await c.until(lambda f: f["type"] == "update")
    assert {i["text"] for k, i in c.data().items() if k[0] == MSG} == {"after"}
    await c.close()

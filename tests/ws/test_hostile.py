"""Issue 19, item 4 and the hostile-frame property: no frame ends a connection, and however a
connection ends, nothing it started keeps running.

Over a real consumer with a live worker (real Redis, Postgres, the Mongo-wire server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from rxcdc import conf
from rxcdc.heat import alive_key
from rxcdc.testing.waiting import until
from tests.testapp.models import Room
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "testapp.RoomChannel"
ANSWERS = {"error", "pong", "action.result", "action.error", "write.result", "write.error"}


@sync_to_async
def room_and_token(name: str = "hostile") -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    user, _ = User.objects.get_or_create(username=name)
    token, _ = Token.objects.get_or_create(user=user)
    return room, token.key


async def live(token: str, room: Room) -> Client:
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")
    return c


async def answer(c: Client) -> dict[str, Any]:
    """The answer to the last frame sent (state and runtime frames skipped)."""
    return await c.until(lambda f: f["type"] in ANSWERS)


def connection_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running code of the websocket side (consumer, anchors, watches, re-auth)."""
    out = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "/rxcdc/" in code.co_filename and not task.done():
            out.append(task)
    return out


async def test_deep_nesting_is_a_typed_error_and_the_socket_stays(live_worker, caplog):
    room, token = await room_and_token()
    c = await live(token, room)
    for text in ("[" * 30_000, '{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}", "{" * 20_000):
        await c.comm.send_to(text_data=text)
        error = await answer(c)
        assert error["type"] == "error" and error["code"] == "malformed", error
    await c.comm.send_json_to({"type": "ping", "x": [[[[1]]]]})  # shallow nesting is fine
    assert (await answer(c))["type"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await c.close()


@pytest.mark.parametrize("end", ["disconnect", "cancelled", "crashed"])
async def test_a_connections_end_stops_its_tasks_and_its_anchors_cool(live_worker, settings, end):
    """However it ends, the connection's tasks stop and its liveness key is no longer renewed."""
    settings.RX_CACHE_TTL = 1.5  # renewed every 0.5 s while the connection lives
    settings.RX_REAUTH_INTERVAL = 0.2
    settings.RX_RESYNC_INTERVAL = 0.2
    room, token = await room_and_token()
    c = await live(token, room)
    key = alive_key(ROOM, room.pk)
    keys = redis.Redis.from_url(conf.redis_url())
    # touch, resync, re-auth (+ the worker watch)
    await until(lambda: len(connection_tasks()) >= 3, "the connection started its tasks")
    if end == "disconnect":
        await c.close()
    elif end == "cancelled":  # daphne cancels an application that outlives its socket
        c.comm.future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await c.comm.future
    else:  # an exception escapes a handler: the consumer's task dies with it
        await c.comm.send_input({"type": "rx.update", "anchor": room.pk})  # no 'lsn': KeyError
        with contextlib.suppress(Exception):
            await c.comm.future
    await until(lambda: not connection_tasks(), "the connection's tasks ended")
    # Nobody renews the key any more: it expires within its TTL.
    await until(lambda: not keys.exists(key), "its liveness key expired", 5)
    keys.close()


hostile_numbers = st.sampled_from(
    ["1e400", "-1e400", "1" * 5000, str(2**64), str(-(2**63) - 1), "1e-400", str(10**300)]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "id",
    "action",
    "params",
    "op",
    "instance_type",
    "pk",
    "data",
    "parent_type",
    "parent_pk",
    "token",
    "since",
]
field_values = (
    json_values.map(json.dumps)
    | hostile_numbers
    | st.sampled_from(["echo", "refuse", "helper", "__init__", "save", "delete", "create"]).map(
        json.dumps
    )
    | st.sampled_from(["testapp.MessageSerializer", "testapp.RoomSerializer"]).map(json.dumps)
)


@st.composite
def typed_frames(draw: Any) -> str:
    """A frame of a known (or unknown) type with fields of any JSON type, numbers of any size."""
    kind = draw(st.sampled_from(["auth", "action", "write", "ping", "pong", "", "update"]))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6))
    parts = [f'"type":{json.dumps(kind)}'] + [f"{json.dumps(k)}:{v}" for k, v in fields.items()]
    return "{" + ",".join(parts) + "}"


frames = (
    typed_frames()
    | st.text(alphabet='[]{}":,0123456789.eE-+truefalsn \\', max_size=80)
    | st.text(max_size=40)
    | st.integers(33, 40_000).map(lambda n: "[" * n + "]" * n)
    | st.integers(33, 20_000).map(lambda n: '{"a":' * n + "1" + "}" * n)
    | json_values.map(json.dumps)
    | hostile_numbers
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(batch=st.lists(frames, min_size=1, max_size=6))
def test_hostile_frames_get_typed_answers_and_the_socket_stays(live_worker, caplog, batch):
    """Every frame is answered with a typed frame (never ``server_error``); no uncaught error."""
    caplog.clear()

    async def run() -> None:
        room, token = await room_and_token()
        c = await live(token, room)
        for text in batch:
            # send_input: send_to refuses an empty text frame, which a client can send
            await c.comm.send_input({"type": "websocket.receive", "text": text})
            reply = await answer(c)
            assert reply.get("code") not in ("server_error", "failed"), (text[:200], reply)
        await c.comm.send_json_to({"type": "ping"})
        assert (await answer(c))["type"] == "pong"
        await c.close()

    async_to_sync(run)()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(batch=st.lists(frames, min_size=1, max_size=6))
def test_hostile_frames_before_auth_are_answered_or_refuse_by_the_rules(live_worker, caplog, batch):
    """Before ``auth``: an ``error`` per frame, or an auth answer (a refusal closes, by rule)."""
    caplog.clear()

    async def run() -> None:
        room, _ = await room_and_token()
        c = Client(f"/ws/room/{room.pk}/")
        await c.connect(send_auth=False)
        for text in batch:
            await c.comm.send_input({"type": "websocket.receive", "text": text})
            reply = await c.until(lambda f: f["type"] in ANSWERS | {"auth.ok", "auth.error"})
            assert reply.get("code") not in ("server_error", "failed"), (text[:200], reply)
            if reply["type"] == "auth.error":  # a random token, or no user: refused and closed
                assert reply["code"] in ("unauthenticated", "forbidden"), reply
                assert (await c.comm.receive_output(5))["type"] == "websocket.close"
                return
            assert reply["type"] != "auth.ok", text[:200]  # no frame here carries a valid token
        await c.comm.send_json_to({"type": "ping"})
        assert (await answer(c))["code"] == "unauthenticated"  # still open, still waiting
        await c.close()

    async_to_sync(run)()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]

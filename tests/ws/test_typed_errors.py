"""Issue 19, item 5: every refusal is a typed frame (docs/protocol.md), never a traceback or 1011.

Over a real consumer with a live worker: action parameters checked against their annotations,
write keys and ``since`` values of the wrong type, a URL argument that is no key, and user hooks
that raise at connect.
"""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.urls import path
from rest_framework.authtoken.models import Token

from tests.testapp.channels import RoomChannel
from tests.testapp.models import Room
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)


class PermissionRaises(RoomChannel):
    def has_permission(self, user, **kwargs):
        raise RuntimeError("bug in has_permission")


class AnchorRaises(RoomChannel):
    def get_anchor(self, **kwargs):
        raise RuntimeError("bug in get_anchor")


class ConnectRaises(RoomChannel):
    async def on_connect(self):
        raise RuntimeError("bug in on_connect")


application = AuthMiddlewareStack(
    URLRouter(
        [
            path("ws/room/<int:room>/", RoomChannel.as_asgi()),
            path("ws/named/<str:room>/", RoomChannel.as_asgi()),
            path("ws/perm/<int:room>/", PermissionRaises.as_asgi()),
            path("ws/anchor/<int:room>/", AnchorRaises.as_asgi()),
            path("ws/hook/<int:room>/", ConnectRaises.as_asgi()),
        ]
    )
)


def client(url: str) -> Client:
    c = Client(url)
    c.comm = WebsocketCommunicator(application, url)
    return c


@sync_to_async
def room_and_token(name: str = "typed") -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    user = User.objects.create(username=name)
    return room, Token.objects.create(user=user).key


async def live(c: Client, token: str) -> None:
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")


async def closed_with(c: Client) -> tuple[str, int | None]:
    out = await c.comm.receive_output(5)
    return out["type"], out.get("code")


async def test_an_action_parameter_of_the_wrong_json_type_is_invalid_params(live_worker, caplog):
    room, token = await room_and_token()
    c = client(f"/ws/room/{room.pk}/")
    await live(c, token)
    for i, text in enumerate([{"a": 1}, ["x"], 5, True, None]):
        frame = {"type": "action", "id": f"a{i}", "action": "post", "params": {"text": text}}
        await c.comm.send_json_to(frame)
        answer = await c.until(lambda f: f.get("id") == f"a{i}")  # noqa: B023
        assert answer["type"] == "action.error" and answer["code"] == "invalid_params", answer
    await c.comm.send_json_to({"type": "action", "id": "ok", "action": "post", "params": ["hi"]})
    assert (await c.until(lambda f: f.get("id") == "ok"))["type"] == "action.result"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await c.close()


async def test_a_write_pk_that_is_no_key_of_its_model_is_malformed(live_worker, caplog):
    room, token = await room_and_token()
    c = client(f"/ws/room/{room.pk}/")
    await live(c, token)
    msg = "testapp.MessageSerializer"
    frames = [
        {"type": "write", "id": "w1", "op": "save", "instance_type": msg, "pk": "abc"},
        {"type": "write", "id": "w2", "op": "delete", "instance_type": msg, "pk": "1.5"},
        {
            "type": "write",
            "id": "w3",
            "op": "create",
            "instance_type": msg,
            "parent_type": "testapp.RoomSerializer",
            "parent_pk": "general",
            "data": {"text": "x"},
        },
    ]
    for frame in frames:
        await c.comm.send_json_to(frame)
        answer = await c.until(lambda f: f.get("id") == frame["id"])  # noqa: B023
        assert answer["type"] == "write.error" and answer["code"] == "malformed", answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await c.close()


async def test_a_since_that_is_no_lsn_is_malformed_and_the_socket_stays(live_worker, caplog):
    room, token = await room_and_token()
    c = client(f"/ws/room/{room.pk}/")
    await c.comm.connect()
    for since in ({str(room.pk): "abc"}, {str(room.pk): 1.5}, {str(room.pk): -1}):
        await c.comm.send_json_to({"type": "auth", "token": token, "since": since})
        answer = await c.receive()
        assert answer["type"] == "error" and answer["code"] == "malformed", answer
    await c.comm.send_json_to({"type": "auth", "token": token, "since": {str(room.pk): 0}})
    assert (await c.receive())["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await c.close()


async def test_a_url_argument_that_is_no_key_is_not_found_4404(live_worker):
    _, token = await room_and_token()
    c = client("/ws/named/general/")
    frame = await c.connect(token=token)
    assert frame is not None and frame["type"] == "auth.error" and frame["code"] == "not_found"
    assert await closed_with(c) == ("websocket.close", 4404)


@pytest.mark.parametrize("route", ["perm", "anchor", "hook"])
async def test_a_hook_that_raises_at_connect_is_a_typed_server_error(live_worker, caplog, route):
    room, token = await room_and_token()
    c = client(f"/ws/{route}/{room.pk}/")
    frame = await c.connect(token=token)
    if frame is not None and frame["type"] != "auth.error":  # on_connect runs after auth.ok
        frame = await c.until(lambda f: f["type"] == "auth.error")
    assert frame is not None and frame["code"] == "server_error", c.frames
    assert "bug in" not in frame["message"]  # internals stay in the server log
    assert await closed_with(c) == ("websocket.close", 4500)
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and logged[0].exc_info and "bug in" in str(logged[0].exc_info[1])

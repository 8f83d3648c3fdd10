"""``has_permission(self, user, chat_room)`` (RxDjango's quickstart) gets the anchor row."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.urls import path
from rest_framework.authtoken.models import Token

from rxcdc.channels import StateChannel
from tests.testapp.models import Room
from tests.testapp.serializers import RoomSerializer

pytestmark = pytest.mark.django_db(transaction=True)
asked: list[Any] = []


class RoomRowChannel(StateChannel):
    """Declared in a test module: no installed app lists it, so makefrontend never sees it."""

    class Meta:
        anchor = RoomSerializer()

    def has_permission(self, user, chat_room):
        asked.append(chat_room)
        return chat_room.name != "closed"


application = AuthMiddlewareStack(
    URLRouter([path("ws/row/<str:room_name>/", RoomRowChannel.as_asgi())])
)


@sync_to_async
def token_and_rooms() -> tuple[str, Room, Room]:
    user = User.objects.create(username="alice")
    token = Token.objects.create(user=user).key
    return token, Room.objects.create(name="open"), Room.objects.create(name="closed")


async def first_frame(url: str, token: str) -> tuple[dict[str, Any], WebsocketCommunicator]:
    comm = WebsocketCommunicator(application, url)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "auth", "token": token})
    return await comm.receive_json_from(10), comm


async def test_has_permission_with_a_second_positional_parameter_gets_the_anchor_row(live_worker):
    token, room, closed = await token_and_rooms()
    asked.clear()
    frame, comm = await first_frame(f"/ws/row/{room.pk}/", token)
    assert frame["type"] == "auth.ok" and frame["anchors"] == [room.pk]
    assert [(type(r), r.pk) for r in asked] == [(Room, room.pk)]
    await comm.disconnect()

    frame, comm = await first_frame(f"/ws/row/{closed.pk}/", token)
    assert (frame["type"], frame["code"]) == ("auth.error", "forbidden")
    assert (await comm.receive_output(5)).get("code") == 4403

    asked.clear()
    frame, comm = await first_frame(f"/ws/row/{closed.pk + 1000}/", token)
    assert (frame["type"], frame["code"]) == ("auth.error", "not_found")
    assert (await comm.receive_output(5)).get("code") == 4404
    assert asked == []  # no row: has_permission is not called

"""A socket to an anchor that does not exist is refused before ``auth.ok``; nothing is heated."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from tests.testapp.models import Room
from tests.ws.conftest import Client

ROOM = "testapp.RoomChannel"
pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def token_and_room() -> tuple[str, int]:
    user = User.objects.create(username="alice")
    return Token.objects.create(user=user).key, Room.objects.create(name="here").pk


async def test_a_missing_anchor_is_refused_with_not_found_before_auth_ok_and_never_heated(
    live_worker,
):
    token, room = await token_and_room()
    missing = room + 1000  # no such room
    c = Client(f"/ws/room/{missing}/")
    first = await c.connect(token=token)
    assert first == {"type": "auth.error", "code": "not_found", "message": "no such anchor"}
    out = await c.comm.receive_output(5)
    assert (out["type"], out.get("code")) == ("websocket.close", 4404)

    # An existing room loads through the same worker: its heat comes after any the refused
    # socket could have asked for, so by now the worker would have recorded that one too.
    other = Client(f"/ws/room/{room}/")
    assert (await other.connect(token=token))["type"] == "auth.ok"
    await other.until(lambda f: f["type"] == "snapshot.end")
    await other.close()
    cache = live_worker.worker.cache
    assert await sync_to_async(cache.is_hot)(ROOM, room)
    assert not await sync_to_async(cache.is_hot)(ROOM, missing)
    assert (ROOM, missing) not in live_worker.worker.state.anchors

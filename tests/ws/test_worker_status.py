"""Issue 19, item 9: open sockets learn that the replication worker is gone, and that it is back.

The worker refreshes ``rx:worker`` (TTL 15 s) while it runs; consumers poll it every
``RX_WORKER_CHECK_INTERVAL``. Over a real consumer, a real worker (stopped, then a new one on the
same slot) and real Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rxcdc import conf
from rxcdc.heat import WORKER_KEY
from rxcdc.testing.live import LiveWorker
from rxcdc.testing.waiting import until
from tests.testapp.models import Message, Room
from tests.ws.conftest import Client, recomputed

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "testapp.RoomChannel"


@sync_to_async
def room_and_token() -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="before")
    user = User.objects.create(username="status")
    return room, Token.objects.create(user=user).key


def is_status(worker: str) -> Any:
    return lambda f: f["type"] == "status" and f["worker"] == worker


async def test_clients_are_told_the_worker_is_gone_and_resume_when_it_returns(
    live_worker, settings
):
    settings.RX_WORKER_CHECK_INTERVAL = 0.1
    keys = redis.Redis.from_url(conf.redis_url())
    await until(
        lambda: keys.exists(WORKER_KEY), "the worker announced itself", 15
    )  # its first announcement (under load: later)
    room, token = await room_and_token()
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert not [f for f in c.frames if f["type"] == "status"]  # up is the default: not said

    await sync_to_async(live_worker.stop)()
    # A dead worker's key expires within 15 s; deleting it is that expiry, without the wait.
    keys.delete(WORKER_KEY)
    await c.until(is_status("down"))
    await sync_to_async(Message.objects.create)(room=room, text="while down")
    # A client that connects meanwhile is told at once; its snapshot request finds no worker.
    settings.RX_HEAT_TIMEOUT = 0.5
    late = Client(f"/ws/room/{room.pk}/")
    assert (await late.connect(token=token) or {})["type"] == "auth.ok"
    assert await late.until(lambda f: f["type"] in ("status", "snapshot.begin")) == {
        "type": "status",
        "worker": "down",
    }
    unavailable = await late.until(lambda f: f["type"] == "error")
    assert unavailable["code"] == "worker_unavailable" and unavailable["anchor"] == room.pk

    again = await sync_to_async(LiveWorker)()  # a new worker on the same slot
    try:
        expected = await sync_to_async(recomputed)(ROOM, room.pk)
        assert any(m.get("text") == "while down" for m in expected.values())
        for client in (c, late):  # told, and caught up without reconnecting
            await client.until(is_status("up"))
            if client is late:  # its anchor loads now
                await client.until(lambda f: f["type"] == "snapshot.end")
            while client.data() != expected:
                await client.receive()
            await client.close()
    finally:
        await sync_to_async(again.stop)()
        keys.close()


async def test_a_client_connecting_while_the_worker_is_gone_is_told_at_once(
    settings, transactional_db, redis_url
):
    settings.RX_WORKER_CHECK_INTERVAL = 0.1
    settings.RX_HEAT_TIMEOUT = 60  # no worker: keep its error out of this test's frames
    keys = redis.Redis.from_url(conf.redis_url())
    keys.delete(WORKER_KEY)  # a worker of an earlier test may have left it behind
    room, token = await room_and_token()
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    assert await c.until(lambda f: f["type"] == "status") == {"type": "status", "worker": "down"}
    await c.close()
    keys.close()

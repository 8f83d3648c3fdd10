"""A Redis restart is noticed by its ``run_id``, not only by the worker's key going missing.

Before, connections learnt of a restart only if their process polled ``rx:worker`` in the moment
between the restart and the worker's next announcement; otherwise updates published meanwhile
waited for ``RX_RESYNC_INTERVAL`` (30 s: the chaos row "Redis restart" took 20.5 s in CI).
Over a Redis server of the test's own, really restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rxcdc import liveness
from rxcdc.heat import WORKER_KEY, Heater
from rxcdc.liveness import WorkerWatch
from rxcdc.testing.services import RedisServer
from tests.testapp.models import Board
from tests.ws.conftest import Client


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Heard:
    def __init__(self) -> None:
        self.status: list[bool] = []
        self.restarts = 0

    async def on_status(self, up: bool) -> None:
        self.status.append(up)

    async def on_restart(self) -> None:
        self.restarts += 1


def watch_of(server: RedisServer) -> tuple[WorkerWatch, Heard, redis.Redis]:
    client = redis.Redis.from_url(server.url)
    watch = WorkerWatch(heater=lambda: Heater(client))
    heard = Heard()
    # Listeners registered directly: check() is driven by the test, not by the polling task.
    watch.listeners["test"] = (heard.on_status, heard.on_restart)
    return watch, heard, client


async def test_a_redis_restart_is_noticed_even_when_the_worker_key_is_back_before_the_poll(
    own_redis,
):
    watch, heard, client = watch_of(own_redis)
    client.set(WORKER_KEY, 1)
    assert await watch.check() is True
    assert heard.restarts == 0

    own_redis.restart()
    client.set(WORKER_KEY, 1)  # the worker announced itself again before this process polled
    assert await watch.check() is True
    assert heard.restarts == 1
    assert heard.status == [True]  # the worker was never seen gone: only the restart tells


async def test_no_restart_is_reported_while_redis_keeps_running(own_redis):
    watch, heard, client = watch_of(own_redis)
    client.set(WORKER_KEY, 1)
    await watch.check()
    client.delete(WORKER_KEY)
    assert await watch.check() is False
    client.set(WORKER_KEY, 1)
    assert await watch.check() is True
    assert heard.restarts == 0
    assert heard.status == [True, False, True]


@sync_to_async
def owner_with_board() -> tuple[Any, str, Board]:
    user = User.objects.create(username="lister")
    return user, Token.objects.create(user=user).key, Board.objects.create(owner=user, title="b")


@pytest.mark.django_db(transaction=True)
async def test_after_a_redis_restart_a_list_socket_rejoins_its_groups_and_shows_what_it_missed(
    live_worker, settings
):
    user, token, board = await owner_with_board()
    c = Client("/ws/boards/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end" and f["anchor"] == board.pk)
    watch = liveness.watch()
    (consumer,) = watch.listeners  # the socket's consumer, as the process's watch knows it
    # What a Redis restart without persistence does to channels_redis's core layer: the groups
    # are gone. (The pub/sub layer keeps them, but loses what was published meanwhile.)
    for group in consumer.groups:
        await consumer.channel_layer.group_discard(group, consumer.channel_name)
    missed = await sync_to_async(Board.objects.create)(owner=user, title="while away")
    await sync_to_async(live_worker.wait_applied)()
    while not await c.comm.receive_nothing(0.3):  # the board's own creation may still come
        frame = await c.receive()
        assert frame["type"] != "anchor.added", frame  # its anchor_created went nowhere

    watch.run_id = "the run before the restart"
    await watch.check()  # reads the server's real run_id: a restart
    added = await c.until(lambda f: f["type"] == "anchor.added")
    assert added["anchor"] == missed.pk
    await c.until(lambda f: f["type"] == "snapshot.end" and f["anchor"] == missed.pk)
    # The anchors' groups are joined again: the next change arrives as an update.
    await sync_to_async(Board.objects.filter(pk=board.pk).update)(title="after")
    update = await c.until(lambda f: f["type"] == "update" and f["anchor"] == board.pk)
    assert any(i.get("title") == "after" for i in update["instances"])
    await c.close()

"""A Redis restart is noticed by its ``run_id``, not only by the worker's key going missing.

Before, connections learnt of a restart only if their process polled ``rx:worker`` in the moment
between the restart and the worker's next announcement; otherwise updates published meanwhile
waited for ``RX_RESYNC_INTERVAL`` (30 s: the chaos row "Redis restart" took 20.5 s in CI).
Over a Redis server of the test's own, really restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rxcdc.heat import WORKER_KEY, Heater
from rxcdc.liveness import WorkerWatch
from rxcdc.testing.services import RedisServer


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

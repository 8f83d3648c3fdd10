"""Why checks rxcdc.W002 and W003 exist: RedisChannelLayer and its Redis socket timeout.

Channels cancels a consumer's ``channel_layer.receive()`` when the socket goes away. With a Redis
socket timeout, redis-py sends through ``asyncio.wait_for``, which before Python 3.12 can swallow
that cancellation; channels_redis then polls Redis forever for a consumer that is gone. Without
one, redis-py 8's default of 5 s fails idle receives. (rxcdc recommends the pub/sub layer, whose
receive() waits on a local queue; these are for projects that keep RedisChannelLayer.)
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer

NO_TIMEOUT = {"socket_timeout": None}
CANCELLATIONS = 300
STUCK_AFTER = 2.0  # seconds; a cancelled receive normally ends within milliseconds


async def _first_stuck_receive(layer: RedisChannelLayer, attempts: int) -> asyncio.Task[Any] | None:
    """Cancel ``attempts`` receives at random moments; return the first that does not end."""
    for _ in range(attempts):
        task = asyncio.ensure_future(layer.receive(await layer.new_channel()))
        await asyncio.sleep(random.random() * 0.004)  # cancel at a random point of the receive
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=STUCK_AFTER)
        if not done:
            return task
    return None


async def test_cancelled_receives_end_without_a_socket_timeout(redis_url):
    layer = RedisChannelLayer(hosts=[{"address": redis_url, **NO_TIMEOUT}])
    try:
        assert await _first_stuck_receive(layer, CANCELLATIONS) is None
    finally:
        await layer.flush()


async def test_idle_receive_outlives_the_blocking_read_without_a_socket_timeout(redis_url):
    layer = RedisChannelLayer(hosts=[{"address": redis_url, **NO_TIMEOUT}])
    channel = await layer.new_channel()
    receive = asyncio.ensure_future(layer.receive(channel))
    # channels_redis blocks 5 s per read; a 5 s socket timeout would fail it at 5.0 s.
    done, _ = await asyncio.wait([receive], timeout=6)
    assert not done
    await layer.send(channel, {"type": "rx.test"})
    assert (await asyncio.wait_for(receive, 10))["type"] == "rx.test"
    await layer.flush()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for keeps cancellations")
async def test_a_socket_timeout_can_leave_a_cancelled_receive_polling(redis_url):
    """Why check rxcdc.W003 exists: the same cancellations with a 15 s socket timeout."""
    layer = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": 15}])
    stuck = await _first_stuck_receive(layer, 20 * CANCELLATIONS)
    assert stuck is not None
    # Still polling: channels_redis re-issues its blocking read every 5 s.
    done, _ = await asyncio.wait([stuck], timeout=6)
    assert not done
    stuck.cancel()  # a second cancellation lands in the blocking read and ends it
    await asyncio.wait([stuck], timeout=10)
    assert stuck.done()
    await layer.flush()

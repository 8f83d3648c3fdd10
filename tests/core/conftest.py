"""A real pipeline in-process: Postgres WAL → worker → MongoDB stand-in → Redis channel layer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import connection

from replication.changes import Chunk, Heartbeat, Run
from replication.stream import HEARTBEAT_PREFIX
from rxcdc import conf
from rxcdc.fanout import anchor_group, channel_group
from rxcdc.heat import HeatRequest
from rxcdc.runner import open_stream, start_worker
from rxcdc.serialize import jsonable, load_rows
from rxcdc.state import HotState
from tests.processes import drop_slot_when_free


class Listener:
    """A channel-layer channel on its own event loop: joins groups, collects messages.

    One receive() runs for the listener's whole life: cancelling one is how a consumer leaves,
    and the pub/sub layer then unsubscribes its channel.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self._run(get_channel_layer().new_channel())
        self.inbox: asyncio.Queue[dict[str, Any]] = self._run(self._collect())
        self.messages: list[dict[str, Any]] = []

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _collect(self) -> asyncio.Queue[dict[str, Any]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def receive_forever() -> None:
            while True:
                inbox.put_nowait(await get_channel_layer().receive(self.channel))

        self._receiver = asyncio.ensure_future(receive_forever())
        return inbox

    def join(self, group: str) -> None:
        self._run(get_channel_layer().group_add(group, self.channel))

    def drain(self, timeout: float = 0.3) -> list[dict[str, Any]]:
        """Everything received until the channel stays quiet for ``timeout`` seconds."""

        async def collect() -> list[dict[str, Any]]:
            out = []
            while True:
                try:
                    out.append(await asyncio.wait_for(self.inbox.get(), timeout))
                except TimeoutError:
                    return out

        got = self._run(collect())
        self.messages += got
        return got

    def close(self) -> None:
        async def stop() -> None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Pipeline:
    """Drives the worker from the test thread, with a WAL barrier instead of sleeps."""

    def __init__(self) -> None:
        self.worker = start_worker()
        self.stream = open_stream(self.worker)
        self.listener = Listener()
        self.chunks: list[Chunk] = []

    def pump(self, timeout: float = 30.0) -> None:
        """Process the WAL up to now: every commit before this call is applied and published."""
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_logical_emit_message(false, %s, %s)::text",
                [HEARTBEAT_PREFIX, json.dumps({"emitted_at": datetime.now(UTC).isoformat()})],
            )
            (barrier,) = cur.fetchone()
        target = _lsn(barrier)
        deadline = time.monotonic() + timeout
        for event in self.stream:
            if isinstance(event, Chunk):
                self.chunks.append(event)
            elif isinstance(event, Run):
                self.chunks += event.chunks
            self.worker.handle(event, self.stream.ack)
            if isinstance(event, Heartbeat) and event.lsn >= target:
                self.worker.housekeeping(force=True)
                return
            if time.monotonic() > deadline:
                raise AssertionError("the worker did not reach the WAL barrier in time")

    def heat(self, label: str, anchor: Any) -> dict[str, Any]:
        """Ask for an anchor the way a consumer does; returns the worker's reply."""
        self.listener.join(anchor_group(label, anchor))
        self.listener.join(channel_group(label))
        self.worker.heater.request(
            HeatRequest(label, jsonable(anchor), self.listener.channel), ttl=60
        )
        self.pump()
        replies = [m for m in self.listener.drain() if m["type"] == "rx.hot"]
        assert len(replies) == 1, replies
        return replies[0]

    def updates(self) -> list[dict[str, Any]]:
        """Update messages received since the last call."""
        return [_flat(m) for m in self.listener.drain() if m["type"] != "rx.hot"]

    def cached(self, label: str, anchor: Any) -> dict[tuple[str, Any], dict[str, Any]]:
        return {
            (d["t"], d["pk"]): json.loads(d["json"])
            for d in self.worker.cache.anchor_docs(label, anchor)
        }

    def recomputed(self, label: str, anchor: Any) -> dict[tuple[str, Any], dict[str, Any]]:
        """A fresh serialization of the anchor straight from the database."""
        model = self.worker.channels[label].state()
        delta = HotState().heat((label, anchor), model, load_rows)
        return {(t, jsonable(pk)): row.doc for (t, pk), row in delta.upserts.items()}

    def assert_converged(self, label: str, anchor: Any) -> None:
        assert self.cached(label, anchor) == self.recomputed(label, anchor)

    def restart(self) -> None:
        """Stop the worker and start a new one on the same slot and cache (a restart)."""
        self.stream.close()
        self.worker.publisher.close()
        self.worker.slot_lock.release()
        self.worker = start_worker()
        self.stream = open_stream(self.worker)

    def close(self) -> None:
        self.stream.close()
        self.worker.publisher.close()
        self.worker.slot_lock.release()
        self.listener.close()


def _flat(message: dict[str, Any]) -> dict[str, Any]:
    """An update message with its instances' fields decoded (they travel as JSON text)."""
    if "instances" in message:
        message["instances"] = [
            {**json.loads(i["json"]), **{k: v for k, v in i.items() if k != "json"}}
            for i in message["instances"]
        ]
    return message


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@pytest.fixture
def make_pipeline(settings, redis_url, transactional_db) -> Iterator[Callable[[], Pipeline]]:
    """Creates the test's pipeline on demand (after the test adjusted settings)."""
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    made: list[Pipeline] = []

    def make() -> Pipeline:
        made.append(Pipeline())
        return made[-1]

    yield make
    for p in made:
        p.close()
        with contextlib.suppress(Exception):
            p.worker.cache.client.drop_database(settings.RX_MONGO_DB)
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)


@pytest.fixture
def pipeline(make_pipeline) -> Pipeline:
    return make_pipeline()

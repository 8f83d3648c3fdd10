"""rxcdc.api tests: consumers over a WebsocketCommunicator; observers fed by a real worker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection

from replication import Chunk
from replication.slot import drop_slot
from rxcdc import conf
from rxcdc.replicator import Replicator
from rxcdc.testing.listener import Listener
from rxcdc.testing.live import LiveWorker
from rxcdc.testing.waiting import wait_until


@contextlib.asynccontextmanager
async def connected(app: Any, user: Any = None, path: str = "/ws/") -> AsyncIterator[Any]:
    """A connected communicator, always disconnected afterwards."""
    comm = WebsocketCommunicator(app, path)
    if user is not None:
        comm.scope["user"] = user
    ok, _ = await comm.connect()
    assert ok, "the consumer refused the connection"
    try:
        yield comm
    finally:
        await comm.disconnect()


async def ask(comm: Any, timeout: float = 10, **frame: Any) -> dict[str, Any]:
    """Send one frame and return the next one received."""
    await comm.send_json_to(frame)
    return await comm.receive_json_from(timeout)  # type: ignore[no-any-return]


def frame(action: Any, data: Any = None, status: int = 200, request_id: Any = None, errors=None):
    """A DCRF reply, the way the server must send it."""
    return {
        "errors": errors or [],
        "data": data,
        "action": action,
        "response_status": status,
        "request_id": request_id,
    }


class Driver:
    """The worker driven from the test thread up to a WAL barrier (no websocket, no sleeps)."""

    def __init__(self) -> None:
        self.replicator = Replicator()
        self.worker = self.replicator.worker
        self.chunks: list[Chunk] = []

    def pump(self, timeout: float = 30.0) -> list[Chunk]:
        """Handle everything committed before this call; returns the chunks handled."""
        seen = self.replicator.pump(timeout)
        self.chunks += seen
        return seen

    def close(self) -> None:
        self.replicator.close()


WORKER_FIXTURES = {"rx_settings", "live_worker", "driver"}


@pytest.fixture(autouse=True)
def _memory_layer(request, settings) -> None:
    """Tests without a worker use the in-memory channel layer: a Redis layer's receive keeps
    each disconnecting consumer alive for the communicator's whole timeout (1 s)."""
    if WORKER_FIXTURES.isdisjoint(request.fixturenames):
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def rx_settings(settings, redis_url, transactional_db) -> Iterator[Any]:
    """A fresh slot and MongoDB database for the test's workers."""
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    yield settings
    import pymongo

    pymongo.MongoClient(conf.mongo_url()).drop_database(settings.RX_MONGO_DB)
    _drop_slot_once_released(settings.RX_SLOT_NAME)


def _drop_slot_once_released(name: str) -> None:
    wait_until_released(name)
    drop_slot(conf.replication_dsn(), name)


def wait_until_released(name: str, timeout: float = 10.0) -> None:
    """The server ends a WAL sender a moment after its client hung up: wait for that."""

    def released() -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [name])
            row = cur.fetchone()
            return row is None or not row[0]

    wait_until(released, f"slot {name}'s WAL sender ended", timeout)


@pytest.fixture
def live_worker(rx_settings) -> Iterator[LiveWorker]:
    w = LiveWorker()
    yield w
    w.stop()


@pytest.fixture
def driver(rx_settings) -> Iterator[Driver]:
    d = Driver()
    yield d
    d.close()


@pytest.fixture
def listener(rx_settings) -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture
def full_identity(transactional_db) -> Iterator[list[str]]:
    """``rx_api_replica_identity`` for the test; the tables it changed are set back after."""
    import io

    from django.core.management import call_command

    from rxcdc.api.replica_identity import set_replica_identity

    out = io.StringIO()
    call_command("rx_api_replica_identity", stdout=out)
    changed = [line.split(":")[0] for line in out.getvalue().splitlines()]
    yield changed
    set_replica_identity(changed, "default")

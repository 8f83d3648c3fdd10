"""rxcdc.api tests: consumers over a WebsocketCommunicator; observers fed by a real worker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from replication import Chunk
from rxcdc.replicator import Replicator
from rxcdc.testing.listener import Listener


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

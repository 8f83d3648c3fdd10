"""A real pipeline in-process: Postgres WAL → worker → MongoDB stand-in → Redis channel layer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from replication import Chunk, ReplicationStream
from rxcdc.fanout import anchor_group, channel_group
from rxcdc.heat import HeatRequest
from rxcdc.replicator import Replicator
from rxcdc.serialize import jsonable, load_rows
from rxcdc.state import HotState
from rxcdc.testing.listener import Listener
from rxcdc.worker import Worker


class Pipeline:
    """Drives the worker from the test thread, with a WAL barrier instead of sleeps."""

    def __init__(self) -> None:
        self.replicator = Replicator()
        self.listener = Listener()
        self.chunks: list[Chunk] = []

    @property
    def worker(self) -> Worker:
        return self.replicator.worker

    @property
    def stream(self) -> ReplicationStream:
        return self.replicator.stream

    def pump(self, timeout: float = 30.0) -> None:
        """Process the WAL up to now: every commit before this call is applied and published."""
        self.chunks += self.replicator.pump(timeout)
        self.worker.housekeeping(force=True)

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
        self.replicator.close()
        self.replicator = Replicator()

    def close(self) -> None:
        self.replicator.close()
        self.listener.close()


def _flat(message: dict[str, Any]) -> dict[str, Any]:
    """An update message with its instances' fields decoded (they travel as JSON text)."""
    if "instances" in message:
        message["instances"] = [
            {**json.loads(i["json"]), **{k: v for k, v in i.items() if k != "json"}}
            for i in message["instances"]
        ]
    return message


@pytest.fixture
def make_pipeline(rx_settings) -> Iterator[Callable[[], Pipeline]]:
    """Creates the test's pipeline on demand (after the test adjusted settings)."""
    made: list[Pipeline] = []

    def make() -> Pipeline:
        made.append(Pipeline())
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def pipeline(make_pipeline) -> Pipeline:
    return make_pipeline()

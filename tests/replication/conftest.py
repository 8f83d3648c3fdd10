"""Fixtures for the replication tests: a slot, streams with test timings, extra clusters."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from replication import ReplicationStream, ensure_slot
from rxcdc.testing.services import PostgresServer

SLOT = "rx_test"


@pytest.fixture
def db(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def slot(pg_dsn: str) -> str:
    """A fresh wal2json slot in the test database (dropped with it)."""
    assert ensure_slot(pg_dsn, SLOT)
    return SLOT


@pytest.fixture
def open_stream(pg_dsn: str, slot: str) -> Iterator[Callable[..., ReplicationStream]]:
    """Make streams on the test slot with quick test timings; all are closed afterwards."""
    streams: list[ReplicationStream] = []

    def make(tables: Any = ("t",), **kwargs: Any) -> ReplicationStream:
        options: dict[str, Any] = {
            "idle_tick": 0.05,
            "heartbeat_interval": None,
            "backoff_initial": 0.05,
            "backoff_max": 0.5,
            **kwargs,
        }
        stream = ReplicationStream(pg_dsn, slot, tables, **options)
        streams.append(stream)
        return stream

    yield make
    for stream in streams:
        stream.close()


@pytest.fixture(scope="module")
def start_cluster() -> Iterator[Callable[..., PostgresServer]]:
    """Start extra throwaway Postgres clusters with given settings (stopped after the module)."""
    started: list[tuple[PostgresServer, Path]] = []

    def start(**settings: str) -> PostgresServer:
        # Not pytest's tmp_path: it is under a 0700 directory the postgres user cannot enter.
        root = Path(tempfile.mkdtemp(prefix="rxcdc-services-"))
        root.chmod(0o755)
        server = PostgresServer(root / "pg", settings=settings)
        started.append((server, root))
        server.start()
        return server

    yield start
    for server, root in started:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

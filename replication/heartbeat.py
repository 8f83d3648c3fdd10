"""Heartbeats: logical messages emitted on a plain connection that come back through the slot.

A non-transactional ``pg_logical_emit_message`` is decoded as soon as it is flushed, even on a
database nobody writes to, so acknowledging it moves an idle slot forward; its emit time, sent
as content, measures the pipeline's latency.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions

from replication.connection import with_defaults

__all__ = ["HEARTBEAT_PREFIX", "Heartbeater", "emitted_at"]

log = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "rx_heartbeat"


class Heartbeater:
    """Emits heartbeats on its own autocommit connection, (re)opened when needed."""

    def __init__(self, dsn: str):
        # A heartbeat must not hang the stream for long when the server is unreachable.
        self._dsn = with_defaults(dsn, connect_timeout="5")
        self._conn: psycopg2.extensions.connection | None = None

    def emit(self) -> None:
        """Emit one heartbeat; a failure is logged, and the next call reconnects."""
        content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
        try:
            if self._conn is None:
                self._conn = psycopg2.connect(self._dsn)
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_logical_emit_message(false, %s, %s)", (HEARTBEAT_PREFIX, content)
                )
        except psycopg2.Error as exc:
            log.warning("replication: heartbeat failed: %s", str(exc).strip())
            self.close()

    def close(self) -> None:
        """Close the connection (the next ``emit`` opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def emitted_at(content: str) -> datetime:
    """The emit time carried by a heartbeat message's content."""
    return datetime.fromisoformat(json.loads(content)["emitted_at"])

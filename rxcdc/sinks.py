"""Extension point: other consumers of the worker's transactions (e.g. ``rxcdc.api`` observers).

A sink names the tables it needs and turns each chunk of a transaction into channel-layer
messages; the worker publishes them with its own, before acknowledging the transaction.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from replication.changes import Chunk, format_lsn
from rxcdc.isolation import TRANSIENT

__all__ = ["Sink", "register", "registered", "sink_messages", "unregister"]

log = logging.getLogger("rxcdc.worker")

Message = tuple[str, dict[str, Any]]  # (group, message)


class Sink(Protocol):
    """Receives every chunk of every transaction that touches its tables."""

    def tables(self) -> list[str]:
        """Tables whose changes the sink needs."""

    def messages(self, chunk: Chunk) -> list[Message]:
        """Group messages for this chunk. May read the database; may run again after a retry."""


_sinks: list[Sink] = []


def register(sink: Sink) -> Sink:
    """Add a sink to every worker started after this call."""
    _sinks.append(sink)
    return sink


def unregister(sink: Sink) -> None:
    """Remove a sink (tests)."""
    _sinks.remove(sink)


def registered() -> list[Sink]:
    """The registered sinks."""
    return list(_sinks)


def sink_messages(sink: Sink, chunk: Chunk) -> tuple[list[Message], int]:
    """A sink's messages for a chunk, and how many changes it failed on (logged and skipped).

    One change a sink cannot handle (a DELETE without its primary key, a value it cannot
    serialize) must not stop the stream; outages (``TRANSIENT``) propagate, to be retried.
    """
    try:
        return list(sink.messages(chunk)), 0
    except TRANSIENT:
        raise
    except Exception:
        pass
    out: list[Message] = []
    failed = 0
    for change in chunk.changes:
        try:
            out += sink.messages(Chunk(chunk.transaction, [change], chunk.index, chunk.last))
        except TRANSIENT:
            raise
        except Exception:
            failed += 1
            log.exception(
                "sink %s failed on %s of %s at %s; skipped",
                type(sink).__name__,
                type(change).__name__,
                getattr(change, "table", "?"),
                format_lsn(chunk.transaction.commit_lsn),
            )
    return out, failed

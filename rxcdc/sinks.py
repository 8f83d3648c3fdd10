"""Extension point: other consumers of the worker's transactions (e.g. ``rxcdc.api`` observers).

A sink names the tables it needs and turns each chunk of a transaction into channel-layer
messages; the worker publishes them with its own, before acknowledging the transaction.
"""

from __future__ import annotations

from typing import Any, Protocol

from replication.changes import Chunk

__all__ = ["Sink", "register", "registered", "unregister"]

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

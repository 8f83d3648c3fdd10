"""Helpers for the replication tests: reassembling transactions, waiting with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from replication import Change, Chunk, Event, ReplicationStream, Transaction


@dataclass
class Received:
    """Transactions put back together from chunks, plus every event seen."""

    events: list[Event] = field(default_factory=list)
    complete: list[tuple[Transaction, list[Change]]] = field(default_factory=list)
    partial: list[Change] = field(default_factory=list)

    @property
    def chunks(self) -> list[Chunk]:
        return [e for e in self.events if isinstance(e, Chunk)]


def receive(
    stream: ReplicationStream,
    until: Callable[[Received], bool],
    *,
    timeout: float = 15.0,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> Received:
    """Pull events until ``until(received)`` holds; fail after ``timeout`` seconds.

    The stream's idle ticks guarantee the deadline is checked even when nothing arrives.
    """
    got = Received()
    deadline = time.monotonic() + timeout
    if until(got):
        return got
    for event in stream:
        got.events.append(event)
        if isinstance(event, Chunk):
            if event.index == 0:
                got.partial = []  # a chunk 0 always starts a transaction (again)
            got.partial += event.changes
            if event.last:
                got.complete.append((event.transaction, got.partial))
                got.partial = []
            if on_chunk is not None:
                on_chunk(event)
        if until(got):
            return got
        if time.monotonic() > deadline:
            break
    pytest.fail(f"condition not met within {timeout}s; received {got.events!r}"[:3000])


def transactions(n: int) -> Callable[[Received], bool]:
    """Condition: ``n`` complete transactions received."""
    return lambda got: len(got.complete) >= n

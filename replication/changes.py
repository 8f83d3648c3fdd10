"""The typed events a replication stream delivers: transaction chunks, heartbeats and ticks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Change",
    "Chunk",
    "Delete",
    "Event",
    "Heartbeat",
    "Insert",
    "Message",
    "Row",
    "Run",
    "Tick",
    "Transaction",
    "Truncate",
    "Update",
    "format_lsn",
    "parse_lsn",
]

Row = dict[str, Any]


def parse_lsn(text: str) -> int:
    """``'16/B374D848'`` → integer LSN."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(lsn: int) -> str:
    """Integer LSN → Postgres text form ``'16/B374D848'``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


# The changes (one per row) are plain slotted dataclasses: a frozen dataclass's __init__ costs
# about three times as much, which was 6% of the stream's time per change. Treat them as
# read-only all the same.
@dataclass(slots=True)
class Insert:
    """A new row. ``new`` maps every column name to its Python value."""

    schema: str
    table: str
    new: Row
    lsn: int


@dataclass(slots=True)
class Update:
    """A changed row.

    ``new`` holds the new values; an unchanged TOASTed column is absent (never None). ``old``
    holds the replica identity: under REPLICA IDENTITY DEFAULT the primary key (its old value
    when the key changed, else the unchanged key), under FULL every old column.
    """

    schema: str
    table: str
    new: Row
    old: Row
    lsn: int


@dataclass(slots=True)
class Delete:
    """A removed row. ``old`` holds its replica identity (the key, or every column under FULL)."""

    schema: str
    table: str
    old: Row
    lsn: int


@dataclass(slots=True)
class Truncate:
    """``TRUNCATE`` of one table (a multi-table TRUNCATE yields one per table)."""

    schema: str
    table: str
    lsn: int


@dataclass(slots=True)
class Message:
    """A transactional ``pg_logical_emit_message`` inside a transaction."""

    prefix: str
    content: str
    lsn: int


Change = Insert | Update | Delete | Truncate | Message


@dataclass(frozen=True, slots=True)
class Transaction:
    """A committed source transaction.

    ``commit_lsn`` is the end of its commit record: the position to acknowledge, and the
    transaction's identity for idempotent replay (strictly increasing in commit order).
    """

    xid: int
    commit_lsn: int
    commit_time: datetime


@dataclass(frozen=True, slots=True)
class Chunk:
    """Up to ``chunk_size`` consecutive changes of one transaction, in WAL order.

    A transaction arrives as one or more chunks; ``last`` marks the final one (a transaction with
    no changes in the tracked tables is not delivered at all). ``index`` counts from 0.
    """

    transaction: Transaction
    changes: list[Change]
    index: int
    last: bool


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive whole transactions that were already waiting together, in commit order.

    Each is one final chunk (index 0, ``last``). Acknowledging ``transaction``, the last of
    them, acknowledges them all. Only streams built with ``run_changes`` deliver runs.
    """

    chunks: tuple[Chunk, ...]

    @property
    def transaction(self) -> Transaction:
        """The run's last transaction: its commit LSN is the run's."""
        return self.chunks[-1].transaction


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A non-transactional heartbeat message emitted by the stream itself.

    ``emitted_at`` is the wall clock of the emitting process, ``received_at`` ours: their
    difference is the commit → caller latency of an idle pipeline.
    """

    lsn: int
    emitted_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing arrived for ``idle`` seconds: lets a caller do periodic work between events."""

    at: datetime = field(compare=False)


Event = Chunk | Run | Heartbeat | Tick

"""Django-free change data capture: wal2json v2 over a psycopg2 logical replication stream.

``preflight`` and ``ensure_slot`` prepare a slot; a ``ReplicationStream`` then yields the
committed transactions of the tracked tables in chunks, which the caller acknowledges.
"""

from replication.changes import (
    Change,
    Chunk,
    Delete,
    Event,
    Heartbeat,
    Insert,
    Message,
    Row,
    Run,
    Tick,
    Transaction,
    Truncate,
    Update,
    format_lsn,
    parse_lsn,
)
from replication.errors import (
    ConfigurationError,
    ConnectionLost,
    ProtocolError,
    ReplicationError,
    SlotInUse,
    SlotLost,
    SlotMissing,
)
from replication.heartbeat import HEARTBEAT_PREFIX
from replication.slot import SlotStatus, drop_slot, ensure_slot, preflight, slot_status
from replication.stream import ReplicationStream, stop_on_signals
from replication.wal2json import TableName

__all__ = [
    "HEARTBEAT_PREFIX",
    "Change",
    "Chunk",
    "ConfigurationError",
    "ConnectionLost",
    "Delete",
    "Event",
    "Heartbeat",
    "Insert",
    "Message",
    "ProtocolError",
    "ReplicationError",
    "ReplicationStream",
    "Row",
    "Run",
    "SlotInUse",
    "SlotLost",
    "SlotMissing",
    "SlotStatus",
    "TableName",
    "Tick",
    "Transaction",
    "Truncate",
    "Update",
    "drop_slot",
    "ensure_slot",
    "format_lsn",
    "parse_lsn",
    "preflight",
    "slot_status",
    "stop_on_signals",
]

"""Errors of the replication core; each message says what the operator should do."""

from __future__ import annotations

import re

import psycopg2

__all__ = [
    "ConfigurationError",
    "ConnectionLost",
    "PluginUnverified",
    "ProtocolError",
    "ReplicationError",
    "SlotInUse",
    "SlotLost",
    "SlotMissing",
    "classify",
]


class ReplicationError(Exception):
    """Base class of every error raised by ``replication``."""


class ConfigurationError(ReplicationError):
    """The server, the role or the slot is set up in a way that rules out logical replication."""


class PluginUnverified(ReplicationError):
    """Whether the output plugin is installed could not be checked without waiting."""


class ConnectionLost(ReplicationError):
    """The database could not be reached; retrying later may succeed."""


class SlotMissing(ReplicationError):
    """The replication slot does not exist."""

    def __init__(self, slot: str):
        super().__init__(
            f"replication slot {slot!r} does not exist: create it with "
            f"replication.ensure_slot(dsn, {slot!r}). A new slot starts at the current WAL "
            "position, so every change made since the old slot was dropped is not streamed: "
            "resynchronise whatever was built from it"
        )
        self.slot = slot


class SlotInUse(ReplicationError):
    """Another process is streaming from the slot (only one consumer per slot is possible)."""

    def __init__(self, slot: str, pid: int | None, holder: str | None = None):
        who = f"PID {pid}" if pid is not None else "another process"
        if holder:
            who = f"{holder} (backend PID {pid})"
        super().__init__(
            f"replication slot {slot!r} is in use by {who}: stop that consumer first, or end "
            f"its connection with SELECT pg_terminate_backend({pid if pid is not None else 'pid'})"
        )
        self.slot = slot
        self.pid = pid


class SlotLost(ReplicationError):
    """The slot was invalidated (``wal_status = 'lost'``): the WAL it needed is gone."""

    def __init__(self, slot: str):
        super().__init__(
            f"replication slot {slot!r} was invalidated (wal_status = 'lost'): the WAL it still "
            "needed was removed, usually because the consumer lagged more than "
            "max_slot_wal_keep_size. Changes were lost: drop the slot "
            f"(replication.drop_slot or SELECT pg_drop_replication_slot('{slot}')), create a "
            "new one and resynchronise everything built from the old one; consider raising "
            "max_slot_wal_keep_size"
        )
        self.slot = slot


class ProtocolError(ReplicationError):
    """wal2json sent something this library does not understand (a bug or a version mismatch)."""


def wal_level_message(current: str) -> str:
    """What to do when ``wal_level`` is too low for logical decoding."""
    return (
        f"the server runs with wal_level = {current}, and logical decoding needs "
        "wal_level = logical: set it in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) "
        "and restart Postgres"
    )


def replication_role_message(role: str) -> str:
    """What to do when the role may not stream changes."""
    return (
        f"role {role!r} may not use replication slots: give it the REPLICATION attribute "
        f'(ALTER ROLE "{role}" REPLICATION) or connect as a role that has it'
    )


def wal2json_message(major: str = "<major>") -> str:
    """What to do when the wal2json output plugin is not installed on the server."""
    return (
        "the wal2json output plugin is not installed on the database server: install it on the "
        f"server host (Debian/Ubuntu: apt-get install postgresql-{major}-wal2json; "
        f"RHEL: dnf install wal2json_{major}); Postgres loads it on demand, no restart needed"
    )


_ACTIVE_PID = re.compile(r"active for PID (\d+)")


def classify(exc: psycopg2.Error, slot: str, role: str = "the connecting role") -> ReplicationError:
    """The ReplicationError that tells the operator what to do about a driver error."""
    message = str(exc).strip()
    code = exc.pgcode
    if code == "42704" and "replication slot" in message:
        return SlotMissing(slot)
    if code == "55006":
        match = _ACTIVE_PID.search(message)
        return SlotInUse(slot, int(match.group(1)) if match else None)
    if "can no longer get changes" in message or "has been invalidated" in message:
        return SlotLost(slot)
    if "must be superuser or replication role" in message:
        return ConfigurationError(replication_role_message(role))
    if "requires wal_level" in message:
        return ConfigurationError(wal_level_message("lower than logical"))
    if code == "58P01" and "wal2json" in message:
        return ConfigurationError(wal2json_message())
    if "was not created in this database" in message:
        return ConfigurationError(
            f"replication slot {slot!r} belongs to another database: connect to that database "
            "or use another slot name (a logical slot streams exactly one database)"
        )
    if code is None and any(s in message for s in _PERMANENT_CONNECT_FAILURES):
        return ConfigurationError(f"cannot connect to Postgres: {message}")
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        return ConnectionLost(f"lost or could not open the connection to Postgres: {message}")
    return ReplicationError(message)


# Connection failures that retrying will not fix (libpq reports them without an SQLSTATE).
_PERMANENT_CONNECT_FAILURES = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "permission denied",
    "invalid dsn",
    "invalid connection option",
)

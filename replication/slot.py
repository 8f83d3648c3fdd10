"""Replication slot lifecycle and health: create, inspect, drop, and the checks before streaming."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from replication.changes import parse_lsn
from replication.errors import (
    ConfigurationError,
    PluginUnverified,
    SlotInUse,
    SlotLost,
    classify,
    replication_role_message,
    wal2json_message,
    wal_level_message,
)

__all__ = ["PLUGIN", "SlotStatus", "drop_slot", "ensure_slot", "preflight", "slot_status"]

PLUGIN = "wal2json"

_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")


@dataclass(frozen=True, slots=True)
class SlotStatus:
    """One slot as ``pg_replication_slots`` reports it; sizes in bytes, LSNs as integers.

    ``retained_bytes`` is the WAL the server keeps for the slot (current WAL position minus
    ``restart_lsn``); ``lag_bytes`` is the WAL written since the last acknowledged position
    (minus ``confirmed_flush_lsn``). ``wal_status`` is ``reserved``, ``extended``,
    ``unreserved`` or ``lost``; ``safe_wal_size`` is how much more WAL may be written before the
    slot is lost (None when ``max_slot_wal_keep_size`` is unlimited).
    """

    name: str
    exists: bool
    plugin: str | None = None
    database: str | None = None
    active: bool = False
    active_pid: int | None = None
    confirmed_flush_lsn: int | None = None
    restart_lsn: int | None = None
    retained_bytes: int | None = None
    lag_bytes: int | None = None
    wal_status: str | None = None
    safe_wal_size: int | None = None


def _check_name(name: str) -> None:
    if not _SLOT_NAME.fullmatch(name):
        raise ConfigurationError(
            f"invalid replication slot name {name!r}: use 1-63 lower-case letters, digits "
            "and underscores"
        )


@contextmanager
def _connection(dsn: str, slot: str) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection whose driver errors come out as ReplicationErrors."""
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as exc:
        raise classify(exc, slot) from exc
    try:
        conn.autocommit = True
        yield conn
    except psycopg2.Error as exc:
        raise classify(exc, slot) from exc
    finally:
        conn.close()


_STATUS_SQL = """
WITH here AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END AS lsn
)
SELECT plugin, database, active, active_pid, confirmed_flush_lsn::text, restart_lsn::text,
       pg_wal_lsn_diff(here.lsn, restart_lsn)::bigint,
       pg_wal_lsn_diff(here.lsn, confirmed_flush_lsn)::bigint,
       wal_status, safe_wal_size
FROM pg_replication_slots, here
WHERE slot_name = %s
"""


def _status(conn: psycopg2.extensions.connection, name: str) -> SlotStatus:
    with conn.cursor() as cur:
        cur.execute(_STATUS_SQL, (name,))
        found = cur.fetchone()
    if found is None:
        return SlotStatus(name=name, exists=False)
    plugin, database, active, pid, confirmed, restart, retained, lag, wal_status, safe = found
    return SlotStatus(
        name=name,
        exists=True,
        plugin=plugin,
        database=database,
        active=active,
        active_pid=pid,
        confirmed_flush_lsn=parse_lsn(confirmed) if confirmed else None,
        restart_lsn=parse_lsn(restart) if restart else None,
        retained_bytes=retained,
        lag_bytes=lag,
        wal_status=wal_status,
        safe_wal_size=safe,
    )


def slot_status(dsn: str, name: str) -> SlotStatus:
    """The slot's state and lag (``exists=False`` when there is no such slot)."""
    with _connection(dsn, name) as conn:
        return _status(conn, name)


def _check_existing(conn: psycopg2.extensions.connection, status: SlotStatus) -> None:
    """Refuse a slot that is not a wal2json slot of this database, is lost or is in use."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        (database,) = cur.fetchone()
    if status.plugin != PLUGIN:
        raise ConfigurationError(
            f"replication slot {status.name!r} uses output plugin {status.plugin!r}, not "
            f"{PLUGIN!r}: drop it (replication.drop_slot) or choose another slot name"
        )
    if status.database != database:
        raise ConfigurationError(
            f"replication slot {status.name!r} belongs to database {status.database!r}, not "
            f"{database!r}: a logical slot streams one database; use another slot name"
        )
    if status.wal_status == "lost":
        raise SlotLost(status.name)
    if status.active_pid is not None:
        raise SlotInUse(status.name, status.active_pid)


def ensure_slot(dsn: str, name: str) -> bool:
    """Create the wal2json slot unless it exists; True when it was created just now.

    A new slot streams only what commits after its creation, so a caller that created it must
    (re)build its state from a snapshot. Creating waits for transactions already running.
    """
    _check_name(name)
    with _connection(dsn, name) as conn:
        if _status(conn, name).exists:
            return False
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (name, PLUGIN))
            except psycopg2.errors.DuplicateObject:
                return False  # created concurrently by another process
        return True


def drop_slot(dsn: str, name: str) -> bool:
    """Drop the slot; False when it did not exist. Refuses (SlotInUse) while it is streaming."""
    with _connection(dsn, name) as conn:
        if not _status(conn, name).exists:
            return False
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            except psycopg2.errors.UndefinedObject:
                return False  # dropped concurrently
        return True


def preflight(dsn: str, name: str, *, wait: float | None = None) -> None:
    """Refuse to start, with what to do, unless the server, role and slot allow streaming.

    Checks ``wal_level``, the REPLICATION attribute, and that the slot (if it exists) is a wal2json
    slot of this database that is neither lost nor in use. When the slot does not exist yet,
    whether wal2json is installed is checked by creating a temporary slot, which, like any slot
    creation, waits for running transactions: ``wait`` bounds that (seconds; None waits), and
    raises ``PluginUnverified`` when it runs out.
    """
    _check_name(name)
    with _connection(dsn, name) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('wal_level'), current_user, rolsuper OR rolreplication,"
                " current_setting('server_version_num')::int / 10000"
                " FROM pg_roles WHERE rolname = current_user"
            )
            wal_level, role, may_replicate, major = cur.fetchone()
        if wal_level != "logical":
            raise ConfigurationError(wal_level_message(wal_level))
        if not may_replicate:
            raise ConfigurationError(replication_role_message(role))
        status = _status(conn, name)
        if status.exists:
            _check_existing(conn, status)
        else:
            _check_plugin(conn, name, str(major), wait)


def _check_plugin(
    conn: psycopg2.extensions.connection, slot: str, major: str, wait: float | None
) -> None:
    probe = f"rx_preflight_{os.getpid()}_{secrets.token_hex(4)}"
    with conn.cursor() as cur:
        if wait is not None:
            # The slot's snapshot waits for every transaction running now: bound it.
            cur.execute(
                "SELECT set_config('statement_timeout', %s, false)", (f"{wait * 1000:.0f}",)
            )
        try:
            cur.execute(
                "SELECT pg_create_logical_replication_slot(%s, %s, temporary => true)",
                (probe, PLUGIN),
            )
        except psycopg2.errors.UndefinedFile as exc:
            raise ConfigurationError(wal2json_message(major)) from exc
        except psycopg2.errors.QueryCanceled as exc:
            raise PluginUnverified(
                f"could not check for wal2json within {wait:g} s: creating a slot waits for the "
                "transactions open now (rx_replicate checks it when it creates its slot)"
            ) from exc
        cur.execute("SELECT pg_drop_replication_slot(%s)", (probe,))

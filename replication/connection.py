"""Opening the replication connection: pinned session settings, keepalives, start position."""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from replication.errors import classify

__all__ = ["PINNED_SETTINGS", "open_replication", "with_defaults"]

# wal2json writes values with the walsender's text output functions, so these decide the formats
# values.py parses: never leave them to the server's or the database's defaults.
PINNED_SETTINGS = (
    "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c IntervalStyle=iso_8601 "
    "-c bytea_output=hex"
)

# Notice a silently dead TCP peer within about a minute (ignored on unix sockets).
_KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
               "keepalives_count": "3"}  # fmt: skip


def with_defaults(dsn: str, **defaults: str) -> str:
    """``dsn`` with ``defaults`` for the parameters it does not set itself."""
    return str(psycopg2.extensions.make_dsn(**{**defaults, **psycopg2.extensions.parse_dsn(dsn)}))


def _start_command(
    conn: psycopg2.extensions.connection, slot: str, start_lsn: int, options: dict[str, str]
) -> str:
    """``START_REPLICATION SLOT … LOGICAL …`` with ``options`` quoted for this connection.

    Not psycopg2's ``start_replication``: it quotes option values without the connection, as
    Latin-1, so a table name outside Latin-1 in ``add-tables`` could not be sent.
    """
    quoted = []
    for key, value in options.items():
        literal = psycopg2.extensions.QuotedString(value)
        literal.prepare(conn)  # the connection's encoding and string-escaping rules
        text = literal.getquoted().decode(psycopg2.extensions.encodings[conn.encoding])
        quoted.append(f"{psycopg2.extensions.quote_ident(key, conn)} {text}")
    position = f"{start_lsn >> 32:X}/{start_lsn & 0xFFFFFFFF:08X}"
    command = f"START_REPLICATION SLOT {psycopg2.extensions.quote_ident(slot, conn)} LOGICAL "
    return f"{command}{position} ({', '.join(quoted)})"


def open_replication(
    dsn: str, slot: str, *, start_lsn: int, options: dict[str, str], status_interval: float
) -> tuple[psycopg2.extensions.connection, Any]:
    """Connect and ``START_REPLICATION`` on ``slot`` from ``start_lsn`` (0: where it was acked).

    Returns the connection and its replication cursor; driver errors come out as the
    ReplicationError that says what to do (``errors.classify``).
    """
    params = psycopg2.extensions.parse_dsn(dsn)
    pinned = f"{params.get('options', '')} {PINNED_SETTINGS}".strip()  # later -c wins
    role = params.get("user", "the connecting role")
    try:
        conn = psycopg2.connect(
            with_defaults(dsn, fallback_application_name=f"replication:{slot}", **_KEEPALIVES),
            options=pinned,
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
        )
    except psycopg2.Error as exc:
        raise classify(exc, slot, role) from exc
    try:
        cursor = conn.cursor()
        cursor.start_replication_expert(
            _start_command(conn, slot, start_lsn, options),
            decode=True,
            status_interval=status_interval,
        )
    except psycopg2.Error as exc:
        conn.close()
        raise classify(exc, slot, role) from exc
    return conn, cursor

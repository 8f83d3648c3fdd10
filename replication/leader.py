"""One active consumer per slot: a session-level advisory lock, with standbys that wait for it.

The lock lives as long as the holder's connection: when the active worker dies, Postgres ends
its session and a waiting standby takes over, with nothing to clean up.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket

import psycopg2
import psycopg2.extensions

from replication.errors import SlotInUse, classify

__all__ = ["SlotLock"]


def _key(slot: str) -> int:
    # A stable signed 64-bit key per slot name (advisory locks are global to the cluster).
    digest = hashlib.sha256(f"rxcdc-slot:{slot}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SlotLock:
    """Hold the advisory lock of a slot while streaming from it."""

    def __init__(self, dsn: str, slot: str) -> None:
        self.dsn, self.slot, self.key = dsn, slot, _key(slot)
        self._conn: psycopg2.extensions.connection | None = None

    def acquire(self, *, wait: bool, poll: float = 0.5) -> None:
        """Take the lock; without ``wait``, raise ``SlotInUse`` naming the holder's PID.

        With ``wait`` (a standby), block until the holder goes away.
        """
        try:
            # Named, so a refused worker can say who holds the slot.
            name = f"rx_replicate pid {os.getpid()} on {socket.gethostname()}"[:63]
            self._conn = psycopg2.connect(self.dsn, application_name=name)
            self._conn.autocommit = True
            with self._conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    (got,) = cur.fetchone()
                    if got:
                        return
                    if not wait:
                        raise SlotInUse(self.slot, *self.holder())
                    # Between tries the connection stays idle: a select on nothing is the wait.
                    select.select([], [], [], poll)
        except psycopg2.Error as exc:
            self.release()
            raise classify(exc, self.slot) from exc
        except BaseException:
            self.release()
            raise

    def holder(self) -> tuple[int | None, str | None]:
        """Backend PID and application name of the lock's holder (Nones if nobody holds it)."""
        assert self._conn is not None
        with self._conn.cursor() as cur:
            # A bigint advisory key shows in pg_locks as its two 32-bit halves.
            cur.execute(
                "SELECT l.pid, a.application_name FROM pg_locks l"
                " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid"
                " AND l.objid = %s::bigint::oid AND l.objsubid = 1 AND l.pid <> pg_backend_pid()",
                ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
            )
            row = cur.fetchone()
        return (int(row[0]), row[1] or None) if row else (None, None)

    def release(self) -> None:
        """Let a standby take over (closing the session releases the lock)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock's session."""
        return self._conn is not None and not self._conn.closed

    def __enter__(self) -> SlotLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

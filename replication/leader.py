"""One active consumer per slot: an advisory lock held under a lease the holder renews.

The lock lives as long as the holder's connection: when the active worker dies, Postgres ends
its session and a waiting standby takes over, with nothing to clean up. A holder that is alive
but makes no progress (stopped, wedged) keeps its session, so the lock alone would block
failover forever: with a ``lease``, the holder proves progress by running a query on the lock's
session at least every ``lease`` seconds, and a standby that sees the session idle for longer
fences it (ends its lock session; its walsender times out, see ``_fence_stale``) and takes
the lock. The
clock is the server's (``pg_stat_activity.state_change``), so hosts need not agree on time.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import time
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from replication.errors import ReplicationError, SlotInUse, classify

__all__ = ["Holder", "LeaseLost", "SlotLock", "lock_holder"]

# After fencing a stale holder, how long its sessions may take to end before we give up.
_FENCE_GRACE = 10.0


class LeaseLost(ReplicationError):
    """Another worker holds (or held) the slot since our lease lapsed: stop, do not stream."""


def _key(slot: str) -> int:
    # A stable signed 64-bit key per slot name (advisory locks are global to the cluster).
    digest = hashlib.sha256(f"rxcdc-slot:{slot}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The session holding a slot's lock; a bigint advisory key shows in pg_locks as two halves.
_HOLDER_SQL = """
SELECT l.pid, a.application_name, a.state,
       CASE WHEN a.state = 'idle' THEN extract(epoch FROM now() - a.state_change) END
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid
  AND l.objid = %s::bigint::oid AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
"""


def _halves(key: int) -> tuple[int, int]:
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


@dataclass(frozen=True)
class Holder:
    """The session holding a slot's lock.

    ``name`` is its application name (the worker's pid and host); ``state`` as in
    ``pg_stat_activity`` (None: hidden from this role); ``idle``: seconds since its last lease
    renewal (None unless ``state`` is ``idle``).
    """

    pid: int
    name: str | None
    state: str | None
    idle: float | None


def lock_holder(dsn: str, slot: str) -> Holder | None:
    """Who holds ``slot``'s lock (None: nobody), read from another process.

    Raises ``ReplicationError`` when the server cannot be reached.
    """
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as exc:
        raise classify(exc, slot) from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(_HOLDER_SQL, _halves(_key(slot)))
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise classify(exc, slot) from exc
    finally:
        conn.close()
    if row is None:
        return None
    pid, name, state, idle = row
    return Holder(int(pid), name or None, state, float(idle) if idle is not None else None)


class SlotLock:
    """Hold the advisory lock of a slot while streaming from it.

    ``lease``: seconds the holder may go without ``renew()`` before another worker may fence
    it and take over (None: never, the lock is held until the session ends).
    """

    def __init__(self, dsn: str, slot: str, *, lease: float | None = None) -> None:
        self.dsn, self.slot, self.key, self.lease = dsn, slot, _key(slot), lease
        self._conn: psycopg2.extensions.connection | None = None
        self.fenced: list[int] = []  # backend PIDs this lock terminated to take over

    def acquire(self, *, wait: bool, poll: float = 0.5) -> None:
        """Take the lock; without ``wait``, raise ``SlotInUse`` naming the holder's PID.

        With ``wait`` (a standby), block until the holder goes away. Either way a holder whose
        lease lapsed is fenced and the lock taken.
        """
        try:
            # Named, so a refused worker can say who holds the slot.
            name = f"rx_replicate pid {os.getpid()} on {socket.gethostname()}"[:63]
            self._conn = psycopg2.connect(self.dsn, application_name=name)
            self._conn.autocommit = True
            fenced_at: float | None = None
            with self._conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    (got,) = cur.fetchone()
                    if got:
                        self._await_fenced(cur, poll)
                        return
                    if self._fence_stale():
                        fenced_at = time.monotonic()
                    elif not wait and (
                        fenced_at is None or time.monotonic() - fenced_at > _FENCE_GRACE
                    ):
                        raise SlotInUse(self.slot, *self.holder())
                    # Between tries the connection stays idle: a select on nothing is the wait.
                    select.select([], [], [], poll)
        except psycopg2.Error as exc:
            self.release()
            raise classify(exc, self.slot) from exc
        except BaseException:
            self.release()
            raise

    def _fence_stale(self) -> bool:
        """End the session of a holder idle for longer than the lease; returns whether it did.

        Its walsender is not terminated: ``pg_terminate_backend`` makes a walsender write a
        FATAL message to a client that does not read (stopped, its socket full), and it then
        hangs in that write. The holder's stream sets ``wal_sender_timeout`` to the lease, so
        its walsender ends on its own, silently, once the holder has not replied for as long.
        """
        if self.lease is None:
            return False
        pid, _name = self.holder()
        if pid is None:
            return False
        assert self._conn is not None
        with self._conn.cursor() as cur:
            # Only a session idle (between queries) for longer than the lease: a holder inside
            # a query is still working, and its renewal moves state_change.
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s"
                " AND state = 'idle' AND now() - state_change > make_interval(secs => %s)",
                (pid, self.lease),
            )
            row = cur.fetchone()
        if row is None or not row[0]:
            return False
        self.fenced.append(pid)
        return True

    def _await_fenced(self, cur: psycopg2.extensions.cursor, poll: float) -> None:
        # pg_terminate_backend only signals: the slot stays active until the walsender exits.
        deadline = time.monotonic() + _FENCE_GRACE
        while self.fenced and time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (self.fenced,))
            (left,) = cur.fetchone()
            if not left:
                return
            select.select([], [], [], min(poll, 0.05))

    def renew(self, position: int) -> None:
        """Prove the lock is still ours (one round trip); ``position``: the LSN we acknowledged.

        A lost session (the server restarted, or a standby fenced us) is replaced when the lock
        is free and the slot has not moved past ``position`` (nobody else streamed meanwhile).
        Raises ``LeaseLost`` otherwise, ``ConnectionLost`` when the server cannot be reached.
        """
        if self._conn is not None and not self._conn.closed:
            try:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")  # moves state_change: what standbys look at
                return
            except psycopg2.Error:
                self.release()  # gone: take the lock again below, if we still may
        try:
            self.acquire(wait=False)
        except SlotInUse as exc:
            raise LeaseLost(
                f"this worker lost its lease on slot {self.slot!r}: it was taken over by "
                f"another worker ({exc}); restart it as a standby"
            ) from exc
        assert self._conn is not None
        try:
            with self._conn.cursor() as cur:
                cur.execute(
                    "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots"
                    " WHERE slot_name = %s",
                    (self.slot,),
                )
                row = cur.fetchone()
        except psycopg2.Error as exc:
            self.release()
            raise classify(exc, self.slot) from exc
        if row is not None and row[0] is not None and int(row[0]) > position:
            self.release()
            raise LeaseLost(
                f"this worker lost its lease on slot {self.slot!r}: the slot moved past its "
                "position while the lease had lapsed (another worker streamed from it); "
                "restart it as a standby"
            )

    def holder(self) -> tuple[int | None, str | None]:
        """Backend PID and application name of the lock's holder (Nones if nobody holds it)."""
        assert self._conn is not None
        with self._conn.cursor() as cur:
            cur.execute(_HOLDER_SQL, _halves(self.key))
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

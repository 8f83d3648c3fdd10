"""Failover from a worker that stops making progress: the lease, fencing, and waking up fenced."""

from __future__ import annotations

import threading
import time

import pytest

from replication import ReplicationStream
from replication.leader import LeaseLost, SlotLock

LEASE = 1.0


def _take_over(standby: SlotLock, *, wait: bool) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        standby.acquire(wait=wait, poll=0.05)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def test_a_standby_fences_a_holder_that_stops_renewing(pg_dsn, slot, open_stream):
    holder = SlotLock(pg_dsn, slot, lease=LEASE)
    # The lease runs from the holder's last query on its session, which ends after this instant
    # (measuring from the standby's start could be a few microseconds late).
    renewed = time.monotonic()
    holder.acquire(wait=False)
    # The holder's stream: its walsender ends itself once the holder stops replying.
    stream: ReplicationStream = open_stream(sender_timeout=LEASE)
    next(iter(stream))
    walsender = _active_pid(holder.dsn, slot)
    assert walsender is not None
    holder_pid = holder._conn.info.backend_pid
    standby = SlotLock(holder.dsn, slot, lease=LEASE)
    took_over = _take_over(standby, wait=True)
    # The holder is frozen: it renews nothing. Within the lease (plus polls) it is fenced.
    assert took_over.wait(LEASE + 5), "the standby never took over from a frozen holder"
    assert time.monotonic() - renewed >= LEASE
    assert standby.fenced == [holder_pid]
    # Frozen: nothing reads the stream, and the walsender times out (wal_sender_timeout).
    deadline = time.monotonic() + 2 * LEASE + 5
    while _active_pid(holder.dsn, slot) == walsender:
        assert time.monotonic() < deadline, "the frozen holder's walsender stayed"
        time.sleep(0.05)  # polling the server with a deadline
    # Waking up, the old holder finds out before doing anything: it may not take the lock back.
    with pytest.raises(LeaseLost, match="taken over"):
        holder.renew(0)
    standby.release()
    holder.release()


def test_a_holder_that_renews_keeps_the_slot(pg_dsn, slot):
    holder = SlotLock(pg_dsn, slot, lease=LEASE)
    holder.acquire(wait=False)
    standby = SlotLock(pg_dsn, slot, lease=LEASE)
    took_over = _take_over(standby, wait=True)
    deadline = time.monotonic() + 3 * LEASE
    while time.monotonic() < deadline:
        holder.renew(0)
        assert not took_over.wait(LEASE / 4)  # renewing paces the loop: a quarter lease
    assert not standby.fenced
    holder.release()
    assert took_over.wait(10)
    standby.release()


def test_a_holder_whose_session_ended_takes_the_lock_back_unless_the_slot_moved(pg_dsn, slot, db):
    holder = SlotLock(pg_dsn, slot, lease=LEASE)
    holder.acquire(wait=False)
    db.execute("SELECT pg_terminate_backend(%s)", [holder._conn.info.backend_pid])
    holder.renew(10**12)  # a server restart: nobody streamed, the lock is ours again
    assert holder.held
    db.execute("SELECT pg_terminate_backend(%s)", [holder._conn.info.backend_pid])
    with pytest.raises(LeaseLost, match="moved past"):
        holder.renew(0)  # the slot is past position 0: somebody else acknowledged meanwhile
    assert not holder.held


def _active_pid(dsn: str, slot: str) -> int | None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", [slot]
        ).fetchone()
    return row[0] if row else None

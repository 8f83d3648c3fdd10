"""One active consumer per slot; a standby waits for the advisory lock and takes over."""

import os
import threading

import pytest

from replication.errors import SlotInUse
from replication.leader import SlotLock


def test_second_holder_is_refused_with_the_first_ones_pid(pg_dsn):
    with SlotLock(pg_dsn, "s1") as first:
        first.acquire(wait=False)
        pid = first._conn.info.backend_pid
        second = SlotLock(pg_dsn, "s1")
        with pytest.raises(SlotInUse, match=rf"rx_replicate pid {os.getpid()} .*PID {pid}"):
            second.acquire(wait=False)
        assert not second.held


def test_standby_takes_over_when_the_holder_goes_away(pg_dsn):
    first = SlotLock(pg_dsn, "s2")
    first.acquire(wait=False)
    standby = SlotLock(pg_dsn, "s2")
    took_over = threading.Event()

    def wait():
        standby.acquire(wait=True, poll=0.05)
        took_over.set()

    t = threading.Thread(target=wait)
    t.start()
    assert not took_over.wait(0.5)  # still waiting while the first holds it
    first.release()
    assert took_over.wait(10)
    t.join(5)
    standby.release()


def test_locks_of_different_slots_are_independent(pg_dsn):
    with SlotLock(pg_dsn, "a") as a, SlotLock(pg_dsn, "b") as b:
        a.acquire(wait=False)
        b.acquire(wait=False)
        assert a.held and b.held

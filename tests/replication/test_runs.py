"""Runs: whole transactions already waiting are handed out together, never half of one."""

from __future__ import annotations

from typing import Any

import psycopg

from replication import HEARTBEAT_PREFIX, Chunk, Heartbeat, Run, Tick
from replication.stream import ReplicationStream
from rxcdc.testing.waiting import wait_until


def _setup(db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text)")
    db.execute("CREATE TABLE untracked (id int PRIMARY KEY)")


def _connected(stream: ReplicationStream) -> Any:
    """Iterate until the stream is connected and idle (its first tick)."""
    events = iter(stream)
    while not isinstance(next(events), Tick):
        pass
    return events


def _wait_sent(db: psycopg.Connection[Any], slot: str) -> None:
    """Until the walsender sent everything committed so far: it waits in our socket."""
    (target,) = db.execute("SELECT pg_current_wal_lsn()").fetchone() or (None,)

    def sent() -> bool:
        row = db.execute(
            "SELECT r.sent_lsn >= %s::pg_lsn FROM pg_stat_replication r"
            " JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = %s",
            (target, slot),
        ).fetchone()
        return bool(row and row[0])

    wait_until(sent, "the walsender sent every commit")


def _next(events: Any) -> Any:
    for event in events:
        if not isinstance(event, Tick):
            return event
    raise AssertionError("stream ended")


def test_waiting_transactions_arrive_as_one_run_in_commit_order(db, slot, open_stream):
    _setup(db)
    stream = open_stream(run_changes=100, idle_tick=0.05)
    events = _connected(stream)
    for i in range(5):
        db.execute("INSERT INTO t VALUES (%s, 'x')", (i,))
    _wait_sent(db, slot)
    run = _next(events)
    assert isinstance(run, Run)
    assert [c.changes[0].new["id"] for c in run.chunks] == [0, 1, 2, 3, 4]
    assert all(c.index == 0 and c.last for c in run.chunks)
    lsns = [c.transaction.commit_lsn for c in run.chunks]
    assert lsns == sorted(lsns) and run.transaction.commit_lsn == lsns[-1]
    stream.ack(run.transaction)  # the run counts as delivered: its last commit may be acked
    assert stream.acked_lsn == lsns[-1]


def test_a_run_stops_at_run_changes_and_never_takes_part_of_a_transaction(db, slot, open_stream):
    _setup(db)
    stream = open_stream(run_changes=3, chunk_size=2, idle_tick=0.05)
    events = _connected(stream)
    for i in range(4):
        db.execute("INSERT INTO t VALUES (%s, 'x')", (i,))
    db.execute("INSERT INTO t SELECT i, 'big' FROM generate_series(10, 14) i")
    _wait_sent(db, slot)
    first, second = _next(events), _next(events)
    assert isinstance(first, Run) and len(first.chunks) == 3  # three changes: full
    # The fourth alone: the next transaction's first chunk is not its last.
    assert isinstance(second, Chunk) and second.changes[0].new["id"] == 3
    rest = [_next(events) for _ in range(3)]
    # The 5-row transaction comes in its chunks (2, 2, 1), never inside a run.
    assert [(type(e), e.index, e.last) for e in rest] == [
        (Chunk, 0, False),
        (Chunk, 1, False),
        (Chunk, 2, True),
    ]


def test_an_empty_transaction_read_ahead_does_not_acknowledge_past_the_run(db, slot, open_stream):
    _setup(db)
    stream = open_stream(run_changes=100, idle_tick=0.05)
    events = _connected(stream)
    db.execute("INSERT INTO t VALUES (1, 'x')")
    db.execute("INSERT INTO untracked VALUES (1)")  # streamed as an empty transaction
    db.execute("INSERT INTO t VALUES (2, 'x')")
    _wait_sent(db, slot)
    run = _next(events)
    assert isinstance(run, Run) and len(run.chunks) == 2
    assert stream.acked_lsn < run.chunks[0].transaction.commit_lsn  # nothing acked for us


def test_a_heartbeat_read_ahead_comes_after_the_run(db, slot, open_stream):
    _setup(db)
    stream = open_stream(run_changes=100, idle_tick=0.05, heartbeat_interval=None)
    events = _connected(stream)
    db.execute("INSERT INTO t VALUES (1, 'x')")
    db.execute("INSERT INTO t VALUES (2, 'x')")
    db.execute(
        "SELECT pg_logical_emit_message(false, %s, %s)",
        (HEARTBEAT_PREFIX, '{"emitted_at": "2026-01-01T00:00:00+00:00"}'),
    )
    db.execute("INSERT INTO t VALUES (3, 'x')")
    _wait_sent(db, slot)
    run, beat, after = _next(events), _next(events), _next(events)
    assert isinstance(run, Run) and len(run.chunks) == 2
    assert stream.acked_lsn < run.transaction.commit_lsn  # the heartbeat did not ack past it
    assert isinstance(beat, Heartbeat) and beat.lsn > run.transaction.commit_lsn
    assert isinstance(after, Chunk) and after.changes[0].new["id"] == 3

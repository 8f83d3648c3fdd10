"""The delivery contract: chunks, commit order, acknowledgement, redelivery, liveness, stopping."""

import os
import signal
from datetime import UTC, datetime

import psycopg
import pytest

from replication import (
    Chunk,
    ConfigurationError,
    ConnectionLost,
    Heartbeat,
    ReplicationError,
    SlotMissing,
    Tick,
    parse_lsn,
    slot_status,
    stop_on_signals,
)
from replication.stream import ReplicationStream
from rxcdc.testing.waiting import wait_until

from .helpers import receive, transactions


@pytest.fixture
def table(db):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text)")
    db.execute("CREATE TABLE untracked (id int PRIMARY KEY)")


def confirmed(pg_dsn, slot):
    return slot_status(pg_dsn, slot).confirmed_flush_lsn


def current_lsn(db):
    return parse_lsn(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])


def insert_rows(db, first, count):
    db.execute(
        "INSERT INTO t SELECT i, 'r' || i FROM generate_series(%s::int, %s::int) i",
        (first, first + count - 1),
    )


def ids(changes):
    return [c.new["id"] for c in changes]


def test_a_large_transaction_arrives_in_chunks_of_bounded_size(db, table, open_stream):
    stream = open_stream(chunk_size=3)
    insert_rows(db, 1, 10)
    got = receive(stream, transactions(1))
    chunks = got.chunks
    assert [(c.index, len(c.changes), c.last) for c in chunks] == [
        (0, 3, False),
        (1, 3, False),
        (2, 3, False),
        (3, 1, True),
    ]
    assert len({c.transaction for c in chunks}) == 1
    assert ids(got.complete[0][1]) == list(range(1, 11))


def test_a_transaction_filling_its_last_chunk_exactly_ends_with_a_full_last_chunk(
    db, table, open_stream
):
    stream = open_stream(chunk_size=5)
    insert_rows(db, 1, 10)
    got = receive(stream, transactions(1))
    assert [(c.index, len(c.changes), c.last) for c in got.chunks] == [(0, 5, False), (1, 5, True)]


def test_transactions_arrive_in_commit_order_with_their_xid_time_and_commit_lsn(
    db, pg_dsn, table, open_stream
):
    stream = open_stream()
    started_first = psycopg.connect(pg_dsn, autocommit=False)
    started_first.execute("INSERT INTO t VALUES (1, 'started first, commits last')")
    first_xid = started_first.execute("SELECT txid_current()").fetchone()[0]
    with db.transaction():
        db.execute("INSERT INTO t VALUES (2, 'started second, commits first')")
        second_xid = db.execute("SELECT txid_current()").fetchone()[0]
    before = datetime.now(UTC)
    started_first.commit()
    after_commit = current_lsn(db)
    started_first.close()
    got = receive(stream, transactions(2))
    (t2, c2), (t1, c1) = got.complete
    assert (ids(c2), ids(c1)) == ([2], [1])
    assert (t2.xid, t1.xid) == (second_xid, first_xid)
    assert t2.commit_lsn < t1.commit_lsn <= after_commit
    assert before <= t1.commit_time <= datetime.now(UTC)
    assert c1[0].lsn < c2[0].lsn  # WAL order of the rows differs from commit order


def test_ack_moves_the_slot_to_the_commit_lsn(db, pg_dsn, slot, table, open_stream):
    stream = open_stream()
    insert_rows(db, 1, 1)
    (txn, _), *_ = receive(stream, transactions(1)).complete
    assert confirmed(pg_dsn, slot) < txn.commit_lsn
    stream.ack(txn)
    assert stream.acked_lsn == txn.commit_lsn
    wait_until(lambda: confirmed(pg_dsn, slot) == txn.commit_lsn)


def test_acking_a_transaction_before_its_last_chunk_is_refused(db, table, open_stream):
    stream = open_stream(chunk_size=2)
    insert_rows(db, 1, 5)
    first = receive(stream, lambda got: got.chunks).chunks[0]
    assert not first.last
    with pytest.raises(ReplicationError, match="last chunk has not been delivered"):
        stream.ack(first.transaction)
    assert stream.acked_lsn < first.transaction.commit_lsn


def test_acknowledged_transactions_are_not_redelivered_unacknowledged_ones_are_whole(
    db, table, open_stream
):
    stream = open_stream(chunk_size=2)
    insert_rows(db, 1, 1)
    insert_rows(db, 2, 5)
    insert_rows(db, 7, 1)
    (acked, _), (unacked, _), _ = receive(stream, transactions(3)).complete
    stream.ack(acked)
    stream.close()

    again = receive(open_stream(chunk_size=2), transactions(2))
    assert [(txn, ids(changes)) for txn, changes in again.complete] == [
        (unacked, [2, 3, 4, 5, 6]),
        (again.complete[1][0], [7]),
    ]
    assert again.chunks[0].index == 0


def test_empty_transactions_are_skipped_and_let_an_idle_slot_advance(
    db, pg_dsn, slot, table, open_stream
):
    stream = open_stream(status_interval=1)
    insert_rows(db, 1, 1)
    (txn, _), *_ = receive(stream, transactions(1)).complete
    stream.ack(txn)
    db.execute("ALTER TABLE t ADD COLUMN b int")  # DDL: an empty transaction for us
    db.execute("INSERT INTO untracked VALUES (1)")  # nothing in the tracked tables
    end_of_empty_ones = current_lsn(db)
    got = receive(stream, lambda got: stream.acked_lsn >= end_of_empty_ones)
    assert got.chunks == []
    # Reported with the next status update, not forced per transaction.
    wait_until(lambda: confirmed(pg_dsn, slot) >= end_of_empty_ones)


def test_empty_transactions_never_move_the_slot_past_an_unacknowledged_one(db, table, open_stream):
    stream = open_stream(heartbeat_interval=0.05)
    insert_rows(db, 1, 1)
    (unacked, _), *_ = receive(stream, transactions(1)).complete
    db.execute("INSERT INTO untracked VALUES (1)")
    marker = current_lsn(db)
    # A heartbeat emitted after the empty transaction proves the stream has read past it.
    receive(
        stream, lambda got: any(isinstance(e, Heartbeat) and e.lsn > marker for e in got.events)
    )
    assert stream.acked_lsn < unacked.commit_lsn
    stream.close()
    (again, _), *_ = receive(open_stream(), transactions(1)).complete
    assert again == unacked


def test_heartbeats_advance_the_slot_of_a_database_without_writes(
    db, pg_dsn, slot, table, open_stream
):
    start = confirmed(pg_dsn, slot)
    stream = open_stream(heartbeat_interval=0.1)
    got = receive(stream, lambda got: sum(isinstance(e, Heartbeat) for e in got.events) >= 2)
    beat = next(e for e in reversed(got.events) if isinstance(e, Heartbeat))
    assert beat.lsn > start
    assert beat.emitted_at <= beat.received_at <= datetime.now(UTC)
    assert stream.acked_lsn >= beat.lsn
    wait_until(lambda: confirmed(pg_dsn, slot) >= beat.lsn)


def test_ticks_arrive_while_nothing_happens(table, open_stream):
    stream = open_stream(idle_tick=0.02)
    got = receive(stream, lambda got: len(got.events) >= 3)
    assert all(isinstance(e, Tick) for e in got.events)


def test_ticks_keep_coming_while_a_flood_of_skipped_transactions_streams_by(db, table, open_stream):
    db.execute(
        "DO $$ BEGIN FOR i IN 1..5000 LOOP INSERT INTO untracked VALUES (i); COMMIT;"
        " END LOOP; END $$"
    )
    insert_rows(db, 1, 1)
    got = receive(open_stream(idle_tick=0.001), transactions(1))
    assert isinstance(got.events[0], Tick)
    assert [type(e) for e in got.events[-1:]] == [Chunk]


def test_keepalives_are_answered_so_an_idle_stream_outlives_wal_sender_timeout(
    pg_dsn, slot, table, open_stream
):
    stream = ReplicationStream(
        pg_dsn + " options='-c wal_sender_timeout=600ms'",
        slot,
        ["t"],
        heartbeat_interval=None,
        idle_tick=0.1,
    )
    with stream:
        receive(stream, lambda got: got.events)
        pid = slot_status(pg_dsn, slot).active_pid
        receive(stream, lambda got: len(got.events) >= 20)  # 2 s idle: over 3 timeouts
        assert stream.reconnects == 0
        assert slot_status(pg_dsn, slot).active_pid == pid


def test_reconnect_delays_grow_exponentially_up_to_the_cap_with_jitter(open_stream):
    stream = open_stream(backoff_initial=0.5, backoff_max=4.0)
    for attempt, full in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = {stream._backoff(attempt) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


def test_reconnects_after_the_walsender_is_terminated_and_redelivers_from_chunk_0(
    db, pg_dsn, slot, table, open_stream
):
    stream = open_stream(chunk_size=2)
    insert_rows(db, 1, 1)
    (acked, _), *_ = receive(stream, transactions(1)).complete
    stream.ack(acked)
    insert_rows(db, 2, 6)
    first = receive(stream, lambda got: got.chunks).chunks[0]
    assert (first.index, ids(first.changes)) == (0, [2, 3])
    pid = slot_status(pg_dsn, slot).active_pid
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    insert_rows(db, 8, 1)
    # Whatever of the cut transaction was still buffered may arrive first; after the
    # reconnect it comes again, whole, from chunk 0, and the acknowledged one does not.
    got = receive(stream, lambda got: ids(got.complete[-1][1]) == [8] if got.complete else False)
    assert stream.reconnects == 1
    assert slot_status(pg_dsn, slot).active_pid not in (None, pid)
    assert [ids(changes) for _, changes in got.complete][-2:] == [[2, 3, 4, 5, 6, 7], [8]]
    assert all(txn != acked for txn, _ in got.complete)
    assert any(c.index == 0 and ids(c.changes) == [2, 3] for c in got.chunks)


def test_an_acknowledgement_made_while_disconnected_is_not_streamed_again(
    db, pg_dsn, slot, table, open_stream
):
    stream = open_stream()
    insert_rows(db, 1, 1)
    (txn, _), *_ = receive(stream, transactions(1)).complete
    pid = slot_status(pg_dsn, slot).active_pid
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: slot_status(pg_dsn, slot).active_pid != pid)
    stream.ack(txn)  # the server cannot hear this one
    assert confirmed(pg_dsn, slot) < txn.commit_lsn
    insert_rows(db, 2, 1)
    got = receive(stream, transactions(1))
    assert stream.reconnects == 1
    assert [ids(changes) for _, changes in got.complete] == [[2]]
    wait_until(lambda: confirmed(pg_dsn, slot) >= txn.commit_lsn)  # reported on reconnect


def test_stop_mid_transaction_ends_iteration_and_never_acknowledges_it(
    db, pg_dsn, slot, table, open_stream
):
    stream = open_stream(chunk_size=2)
    insert_rows(db, 1, 1)
    insert_rows(db, 2, 6)
    seen = []
    for event in stream:
        if isinstance(event, Chunk):
            seen.append(event)
            if event.last:
                stream.ack(event.transaction)
            elif event.index == 1:
                stream.stop()  # while handling chunk 1 of the second transaction
    assert [(ids(c.changes), c.index) for c in seen] == [([1], 0), ([2, 3], 0), ([4, 5], 1)]
    cut = seen[-1].transaction
    with pytest.raises(ReplicationError):
        stream.ack(cut)
    stream.close()
    assert confirmed(pg_dsn, slot) == seen[0].transaction.commit_lsn  # the final feedback
    (again, changes), *_ = receive(open_stream(chunk_size=2), transactions(1)).complete
    assert (again, ids(changes)) == (cut, [2, 3, 4, 5, 6, 7])


def test_sigterm_and_sigint_stop_the_stream(table, open_stream):
    for sig in (signal.SIGTERM, signal.SIGINT):
        stream = open_stream(idle_tick=0.02)
        restore = stop_on_signals(stream)
        try:
            events = []
            for event in stream:
                events.append(event)
                if len(events) == 2:
                    os.kill(os.getpid(), sig)
                assert len(events) <= 2, "iteration went on after the signal"
        finally:
            restore()
            stream.close()
        assert len(events) == 2


def test_message_prefixes_wal2json_cannot_filter_are_refused(pg_dsn):
    with pytest.raises(ConfigurationError, match="without commas, whitespace or backslashes"):
        ReplicationStream(pg_dsn, "s", ["t"], message_prefixes=["a,b"])


def test_a_missing_slot_is_reported_at_the_first_connection(pg_dsn, table):
    stream = ReplicationStream(pg_dsn, "no_such_slot", ["t"])
    with pytest.raises(SlotMissing, match="ensure_slot"):
        next(iter(stream))
    stream.close()


def test_an_unreachable_server_is_reported_at_the_first_connection(services):
    stream = ReplicationStream("host=/nonexistent port=1 user=postgres dbname=x", "s", ["t"])
    with pytest.raises(ConnectionLost, match="could not open the connection"):
        next(iter(stream))
    stream.close()

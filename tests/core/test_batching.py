"""Transactions that wait together are handled as one run: cost per run, not per transaction."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from replication.changes import Chunk, Run
from rxcdc.conf import rx_settings
from rxcdc.testing.waiting import wait_until
from tests.testapp.models import Message, Room, Tag

ROOM = "testapp.RoomChannel"


def _wal_now() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        return int(cur.fetchone()[0])


def _sent() -> int:
    """How far the worker's walsender has sent the stream (0 before it connected)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (r.sent_lsn - '0/0'::pg_lsn)::bigint FROM pg_stat_replication r"
            " JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = %s",
            [rx_settings.SLOT_NAME],
        )
        row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def _commit_waiting(pipeline: Any, write: Any) -> None:
    """Run ``write`` (several commits), then wait until the stream has them all in its socket.

    They then wait together, as they do behind a busy worker.
    """
    write()
    target = _wal_now()
    wait_until(lambda: _sent() >= target, "the walsender sent the transactions")


def _next_event(pipeline: Any) -> Chunk | Run:
    for event in pipeline.stream:
        if isinstance(event, Chunk | Run):
            return event
    raise AssertionError("stream ended")


def _rooms(pipeline: Any, n: int) -> list[Room]:
    rooms = [Room.objects.create(name=f"r{i}") for i in range(n)]
    tag = Tag.objects.create(name="t")
    for room in rooms:
        for i in range(2):
            Message.objects.create(room=room, text=f"{room.name}.{i}").tags.add(tag)
        pipeline.heat(ROOM, room.pk)
    return rooms


def _edit(rooms: list[Room], rounds: int = 1) -> None:
    """One single-row transaction per room and round (autocommit)."""
    for r in range(rounds):
        for room in rooms:
            Message.objects.filter(pk=room.messages.first().pk).update(text=f"{room.pk}:{r}")


def test_waiting_transactions_reach_each_anchor_as_one_update_at_the_run_s_last_commit(pipeline):
    rooms = _rooms(pipeline, 3)
    pipeline.updates()
    _commit_waiting(pipeline, lambda: _edit(rooms, rounds=2))
    run = _next_event(pipeline)
    assert isinstance(run, Run) and len(run.chunks) == 6
    lsns = [c.transaction.commit_lsn for c in run.chunks]
    assert lsns == sorted(lsns) and all(c.index == 0 and c.last for c in run.chunks)
    pipeline.worker.handle(run, pipeline.stream.ack)
    assert pipeline.stream.acked_lsn == lsns[-1]
    pipeline.pump()
    updates = [m for m in pipeline.updates() if m["type"] == "rx.update"]
    assert sorted(m["anchor"] for m in updates) == sorted(r.pk for r in rooms)
    for m in updates:
        assert m["lsn"] == lsns[-1] and m["last"]
        (instance,) = m["instances"]
        assert instance["text"] == f"{m['anchor']}:1"  # the run's result, never a state between
    for room in rooms:
        pipeline.assert_converged(ROOM, room.pk)


def test_a_run_s_update_names_the_anchor_s_previous_update_as_prev_lsn(pipeline):
    rooms = _rooms(pipeline, 2)
    pipeline.updates()
    _edit(rooms[:1])
    pipeline.pump()
    (first,) = [m for m in pipeline.updates() if m["type"] == "rx.update"]
    _commit_waiting(pipeline, lambda: _edit(rooms, rounds=2))
    pipeline.pump()
    updates = {m["anchor"]: m for m in pipeline.updates() if m["type"] == "rx.update"}
    assert updates[rooms[0].pk]["prev_lsn"] == first["lsn"]
    assert updates[rooms[0].pk]["lsn"] == updates[rooms[1].pk]["lsn"] > first["lsn"]


def test_a_run_costs_the_same_queries_as_one_transaction(pipeline):
    rooms = _rooms(pipeline, 8)
    pipeline.pump()
    counts = {}
    for rounds in (1, 4):
        _commit_waiting(pipeline, lambda rounds=rounds: _edit(rooms, rounds))
        run = _next_event(pipeline)
        assert isinstance(run, Run) and len(run.chunks) == 8 * rounds
        with CaptureQueriesContext(connection) as queries:
            pipeline.worker.handle(run, pipeline.stream.ack)
        counts[rounds] = [q["sql"].count("; ") + 1 for q in queries]
    # The visibility check, the messages, their tags: per run, not per transaction, in one
    # round trip (a query of three statements).
    assert counts == {1: [3], 4: [3]}
    for room in rooms:
        pipeline.assert_converged(ROOM, room.pk)


def test_layer_queries_are_compiled_once(pipeline, monkeypatch):
    rooms = _rooms(pipeline, 2)
    _edit(rooms)
    pipeline.pump()  # the first run after start compiles them
    compiled = []
    as_sql = SQLCompiler.as_sql

    def counting(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    _commit_waiting(pipeline, lambda: _edit(rooms, rounds=3))
    run = _next_event(pipeline)
    compiled.clear()  # (the test's own writes compile theirs)
    with CaptureQueriesContext(connection) as queries:
        pipeline.worker.handle(run, pipeline.stream.ack)
    assert [q["sql"].count("; ") + 1 for q in queries] == [3] and compiled == []
    for room in rooms:
        pipeline.assert_converged(ROOM, room.pk)


def test_a_transaction_that_waits_alone_is_handled_alone(pipeline):
    (room,) = _rooms(pipeline, 1)
    pipeline.updates()
    _commit_waiting(pipeline, lambda: _edit([room]))
    event = _next_event(pipeline)
    assert isinstance(event, Chunk) and event.last
    pipeline.worker.handle(event, pipeline.stream.ack)
    pipeline.pump()
    (update,) = [m for m in pipeline.updates() if m["type"] == "rx.update"]
    assert update["lsn"] == event.transaction.commit_lsn


@pytest.mark.parametrize("order", ["move, edit, delete", "create, move back"])
def test_moves_creates_and_deletes_within_one_run_converge(pipeline, order):
    a, b = _rooms(pipeline, 2)
    pipeline.updates()
    moving = a.messages.first()

    def write() -> None:
        if order == "move, edit, delete":
            Message.objects.filter(pk=moving.pk).update(room=b)
            Message.objects.filter(pk=moving.pk).update(text="edited in b")
            Message.objects.filter(pk=b.messages.order_by("pk").first().pk).delete()
        else:
            new = Message.objects.create(room=a, text="new")
            Message.objects.filter(pk=new.pk).update(room=b)
            Message.objects.filter(pk=new.pk).update(room=a, text="back")

    _commit_waiting(pipeline, write)
    run = _next_event(pipeline)
    assert isinstance(run, Run) and len(run.chunks) == 3
    pipeline.worker.handle(run, pipeline.stream.ack)
    pipeline.pump()
    updates = [m for m in pipeline.updates() if m["type"] == "rx.update"]
    assert len(updates) == len({m["anchor"] for m in updates})  # one per anchor
    for room in (a, b):
        pipeline.assert_converged(ROOM, room.pk)

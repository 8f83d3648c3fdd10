"""A transaction's rows are read only once its commit is visible, at no extra round trip."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection

from rxcdc.serialize import load_rows
from rxcdc.visibility import VisibilityGate
from tests.core.test_batching import ROOM, _commit_waiting, _next_event, _rooms
from tests.testapp.channels import RoomChannel
from tests.testapp.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)


def _message_layer() -> Any:
    return next(layer for layer in RoomChannel.state().layers if layer.model is Message)


def test_the_check_and_a_layers_queries_share_one_round_trip(pipeline):
    (room,) = _rooms(pipeline, 1)
    pipeline.pump()
    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    message = room.messages.first()
    _commit_waiting(pipeline, lambda: Message.objects.filter(pk=message.pk).update(text="new"))
    event = _next_event(pipeline)
    with connection.execute_wrapper(record):
        pipeline.worker.handle(event, pipeline.stream.ack)
    # The check, the messages' query and their tags' query go as one multi-statement query, in
    # this order: one session runs them in order, so the messages are read after the check.
    assert len(seen) == 1
    check, messages, tags = seen[0].split("; ")
    assert "pg_visible_in_snapshot" in check
    assert "testapp_message" in messages and "testapp_message_tags" not in messages
    assert "testapp_message_tags" in tags
    assert pipeline.worker.visibility.rereads == 0
    pipeline.assert_converged(ROOM, room.pk)


def test_rows_read_before_their_commit_was_visible_are_read_again(services, transactional_db):
    room = Room.objects.create(name="r")
    message = Message.objects.create(room=room, text="old")
    layer = _message_layer()
    gate = VisibilityGate()
    reads: list[str] = []
    with psycopg.connect(services.postgres.dsn(connection.settings_dict["NAME"])) as writer:
        writer.execute("UPDATE testapp_message SET text = 'new' WHERE id = %s", [message.pk])
        (xid,) = writer.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()

        def load(layer: Any, pks: Any) -> Any:
            rows = load_rows(layer, pks)
            reads.append(rows[message.pk].doc["text"])
            if len(reads) == 1:
                writer.commit()  # after the check and this read: both saw the old row
            return rows

        gate.expect([xid & 0xFFFFFFFF])  # wal2json's 32-bit xid
        rows = gate.loader(load)(layer, [message.pk])
    assert reads == ["old", "new"] and gate.rereads == 1
    assert rows[message.pk].doc["text"] == "new"
    assert gate.pending == []


def test_a_read_that_fails_leaves_the_check_to_the_retry(services, transactional_db):
    room = Room.objects.create(name="r")
    message = Message.objects.create(room=room, text="old")
    gate = VisibilityGate()
    gate.expect([1])  # any xid: the read fails before the check is answered

    def failing(layer: Any, pks: Any) -> Any:
        load_rows(layer, pks)
        raise ValueError("a serializer fault")

    with pytest.raises(ValueError, match="a serializer fault"):
        gate.loader(failing)(_message_layer(), [message.pk])
    assert gate.pending == [1]  # isolating's per-row retries still carry the check

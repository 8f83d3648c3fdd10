"""The faults the exactness issue named, each judged by DRF's own output (the oracle).

A client here is a ``ReferenceClient`` fed by a real consumer over a real worker: what it holds
after applying frames by docs/protocol.md alone must equal ``ground_truth`` (DRF's nested
serialization) for its user. ``LiveWorker.paused`` makes the races deterministic: writes commit
while the worker waits, so it reads their transactions only after all of them committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.contrib.auth.models import User
from django.db import connection
from django.urls import path
from rest_framework.authtoken.models import Token

from rxcdc.testing.client import ChannelClient
from rxcdc.testing.live import LiveWorker
from tests.exactapp.channels import BoardChannel
from tests.exactapp.models import Board, Card, Column, Note
from tests.exactapp.serializers import BoardSerializer
from tests.testapp.channels import RoomChannel
from tests.testapp.models import Message, Room
from tests.testapp.serializers import RoomSerializer

BOARD = "exactapp.BoardChannel"
ROOM = "testapp.RoomChannel"

application = AuthMiddlewareStack(
    URLRouter(
        [
            path("ws/board/<int:board>/", BoardChannel.as_asgi()),
            path("ws/room/<int:room>/", RoomChannel.as_asgi()),
        ]
    )
)


class Watcher(ChannelClient):
    """A ``ChannelClient`` on this module's routes."""

    application = application


def sql(statement: str, params: Any = None) -> None:
    """Raw SQL, committed on its own (the test database connection is in autocommit)."""
    with connection.cursor() as cur:
        cur.execute(statement, params)


@sync_to_async
def make_user(name: str) -> tuple[User, str]:
    user = User.objects.create(username=name)
    return user, Token.objects.create(user=user).key


@sync_to_async
def make_board(columns: int = 2, cards: int = 3) -> tuple[Board, list[Column], list[Card]]:
    board = Board.objects.create(title="b")
    cols = [Column.objects.create(board=board, title=f"c{i}", position=i) for i in range(columns)]
    made = [
        Card.objects.create(column=cols[0], title=f"k{i}", position=i, payload={"i": i})
        for i in range(cards)
    ]
    return board, cols, made


async def watch_board(board: Board, token: str) -> Watcher:
    w = await sync_to_async(Watcher)(
        f"/ws/board/{board.pk}/", BoardSerializer, Board, board.pk, token=token
    )
    await w.connect()
    await w.converge()
    return w


async def test_update_then_delete_back_to_back_drops_the_id_from_the_parent_list(live_worker):
    board, _cols, cards = await make_board()
    _, token = await make_user("u")
    w = await watch_board(board, token)
    doomed = cards[1].pk
    with live_worker.paused():  # both commit before the worker reads the first one
        await sync_to_async(sql)("UPDATE exactapp_card SET title = 'b' WHERE id = %s", [doomed])
        await sync_to_async(sql)("DELETE FROM exactapp_card WHERE id = %s", [doomed])
    await w.converge()
    assert doomed not in [c["id"] for c in w.ref.nested(board.pk)["columns"][0]["cards"]]
    await w.close()


async def test_reordering_cards_reorders_the_column_list(live_worker):
    board, _cols, cards = await make_board(cards=4)
    _, token = await make_user("u")
    w = await watch_board(board, token)
    await sync_to_async(sql)(
        "UPDATE exactapp_card SET position = -100 WHERE id = %s", [cards[2].pk]
    )
    await w.converge()
    await sync_to_async(sql)(  # a swap inside one column, in one transaction
        "UPDATE exactapp_card SET position = CASE id WHEN %s THEN 3 ELSE 0 END"
        " WHERE id IN (%s, %s)",
        [cards[0].pk, cards[0].pk, cards[3].pk],
    )
    await w.converge()
    order = [c["id"] for c in w.ref.nested(board.pk)["columns"][0]["cards"]]
    assert order == [cards[2].pk, cards[3].pk, cards[1].pk, cards[0].pk]
    await w.close()


async def test_note_handed_to_another_user_leaves_one_list_and_joins_the_other(live_worker):
    board, _cols, cards = await make_board(cards=1)
    ann, ann_token = await make_user("ann")
    bob, bob_token = await make_user("bob")
    note = await sync_to_async(Note.objects.create)(card=cards[0], user=ann, text="private")
    w_ann, w_bob = await watch_board(board, ann_token), await watch_board(board, bob_token)
    await sync_to_async(sql)(
        "UPDATE exactapp_note SET user_id = %s WHERE id = %s", [bob.pk, note.pk]
    )
    await w_ann.converge()
    await w_bob.converge()
    assert w_bob.ref.nested(board.pk)["columns"][0]["cards"][0]["notes"][0]["text"] == "private"
    assert w_ann.ref.nested(board.pk)["columns"][0]["cards"][0]["notes"] == []
    # ann resumes with `since` from a new connection: the handover reaches her too
    await w_ann.close()
    await sync_to_async(sql)(
        "UPDATE exactapp_note SET user_id = %s WHERE id = %s", [ann.pk, note.pk]
    )
    await w_bob.converge()
    await w_ann.connect(resume=True)
    await w_ann.converge()
    await sync_to_async(sql)(
        "UPDATE exactapp_note SET user_id = %s WHERE id = %s", [bob.pk, note.pk]
    )
    await w_bob.close()
    await w_bob.connect(resume=True)
    await w_bob.converge()
    await w_ann.converge()
    await w_ann.close()
    await w_bob.close()


async def test_restart_after_a_cache_repair_resets_connected_and_resuming_clients(live_worker):
    board, _cols, cards = await make_board(cards=3)
    _, token = await make_user("u")
    w = await watch_board(board, token)
    late = await watch_board(board, token)
    await late.close()
    live_worker.stop()
    # While the worker is down: one card's document vanishes (a write cut short by a crash),
    # and another card is deleted.
    coll = live_worker.worker.cache.collection(BOARD)
    await sync_to_async(coll.delete_one)(
        {"a": board.pk, "t": "exactapp.CardSerializer", "pk": cards[0].pk}
    )
    await sync_to_async(sql)("DELETE FROM exactapp_card WHERE id = %s", [cards[1].pk])
    again = await sync_to_async(LiveWorker)()
    try:
        await w.converge()
        await late.connect(resume=True)
        await late.converge()
        assert w.frames("reset"), "the repair was not announced"
    finally:
        await w.close()
        await late.close()
        await sync_to_async(again.stop)()


async def test_json_integers_beyond_64_bits_reach_clients_exactly(live_worker):
    board, _cols, cards = await make_board(cards=1)
    _, token = await make_user("u")
    w = await watch_board(board, token)
    for value in ("123456789012345678901234567890", "9223372036854775808", "-9223372036854775809"):
        await sync_to_async(sql)(
            "UPDATE exactapp_card SET payload = %s::jsonb WHERE id = %s",
            [f'{{"big": {value}, "text": "ok ✓"}}', cards[0].pk],
        )
        await w.converge()
        assert w.ref.nested(board.pk)["columns"][0]["cards"][0]["payload"]["big"] == int(value)
    await w.close()
    assert live_worker.worker.quarantine.count == 0


async def test_unloadable_row_quarantines_its_anchor_and_heals_when_it_changes(live_worker):
    broken_room = await sync_to_async(Room.objects.create)(name="broken")
    fine_room = await sync_to_async(Room.objects.create)(name="fine")
    bad = await sync_to_async(Message.objects.create)(room=broken_room, text="x")
    _, token = await make_user("u")
    watchers = []
    for room in (broken_room, fine_room):
        w = await sync_to_async(Watcher)(
            f"/ws/room/{room.pk}/", RoomSerializer, Room, room.pk, token=token
        )
        await w.connect()
        await w.converge()
        watchers.append(w)
    w_broken, w_fine = watchers
    # Django cannot load 'infinity' into a datetime: the re-read of this row fails every time.
    await sync_to_async(sql)("UPDATE testapp_message SET due = 'infinity' WHERE id = %s", [bad.pk])
    await sync_to_async(sql)(
        "INSERT INTO testapp_message (room_id, text) VALUES (%s, 'y')", [fine_room.pk]
    )
    await w_fine.converge()  # the stream goes on for everyone else

    async def error_arrives() -> None:
        assert w_broken.comm is not None
        while not any(e.get("anchor") == broken_room.pk for e in w_broken.ref.errors):
            w_broken.ref.apply(await w_broken.comm.receive_json_from(20))

    await error_arrives()
    assert w_broken.ref.errors[-1]["code"] == "anchor_failed"
    assert live_worker.worker.quarantine.count >= 1
    # the row changes again, to something loadable: the anchor heals and its client reloads
    await sync_to_async(sql)(
        "UPDATE testapp_message SET due = NULL, text = 'z' WHERE id = %s", [bad.pk]
    )
    await w_broken.converge()
    assert [m["text"] for m in w_broken.ref.nested(broken_room.pk)["messages"]] == ["z"]
    for w in watchers:
        await w.close()


@pytest.fixture
def small_chunks(settings):
    settings.RX_CHUNK_SIZE = 2


async def test_chunked_transaction_numbers_its_parts_without_gaps(small_chunks, live_worker):
    board, _cols, cards = await make_board(cards=1)
    other, _ocols, others = await make_board(cards=4)
    _, token = await make_user("u")
    w, w_other = await watch_board(board, token), await watch_board(other, token)
    # chunks of 2: [board, other] [other, other] [other, board]: nothing for board in chunk 1
    ids = [cards[0].pk, others[0].pk, others[1].pk, others[2].pk, others[3].pk, cards[0].pk]
    statements = ";".join(
        f"UPDATE exactapp_card SET title = title || '{i}' WHERE id = {pk}"
        for i, pk in enumerate(ids)
    )
    await sync_to_async(sql)(f"BEGIN; {statements}; COMMIT")
    await w.converge()
    await w_other.converge()
    parts = [f.get("part", 0) for f in w.frames("update")]
    assert parts == list(range(len(parts))) and len(parts) >= 2
    assert not w.ref.violations
    await w.close()
    await w_other.close()


async def test_a_child_reread_before_its_move_is_handled_still_leaves_its_old_parent(live_worker):
    board, _cols, cards = await make_board(cards=2)
    _other, other_cols, _ = await make_board(cards=0)
    _, token = await make_user("u")
    w = await watch_board(board, token)
    moved = cards[0].pk
    with live_worker.paused():
        # The first transaction makes the worker re-read the card, already in its new column
        # (rows are read as they are now); the second is the move itself.
        await sync_to_async(sql)("UPDATE exactapp_card SET title = 'x' WHERE id = %s", [moved])
        await sync_to_async(sql)(
            "UPDATE exactapp_card SET column_id = %s WHERE id = %s", [other_cols[0].pk, moved]
        )
    await w.converge()
    assert moved not in [c["id"] for c in w.ref.nested(board.pk)["columns"][0]["cards"]]
    await w.close()

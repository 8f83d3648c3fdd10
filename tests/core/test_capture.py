"""The worker keeps hot anchors equal to the database, whatever wrote to it."""

from django.contrib.auth.models import User
from django.db import connection, transaction

from tests.testapp.models import Author, Message, Room, Tag

ROOM = "testapp.RoomChannel"
MSG = "testapp.MessageSerializer"


def test_heat_loads_the_whole_anchor(pipeline):
    room = Room.objects.create(name="r")
    author = Author.objects.create(name="ann")
    m = Message.objects.create(room=room, author=author, text="hi")
    m.tags.add(Tag.objects.create(name="t1"))
    reply = pipeline.heat(ROOM, room.pk)
    assert reply["exists"] is True
    cached = pipeline.cached(ROOM, room.pk)
    assert cached[(MSG, m.pk)] == {
        "id": m.pk,
        "text": "hi",
        "author": author.pk,
        "tags": [m.tags.get().pk],
        "shout": "HI",
    }
    pipeline.assert_converged(ROOM, room.pk)


def test_save_updates_cache_and_publishes_the_row(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    m.text = "b"
    m.save()
    pipeline.pump()
    (update,) = pipeline.updates()
    assert update["type"] == "rx.update"
    assert [(i["_type"], i["_pk"], i["text"], i["shout"]) for i in update["instances"]] == [
        (MSG, m.pk, "b", "B")
    ]
    assert update["tombstones"] == []
    assert update["last"] is True
    pipeline.assert_converged(ROOM, room.pk)


def test_queryset_update_reaches_every_row(pipeline):
    room = Room.objects.create(name="r")
    Message.objects.bulk_create([Message(room=room, text=str(i)) for i in range(50)])
    pipeline.heat(ROOM, room.pk)
    Message.objects.filter(room=room).update(text="x")
    pipeline.pump()
    (update,) = pipeline.updates()
    assert len(update["instances"]) == 50
    assert {i["text"] for i in update["instances"]} == {"x"}
    pipeline.assert_converged(ROOM, room.pk)


def test_create_and_bulk_create_add_rows_and_parent_ids(pipeline):
    room = Room.objects.create(name="r")
    pipeline.heat(ROOM, room.pk)
    Message.objects.create(room=room, text="one")
    pipeline.pump()  # handled alone: waiting transactions would be handled as one run
    Message.objects.bulk_create([Message(room=room, text="two"), Message(room=room, text="three")])
    pipeline.pump()
    updates = pipeline.updates()
    assert len(updates) == 2  # one message per transaction
    pipeline.assert_converged(ROOM, room.pk)
    room_doc = pipeline.cached(ROOM, room.pk)[("testapp.RoomSerializer", room.pk)]
    assert len(room_doc["messages"]) == 3


def test_queryset_delete_with_cascade_tombstones_rows(pipeline):
    room = Room.objects.create(name="r")
    msgs = Message.objects.bulk_create([Message(room=room, text=str(i)) for i in range(3)])
    msgs[0].tags.add(Tag.objects.create(name="t"))
    pipeline.heat(ROOM, room.pk)
    Message.objects.filter(pk__in=[msgs[0].pk, msgs[1].pk]).delete()
    pipeline.pump()
    (update,) = pipeline.updates()
    tombs = {(t["_type"], t["_pk"]) for t in update["tombstones"]}
    assert (MSG, msgs[0].pk) in tombs and (MSG, msgs[1].pk) in tombs
    assert ("testapp.TagSerializer", msgs[0].tags.model.objects.get().pk) in tombs
    pipeline.assert_converged(ROOM, room.pk)


def test_m2m_add_remove_set_clear(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    t1, t2, t3 = (Tag.objects.create(name=n) for n in ("a", "b", "c"))
    pipeline.heat(ROOM, room.pk)
    for op in (
        lambda: m.tags.add(t1, t2),
        lambda: m.tags.remove(t1),
        lambda: m.tags.set([t3]),
        lambda: m.tags.clear(),
    ):
        op()
        pipeline.pump()
        pipeline.assert_converged(ROOM, room.pk)
    assert pipeline.cached(ROOM, room.pk)[(MSG, m.pk)]["tags"] == []


def test_raw_sql_is_captured(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    with connection.cursor() as cur:
        cur.execute("UPDATE testapp_message SET text = 'raw' WHERE id = %s", [m.pk])
    pipeline.pump()
    (update,) = pipeline.updates()
    assert update["instances"][0]["text"] == "raw"
    pipeline.assert_converged(ROOM, room.pk)


def test_child_moved_to_another_anchor_leaves_and_arrives_with_subtree(pipeline):
    r1, r2 = Room.objects.create(name="1"), Room.objects.create(name="2")
    author = Author.objects.create(name="ann")
    m = Message.objects.create(room=r1, author=author, text="a")
    pipeline.heat(ROOM, r1.pk)
    pipeline.heat(ROOM, r2.pk)
    Message.objects.filter(pk=m.pk).update(room=r2)
    pipeline.pump()
    by_anchor = {u["anchor"]: u for u in pipeline.updates()}
    assert {(t["_type"], t["_pk"]) for t in by_anchor[r1.pk]["tombstones"]} == {
        (MSG, m.pk),
        ("testapp.AuthorSerializer", author.pk),
    }
    arrived = {(i["_type"], i["_pk"]) for i in by_anchor[r2.pk]["instances"]}
    assert {(MSG, m.pk), ("testapp.AuthorSerializer", author.pk)} <= arrived
    pipeline.assert_converged(ROOM, r1.pk)
    pipeline.assert_converged(ROOM, r2.pk)


def test_fk_to_an_object_not_yet_in_state_ships_it(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    author = Author.objects.create(name="new")
    pipeline.heat(ROOM, room.pk)
    m.author = author
    m.save()
    pipeline.pump()
    (update,) = pipeline.updates()
    assert ("testapp.AuthorSerializer", author.pk) in {
        (i["_type"], i["_pk"]) for i in update["instances"]
    }
    pipeline.assert_converged(ROOM, room.pk)


def test_rolled_back_transaction_publishes_nothing(pipeline):
    room = Room.objects.create(name="r")
    pipeline.heat(ROOM, room.pk)
    try:
        with transaction.atomic():
            Message.objects.create(room=room, text="never")
            raise RuntimeError
    except RuntimeError:
        pass
    pipeline.pump()
    assert pipeline.updates() == []
    pipeline.assert_converged(ROOM, room.pk)


def test_changes_to_cold_anchors_write_nothing(pipeline):
    hot, cold = Room.objects.create(name="hot"), Room.objects.create(name="cold")
    Message.objects.bulk_create([Message(room=cold, text=str(i)) for i in range(20)])
    pipeline.heat(ROOM, hot.pk)
    coll = pipeline.worker.cache.collection(ROOM)
    before = coll.count_documents({})
    Message.objects.filter(room=cold).update(text="x")
    pipeline.pump()
    assert coll.count_documents({}) == before
    assert coll.count_documents({"a": cold.pk}) == 0
    assert pipeline.updates() == []


def test_user_key_rows_carry_their_user(pipeline):
    from tests.testapp.models import Note

    room = Room.objects.create(name="r")
    alice = User.objects.create(username="alice")
    pipeline.heat(ROOM, room.pk)
    note = Note.objects.create(room=room, user=alice, text="secret")
    pipeline.pump()
    (update,) = pipeline.updates()
    (inst,) = [i for i in update["instances"] if i["_type"] == "testapp.NoteSerializer"]
    assert inst["_pk"] == note.pk and inst["_user"] == alice.pk
    pipeline.assert_converged(ROOM, room.pk)


def test_write_from_another_process_is_captured(pipeline):
    import subprocess

    from rxcdc import conf

    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    subprocess.run(
        [
            "psql",
            conf.replication_dsn(),
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"UPDATE testapp_message SET text = 'psql' WHERE id = {m.pk}",
        ],
        check=True,
        capture_output=True,
    )
    pipeline.pump()
    (update,) = pipeline.updates()
    assert update["instances"][0]["text"] == "psql"
    pipeline.assert_converged(ROOM, room.pk)


def test_truncate_resets_hot_anchors(pipeline):
    room = Room.objects.create(name="r")
    Message.objects.bulk_create([Message(room=room, text=str(i)) for i in range(3)])
    pipeline.heat(ROOM, room.pk)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE testapp_message CASCADE")
    pipeline.pump()
    (reset,) = pipeline.updates()
    assert reset["type"] == "rx.reset" and reset["anchor"] == room.pk
    pipeline.assert_converged(ROOM, room.pk)
    assert pipeline.cached(ROOM, room.pk)[("testapp.RoomSerializer", room.pk)]["messages"] == []


def test_one_transaction_touching_two_channels_sends_one_message_each(pipeline):
    from tests.testapp.models import Board, Card

    alice = User.objects.create(username="alice")
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    board = Board.objects.create(owner=alice, title="b")
    card = Card.objects.create(board=board, title="c")
    pipeline.heat(ROOM, room.pk)
    pipeline.heat("testapp.BoardsChannel", board.pk)
    with transaction.atomic():
        Message.objects.filter(pk=m.pk).update(text="x")
        Message.objects.create(room=room, text="y")
        Card.objects.filter(pk=card.pk).update(done=True)
    pipeline.pump()
    updates = pipeline.updates()
    assert sorted((u["channel"], u["anchor"]) for u in updates) == [
        ("testapp.BoardsChannel", board.pk),
        (ROOM, room.pk),
    ]
    assert len({u["lsn"] for u in updates}) == 1
    pipeline.assert_converged(ROOM, room.pk)
    pipeline.assert_converged("testapp.BoardsChannel", board.pk)


def test_deleting_the_anchor_row_tombstones_everything(pipeline):
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="a")
    pk = room.pk
    pipeline.heat(ROOM, pk)
    room.delete()
    pipeline.pump()
    assert pipeline.cached(ROOM, pk) == {}
    tombs = [t for u in pipeline.updates() for t in u["tombstones"]]
    assert ("testapp.RoomSerializer", pk) in {(t["_type"], t["_pk"]) for t in tombs}


def test_bulk_update_is_captured(pipeline):
    room = Room.objects.create(name="r")
    msgs = Message.objects.bulk_create([Message(room=room, text=str(i)) for i in range(5)])
    pipeline.heat(ROOM, room.pk)
    for m in msgs:
        m.text = f"new{m.pk}"
    Message.objects.bulk_update(msgs, ["text"])
    pipeline.pump()
    (update,) = pipeline.updates()
    assert sorted(i["text"] for i in update["instances"]) == sorted(f"new{m.pk}" for m in msgs)
    pipeline.assert_converged(ROOM, room.pk)


def test_new_anchor_of_auto_update_list_channel_is_announced(pipeline):
    from tests.testapp.models import Board

    alice = User.objects.create(username="alice")
    first = Board.objects.create(owner=alice, title="first")
    pipeline.heat("testapp.BoardsChannel", first.pk)
    board = Board.objects.create(owner=alice, title="new")
    pipeline.pump()
    (created,) = pipeline.updates()
    assert created == {
        "type": "rx.anchor_created",
        "channel": "testapp.BoardsChannel",
        "anchor": board.pk,
        "lsn": created["lsn"],
    }

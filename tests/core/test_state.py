"""Races between reads, and caches cut short by a crash, converge to the database."""

import json

from rxcdc.cache import doc_id
from rxcdc.serialize import load_rows
from rxcdc.state import HotState
from tests.testapp.models import Message, Room

ROOM = "testapp.RoomChannel"


def test_row_deleted_between_parent_and_child_reads_leaves_no_stale_link(transactional_db):
    from rxcdc.channels import get_channel

    model = get_channel(ROOM).state()
    room = Room.objects.create(name="r")
    doomed = Message.objects.create(room=room, text="x")
    kept = Message.objects.create(room=room, text="y")
    calls = []

    def racing_loader(layer, pks):
        rows = load_rows(layer, pks)
        if layer is model.root and not calls:
            Message.objects.filter(pk=doomed.pk).delete()  # commits between the two reads
        calls.append(layer)
        return rows

    delta = HotState().heat((ROOM, room.pk), model, racing_loader)
    assert delta.missing == 1
    assert delta.upserts[("testapp.RoomSerializer", room.pk)].doc["messages"] == [kept.pk]
    assert ("testapp.MessageSerializer", doomed.pk) not in delta.upserts


def test_restart_repairs_a_cache_cut_short_by_a_crash(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    # A crash between writing the room (which links m) and writing m itself:
    coll = pipeline.worker.cache.collection(ROOM)
    coll.delete_one({"_id": doc_id(room.pk, "testapp.MessageSerializer", m.pk)})
    pipeline.restart()
    pipeline.assert_converged(ROOM, room.pk)
    m.delete()  # routed from the repaired state
    pipeline.pump()
    pipeline.assert_converged(ROOM, room.pk)


def test_restart_repairs_an_orphan_document(pipeline):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    # A crash after writing the room without m, before m's tombstone:
    Message.objects.filter(pk=m.pk).delete()
    coll = pipeline.worker.cache.collection(ROOM)
    key = doc_id(room.pk, "testapp.RoomSerializer", room.pk)
    fields = json.loads(coll.find_one({"_id": key})["json"])
    unlinked = {"json": json.dumps({**fields, "messages": []}), "links.messages": []}
    coll.update_one({"_id": key}, {"$set": unlinked})
    pipeline.restart()
    pipeline.assert_converged(ROOM, room.pk)

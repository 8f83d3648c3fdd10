"""Replica identities. DEFAULT and FULL carry the key; USING INDEX on a unique ``code`` carries
only ``code``, so the worker resolves it to the row it holds (``rxcdc.identity``); a through
table USING INDEX on its (entry, label) pair carries the parent column, which is enough."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from rxcdc.testing.live import LiveWorker
from tests.schemaapp.models import Entry, Label, Ledger
from tests.schemaapp.serializers import LedgerSerializer

from .harness import asql, watch


@sync_to_async
def ledger_with_entries(n: int = 3) -> tuple[Ledger, list[Entry], list[Label]]:
    ledger = Ledger.objects.create(name="l")
    entries = [Entry.objects.create(ledger=ledger, code=f"c{i}", amount=i) for i in range(n)]
    labels = [Label.objects.create(name=f"label{i}") for i in range(2)]
    for entry in entries:
        entry.labels.set(labels)
    return ledger, entries, labels


async def watch_ledger(ledger: Ledger):
    return await watch(f"/ws/schemas/ledger/{ledger.pk}/", LedgerSerializer, Ledger, ledger.pk)


async def test_a_row_deleted_under_replica_identity_using_index_leaves_its_parent(live_worker):
    ledger, entries, _labels = await ledger_with_entries()
    w = await watch_ledger(ledger)
    await asql("DELETE FROM schemaapp_entry_labels WHERE entry_id = %s", [entries[1].pk])
    await asql("DELETE FROM schemaapp_entry WHERE id = %s", [entries[1].pk])  # carries only code
    state = await w.converge()
    assert state is not None and [e["id"] for e in state["entries"]] == [
        entries[0].pk,
        entries[2].pk,
    ]
    await w.close()


async def test_identity_and_key_changes_under_using_index_are_followed(live_worker):
    ledger, entries, _labels = await ledger_with_entries()
    w = await watch_ledger(ledger)
    await asql("UPDATE schemaapp_entry SET code = 'z0' WHERE id = %s", [entries[0].pk])
    await w.converge()
    # the key changes, the identity (code) does not: the old key is resolved from it
    await asql(
        "UPDATE schemaapp_entry_labels SET entry_id = 900 WHERE entry_id = %s;"
        " UPDATE schemaapp_entry SET id = 900 WHERE id = %s",
        [entries[0].pk, entries[0].pk],
    )
    state = await w.converge()
    assert state is not None and 900 in [e["id"] for e in state["entries"]]
    # changed, then deleted, both before the worker reads either
    with live_worker.paused():
        await asql("UPDATE schemaapp_entry SET code = 'z2' WHERE id = %s", [entries[2].pk])
        await asql("DELETE FROM schemaapp_entry_labels WHERE entry_id = %s", [entries[2].pk])
        await asql("DELETE FROM schemaapp_entry WHERE id = %s", [entries[2].pk])
    state = await w.converge()
    assert state is not None and entries[2].pk not in [e["id"] for e in state["entries"]]
    await w.close()


async def test_a_link_deleted_under_using_index_on_the_through_pair_leaves_the_list(
    live_worker,
):
    ledger, entries, labels = await ledger_with_entries(1)
    w = await watch_ledger(ledger)
    await asql(  # carries (entry_id, label_id), not the through row's id
        "DELETE FROM schemaapp_entry_labels WHERE entry_id = %s AND label_id = %s",
        [entries[0].pk, labels[0].pk],
    )
    state = await w.converge()
    assert state is not None and [x["id"] for x in state["entries"][0]["labels"]] == [labels[1].pk]
    await w.close()


async def test_a_row_deleted_under_replica_identity_full_leaves_every_list(live_worker):
    ledger, _entries, labels = await ledger_with_entries()
    w = await watch_ledger(ledger)
    await asql("UPDATE schemaapp_label SET name = 'a' WHERE id = %s", [labels[1].pk])
    await w.converge()
    await asql(
        "DELETE FROM schemaapp_entry_labels WHERE label_id = %s;"
        " DELETE FROM schemaapp_label WHERE id = %s",
        [labels[0].pk, labels[0].pk],
    )
    state = await w.converge()
    assert state is not None
    assert all([x["id"] for x in e["labels"]] == [labels[1].pk] for e in state["entries"])
    await w.close()


async def test_a_delete_under_using_index_while_the_worker_was_down_is_resolved(live_worker):
    ledger, entries, _labels = await ledger_with_entries()
    w = await watch_ledger(ledger)
    live_worker.stop()
    # The restarted worker rebuilds its state from the cache, which holds no identities.
    await asql("DELETE FROM schemaapp_entry_labels WHERE entry_id = %s", [entries[0].pk])
    await asql("DELETE FROM schemaapp_entry WHERE id = %s", [entries[0].pk])
    again = await sync_to_async(LiveWorker)()
    try:
        state = await w.converge()
        assert state is not None and entries[0].pk not in [e["id"] for e in state["entries"]]
        # rows re-read then have known identities again
        await asql("DELETE FROM schemaapp_entry_labels WHERE entry_id = %s", [entries[1].pk])
        await asql("DELETE FROM schemaapp_entry WHERE id = %s", [entries[1].pk])
        state = await w.converge()
        assert state is not None and [e["id"] for e in state["entries"]] == [entries[2].pk]
    finally:
        await w.close()
        await sync_to_async(again.stop)()

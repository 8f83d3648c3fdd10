"""Keys and foreign keys of a DOMAIN type: wal2json sends them as text with the domain's OID;
they arrive as integers, so they match the keys the worker holds."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from tests.schemaapp.models import Crate
from tests.schemaapp.serializers import CrateSerializer

from .harness import asql, watch


async def watch_crate(pk: int):
    return await watch(f"/ws/schemas/crate/{pk}/", CrateSerializer, Crate, pk)


async def test_rows_keyed_by_a_domain_are_inserted_updated_moved_and_deleted_exactly(
    live_worker,
):
    await asql("INSERT INTO schemaapp_crate VALUES (1, 'one'), (2, 'two')")
    await asql("INSERT INTO schemaapp_item VALUES (10, 1, 'a'), (11, 1, 'b')")
    w1, w2 = await watch_crate(1), await watch_crate(2)
    await asql("INSERT INTO schemaapp_item VALUES (12, 1, 'c')")
    await w1.converge()
    await asql("UPDATE schemaapp_item SET name = 'renamed' WHERE id = 10")
    await w1.converge()
    await asql("UPDATE schemaapp_item SET crate_id = 2 WHERE id = 11")  # a domain-typed FK
    await w1.converge()
    await w2.converge()
    await asql("UPDATE schemaapp_item SET id = 13 WHERE id = 12")  # a domain-typed key
    await w1.converge()
    await asql("DELETE FROM schemaapp_item WHERE id = 13")
    state = await w1.converge()
    assert state is not None and [i["id"] for i in state["items"]] == [10]
    await asql("UPDATE schemaapp_crate SET label = 'uno' WHERE id = 1")  # the anchor row itself
    state = await w1.converge()
    assert state is not None and state["label"] == "uno"
    await w1.close()
    await w2.close()
    assert await sync_to_async(Crate.objects.count)() == 2

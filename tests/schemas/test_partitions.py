"""Partitioned tables: rows live in partitions (wal2json names the leaf), the channel names the
parent. Every change, partition moves and partitions made after the worker started included,
reaches the client exactly (judged by DRF's own output)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from tests.schemaapp.models import Book, Shelf
from tests.schemaapp.serializers import ShelfSerializer

from .harness import asql, sql, watch


@sync_to_async
def shelf_with_books() -> tuple[Shelf, list[int]]:
    shelf = Shelf.objects.create(name="s")
    ids = []
    for year, title in ((1990, "old"), (2010, "even"), (2011, "odd")):
        book = Book.objects.create(shelf=shelf, year=year, title=title)
        ids.append(book.pk)
    return shelf, ids


async def watch_shelf(shelf: Shelf):
    return await watch(f"/ws/schemas/shelf/{shelf.pk}/", ShelfSerializer, Shelf, shelf.pk)


async def test_rows_of_every_partition_are_inserted_updated_and_deleted_exactly(live_worker):
    shelf, ids = await shelf_with_books()
    w = await watch_shelf(shelf)
    await asql(
        "INSERT INTO schemaapp_book (shelf_id, year, title)"
        " VALUES (%s, 1950, 'a'), (%s, 2050, 'b')",
        [shelf.pk, shelf.pk],
    )
    await w.converge()
    await asql("UPDATE schemaapp_book SET title = title || '!' WHERE shelf_id = %s", [shelf.pk])
    await w.converge()
    await asql("DELETE FROM schemaapp_book WHERE id = %s", [ids[2]])
    state = await w.converge()
    assert state is not None and len(state["books"]) == 4
    assert all(b["title"].endswith("!") for b in state["books"])
    await w.close()


async def test_a_row_moved_to_another_partition_stays_exactly_once(live_worker):
    shelf, ids = await shelf_with_books()
    other = await sync_to_async(Shelf.objects.create)(name="other")
    w, w_other = await watch_shelf(shelf), await watch_shelf(other)
    # 1990 → 2012: from schemaapp_book_old into schemaapp_book_new's hash partitions
    await asql("UPDATE schemaapp_book SET year = 2012 WHERE id = %s", [ids[0]])
    state = await w.converge()
    assert state is not None
    assert [b["id"] for b in state["books"]] == [ids[1], ids[2], ids[0]]
    # moved partition and parent together, while the worker waits: both anchors follow
    with live_worker.paused():
        await asql(
            "UPDATE schemaapp_book SET year = 1999, shelf_id = %s WHERE id = %s", [other.pk, ids[1]]
        )
        await asql("UPDATE schemaapp_book SET year = 2013 WHERE id = %s", [ids[2]])
    await w.converge()
    state = await w_other.converge()
    assert state is not None and [b["id"] for b in state["books"]] == [ids[1]]
    await w.close()
    await w_other.close()


async def test_a_partition_created_after_the_worker_started_streams_its_rows(live_worker):
    shelf, _ids = await shelf_with_books()
    w = await watch_shelf(shelf)
    await asql(
        "CREATE TABLE IF NOT EXISTS schemaapp_book_future PARTITION OF schemaapp_book"
        " FOR VALUES FROM (2100) TO (2200)"
    )
    await asql(
        "INSERT INTO schemaapp_book (shelf_id, year, title) VALUES (%s, 2150, 'future')", [shelf.pk]
    )
    state = await w.converge()
    assert state is not None and state["books"][-1]["title"] == "future"
    await asql("UPDATE schemaapp_book SET title = 'later' WHERE year = 2150")
    await w.converge()
    await asql("DELETE FROM schemaapp_book WHERE year = 2150")
    await w.converge()
    await w.close()


@pytest.fixture
def spare_partition(transactional_db):
    """A table written to before it is attached (its rows appear without DML)."""
    sql("DROP TABLE IF EXISTS schemaapp_book_spare")
    sql("CREATE TABLE schemaapp_book_spare (LIKE schemaapp_book INCLUDING DEFAULTS)")
    yield "schemaapp_book_spare"
    sql("DROP TABLE IF EXISTS schemaapp_book_spare")


async def test_rows_of_an_attached_partition_show_after_rx_cache_clear(
    spare_partition, live_worker
):
    shelf, _ids = await shelf_with_books()
    w = await watch_shelf(shelf)
    await asql(  # not a partition yet: not tracked
        "INSERT INTO schemaapp_book_spare (shelf_id, year, title) VALUES (%s, 3050, 'spare')",
        [shelf.pk],
    )
    await w.converge()
    await asql(
        "ALTER TABLE schemaapp_book ATTACH PARTITION schemaapp_book_spare"
        " FOR VALUES FROM (3000) TO (3100)"
    )
    # DDL: the row is in the shelf now, and no DML said so. The operator's step:
    await sync_to_async(call_command)("rx_cache", "clear")
    state = await w.converge()
    assert state is not None and state["books"][-1]["title"] == "spare"
    # and the partition's own changes stream from now on
    await asql("UPDATE schemaapp_book SET title = 'attached' WHERE year = 3050")
    state = await w.converge()
    assert state is not None and state["books"][-1]["title"] == "attached"
    await asql("ALTER TABLE schemaapp_book DETACH PARTITION schemaapp_book_spare")
    await sync_to_async(call_command)("rx_cache", "clear")
    state = await w.converge()
    assert state is not None and "attached" not in [b["title"] for b in state["books"]]
    await w.close()

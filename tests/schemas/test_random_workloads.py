"""Random raw-SQL workloads on partitioned and USING INDEX tables, judged by DRF after each batch.

Batches commit while the worker is paused (so it reads them only after all committed) or one by
one; several statements share a transaction. Seeds are fixed: a failure replays exactly.
"""

from __future__ import annotations

import random

import pytest
from asgiref.sync import sync_to_async

from tests.schemaapp.models import Ledger, Shelf
from tests.schemaapp.serializers import LedgerSerializer, ShelfSerializer

from .harness import asql, watch

YEARS = [1950, 1999, 2000, 2001, 2050, 2099]  # the old partition and both hash partitions


def shelf_statement(rng: random.Random, shelves: list[int]) -> str:
    kind = rng.choice(["insert", "insert", "title", "year", "shelf", "delete"])
    pick = "(SELECT id FROM schemaapp_book ORDER BY random() LIMIT 1)"
    if kind == "insert":
        return (
            "INSERT INTO schemaapp_book (shelf_id, year, title)"
            f" VALUES ({rng.choice(shelves)}, {rng.choice(YEARS)}, 't{rng.randrange(99)}')"
        )
    if kind == "title":
        return f"UPDATE schemaapp_book SET title = 'u{rng.randrange(99)}' WHERE id = {pick}"
    if kind == "year":  # moves the row between partitions
        return f"UPDATE schemaapp_book SET year = {rng.choice(YEARS)} WHERE id = {pick}"
    if kind == "shelf":
        return f"UPDATE schemaapp_book SET shelf_id = {rng.choice(shelves)} WHERE id = {pick}"
    return f"DELETE FROM schemaapp_book WHERE id = {pick}"


def ledger_statement(rng: random.Random, ledgers: list[int], labels: list[int]) -> str:
    kind = rng.choice(["insert", "code", "amount", "key", "link", "unlink", "delete"])
    entry = "(SELECT id FROM schemaapp_entry ORDER BY random() LIMIT 1)"
    n = rng.randrange(10**6)
    if kind == "insert":
        return (
            "INSERT INTO schemaapp_entry (ledger_id, code, amount)"
            f" VALUES ({rng.choice(ledgers)}, 'c{n}', {n % 100})"
        )
    if kind == "code":  # the replica identity changes
        return f"UPDATE schemaapp_entry SET code = 'r{n}' WHERE id = {entry}"
    if kind == "amount":
        return f"UPDATE schemaapp_entry SET amount = {n % 100} WHERE id = {entry}"
    if kind == "key":  # the key changes, with its links
        return (
            f"WITH e AS (SELECT {entry} AS id), l AS (UPDATE schemaapp_entry_labels"
            f" SET entry_id = {10**6 + n} WHERE entry_id = (SELECT id FROM e))"
            f" UPDATE schemaapp_entry SET id = {10**6 + n} WHERE id = (SELECT id FROM e)"
        )
    if kind == "link":
        return (
            "INSERT INTO schemaapp_entry_labels (entry_id, label_id)"
            f" SELECT id, {rng.choice(labels)} FROM schemaapp_entry ORDER BY random() LIMIT 1"
            " ON CONFLICT DO NOTHING"
        )
    if kind == "unlink":  # carries (entry_id, label_id) only
        return (
            "DELETE FROM schemaapp_entry_labels WHERE (entry_id, label_id) ="
            " (SELECT entry_id, label_id FROM schemaapp_entry_labels ORDER BY random() LIMIT 1)"
        )
    return (  # carries the code only
        f"WITH e AS (SELECT {entry} AS id), l AS (DELETE FROM schemaapp_entry_labels"
        " WHERE entry_id = (SELECT id FROM e))"
        " DELETE FROM schemaapp_entry WHERE id = (SELECT id FROM e)"
    )


@sync_to_async
def setup() -> tuple[list[int], list[int], list[int]]:
    from tests.schemaapp.models import Label

    shelves = [Shelf.objects.create(name=f"s{i}").pk for i in range(2)]
    ledgers = [Ledger.objects.create(name=f"l{i}").pk for i in range(2)]
    labels = [Label.objects.create(name=f"label{i}").pk for i in range(3)]
    return shelves, ledgers, labels


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
async def test_random_workloads_on_partitions_and_using_index_identities_stay_exact(
    seed, live_worker
):
    rng = random.Random(seed)
    shelves, ledgers, labels = await setup()
    watchers = [
        *[await watch(f"/ws/schemas/shelf/{s}/", ShelfSerializer, Shelf, s) for s in shelves],
        *[await watch(f"/ws/schemas/ledger/{x}/", LedgerSerializer, Ledger, x) for x in ledgers],
    ]
    for _batch in range(12):
        statements = [
            shelf_statement(rng, shelves)
            if rng.random() < 0.5
            else ledger_statement(rng, ledgers, labels)
            for _ in range(rng.randrange(1, 6))
        ]
        grouped = rng.random() < 0.3
        if rng.random() < 0.5:
            with live_worker.paused():
                await _run(statements, grouped)
        else:
            await _run(statements, grouped)
        for w in watchers:
            await w.converge()
    for w in watchers:
        await w.close()
    assert live_worker.worker.quarantine.count == 0


async def _run(statements: list[str], grouped: bool) -> None:
    if grouped:
        await asql("BEGIN; " + "; ".join(statements) + "; COMMIT")
    else:
        for statement in statements:
            await asql(statement)

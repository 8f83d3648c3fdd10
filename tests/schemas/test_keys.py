"""UUID and text keys, and a table in another schema (``db_table = 'archive"."vault'``): each
tracked ``db_table`` is resolved to its real (schema, relation) when the worker starts."""

from __future__ import annotations

import uuid

from django.db import connection

from rxcdc.tables import resolve
from tests.schemaapp.models import Vault
from tests.schemaapp.serializers import VaultSerializer

from .harness import asql, watch


async def test_a_uuid_keyed_anchor_in_another_schema_with_text_keyed_children_is_exact(
    live_worker,
):
    vault, other = uuid.uuid4(), uuid.uuid4()
    await asql("INSERT INTO archive.vault VALUES (%s, 'v'), (%s, 'w')", [vault, other])
    await asql("INSERT INTO schemaapp_drawer VALUES ('b', %s, 'x'), ('a', %s, 'y')", [vault, vault])
    w = await watch(f"/ws/schemas/vault/{vault}/", VaultSerializer, Vault, vault)
    w_other = await watch(f"/ws/schemas/vault/{other}/", VaultSerializer, Vault, other)
    await asql("UPDATE archive.vault SET name = 'renamed' WHERE id = %s", [vault])
    await w.converge()
    await asql("INSERT INTO schemaapp_drawer VALUES ('c', %s, 'z')", [vault])
    await w.converge()
    await asql("UPDATE schemaapp_drawer SET note = 'changed' WHERE slug = 'a'")
    await w.converge()
    await asql("UPDATE schemaapp_drawer SET slug = 'aa' WHERE slug = 'a'")  # a text key changes
    await w.converge()
    await asql("UPDATE schemaapp_drawer SET vault_id = %s WHERE slug = 'b'", [other])
    await w.converge()
    await w_other.converge()
    await asql("DELETE FROM schemaapp_drawer WHERE slug = 'c'")
    state = await w.converge()
    assert state is not None and [d["slug"] for d in state["drawers"]] == ["aa"]
    await w.close()
    await w_other.close()


def test_tables_resolve_through_the_search_path_like_the_orm(transactional_db):
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE archive.schemaapp_gadget (id int PRIMARY KEY)")
        cur.execute("SET search_path TO archive, public")
    try:
        found = resolve(["schemaapp_gadget", "schemaapp_shelf", 'archive"."vault', "nowhere"])
        assert {t: (v.schema, v.name) for t, v in found.items()} == {
            "schemaapp_gadget": ("archive", "schemaapp_gadget"),
            "schemaapp_shelf": ("public", "schemaapp_shelf"),
            'archive"."vault': ("archive", "vault"),
        }
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET search_path")
            cur.execute("DROP TABLE archive.schemaapp_gadget")

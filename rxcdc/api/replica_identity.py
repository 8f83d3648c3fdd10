"""``REPLICA IDENTITY FULL`` on observed tables: deletes and M2M unlinks carry their old rows.

Under the default replica identity the WAL has only the key of a deleted row: a ``delete``
could carry ``{"pk"}`` only, and an M2M link removed could not be traced to its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections

__all__ = ["needed_tables", "replica_identities", "set_replica_identity"]

IDENTITIES = {"default": "d", "full": "f", "nothing": "n", "index": "i"}


def needed_tables() -> dict[str, str]:
    """Tables that need FULL, with why: serialized deletes, or observed M2M links."""
    from rxcdc.api.observer import registry

    out: dict[str, str] = {}
    for observer in registry.observers():
        model = observer.model_cls
        if observer.needs_old_rows:
            out.setdefault(model._meta.db_table, f"delete bodies of {observer.observer_id}")
        if observer.many_to_many:
            for field in model._meta.many_to_many:
                through = field.remote_field.through._meta.db_table
                out.setdefault(through, f"M2M links of {observer.observer_id}")
    return out


def replica_identities(
    tables: Iterable[str], using: str = "default", connection: Any = None
) -> dict[str, str]:
    """``{table: "default" | "full" | "nothing" | "index"}`` for the tables that exist."""
    names = sorted(set(tables))
    if not names:
        return {}
    by_letter = {v: k for k, v in IDENTITIES.items()}
    with (connection or connections[using]).cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.relreplident::text FROM pg_class c"
            " WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p')"
            " AND pg_table_is_visible(c.oid)",
            [names],
        )
        return {name: by_letter.get(letter, letter) for name, letter in cur.fetchall()}


def set_replica_identity(
    tables: Iterable[str], identity: str, using: str = "default", connection: Any = None
) -> list[str]:
    """``ALTER TABLE … REPLICA IDENTITY`` ``identity`` (full or default) where it differs.

    Returns the tables changed. Takes a short ACCESS EXCLUSIVE lock on each.
    """
    if identity not in ("full", "default"):
        raise ValueError(f"identity must be 'full' or 'default', not {identity!r}")
    conn = connection or connections[using]
    current = replica_identities(tables, using, conn)
    changed = [t for t, now in sorted(current.items()) if now != identity]
    with conn.cursor() as cur:
        for table in changed:
            cur.execute(
                f"ALTER TABLE {conn.ops.quote_name(table)} REPLICA IDENTITY {identity.upper()}"
            )
    return changed

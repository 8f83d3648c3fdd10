"""Where each tracked ``db_table`` really lives, and what its UPDATEs and DELETEs carry.

A model's ``db_table`` is resolved the way the ORM resolves it: through the connection's
``search_path``, or schema-qualified (``'sales"."order'``). The stream needs the real (schema,
relation name); the router keeps the ``db_table`` it knows, so changes are renamed back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connections

from rxcdc.conf import rx_settings

__all__ = ["Identity", "Table", "identities", "key_types", "resolve"]


@dataclass(frozen=True)
class Table:
    """A tracked ``db_table`` and the relation it names."""

    db_table: str
    schema: str
    name: str
    oid: int
    partitioned: bool
    kind: str = "r"  # pg_class.relkind: r table, p partitioned, v view, m materialized, f foreign

    @property
    def logged(self) -> bool:
        """Whether its rows change through the WAL (views and foreign tables have none)."""
        return self.kind in ("r", "p")


@dataclass(frozen=True)
class Identity:
    """The replica identity of a table that holds rows (a partition: each leaf has its own).

    ``kind`` is ``pg_class.relreplident``: ``d`` (the primary key), ``f`` (every column), ``i``
    (a unique index), ``n`` (nothing). ``columns``: what an UPDATE's ``old`` and a DELETE carry,
    None for every column.
    """

    schema: str
    name: str
    kind: str
    columns: tuple[str, ...] | None

    def carries(self, column: str) -> bool:
        """Whether a DELETE of this table names ``column``."""
        return self.columns is None or column in self.columns


_RESOLVE = """
SELECT t.db_table, n.nspname, c.relname, c.oid, c.relkind = 'p', c.relkind::text
FROM unnest(%s::text[], %s::text[]) AS t(db_table, quoted)
JOIN pg_class c ON c.oid = to_regclass(t.quoted)
JOIN pg_namespace n ON n.oid = c.relnamespace
"""

# Every relation holding rows for a table: itself, or the leaves of its partition tree.
_IDENTITIES = """
SELECT r.root, n.nspname, c.relname, c.relreplident,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_index i
        CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid
          AND CASE c.relreplident WHEN 'i' THEN i.indisreplident
                                  WHEN 'd' THEN i.indisprimary ELSE false END)
FROM (
    SELECT root, CASE WHEN p.relkind = 'p' THEN t.relid ELSE root END AS relid
    FROM unnest(%s::oid[]) AS root
    JOIN pg_class p ON p.oid = root
    LEFT JOIN LATERAL pg_partition_tree(root) t ON p.relkind = 'p' AND t.isleaf
) r
JOIN pg_class c ON c.oid = r.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
"""

# A column's type, followed through domains to its base, and whether its collation compares
# byte for byte (a nondeterministic collation, like citext, calls different strings equal).
_KEY_TYPES = """
WITH RECURSIVE chain(attrelid, attname, typid, base) AS (
    SELECT a.attrelid, a.attname::text, t.oid, t.typbasetype
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
    SELECT c.attrelid, c.attname, t.oid, t.typbasetype
    FROM chain c JOIN pg_type t ON t.oid = c.base
)
SELECT c.attrelid, c.attname, format_type(c.typid, NULL),
       coalesce(co.collisdeterministic, true)
FROM chain c
JOIN pg_attribute a ON a.attrelid = c.attrelid AND a.attname = c.attname
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.base = 0
"""


def resolve(db_tables: Iterable[str]) -> dict[str, Table]:
    """``db_table`` → the relation it names on ``RX_DATABASE`` (one query).

    Tables that do not exist are absent.
    """
    connection = connections[rx_settings.DATABASE]
    names = sorted(set(db_tables))
    if not names:
        return {}
    quoted = [connection.ops.quote_name(name) for name in names]
    with connection.cursor() as cur:
        cur.execute(_RESOLVE, [names, quoted])
        rows = cur.fetchall()
    return {
        str(db_table): Table(
            str(db_table), str(schema), str(name), int(oid), bool(partitioned), str(kind)
        )
        for db_table, schema, name, oid, partitioned, kind in rows
    }


def identities(tables: Iterable[Table]) -> dict[str, list[Identity]]:
    """``db_table`` → the replica identity of every relation that holds its rows (one query)."""
    by_oid = {t.oid: t.db_table for t in tables}
    if not by_oid:
        return {}
    with connections[rx_settings.DATABASE].cursor() as cur:
        cur.execute(_IDENTITIES, [list(by_oid)])
        rows = cur.fetchall()
    out: dict[str, list[Identity]] = {name: [] for name in by_oid.values()}
    for root, schema, name, kind, columns in rows:
        cols = None if kind == "f" else tuple(columns or ())
        out[by_oid[root]].append(Identity(str(schema), str(name), str(kind), cols))
    return out


def key_types(tables: Iterable[Table]) -> dict[tuple[str, str], tuple[str, bool]]:
    """``(db_table, column)`` → (base type name, deterministic collation) of every column."""
    by_oid = {t.oid: t.db_table for t in tables}
    if not by_oid:
        return {}
    with connections[rx_settings.DATABASE].cursor() as cur:
        cur.execute(_KEY_TYPES, [list(by_oid)])
        rows = cur.fetchall()
    return {
        (by_oid[relid], str(column)): (str(type_name), bool(deterministic))
        for relid, column, type_name, deterministic in rows
    }

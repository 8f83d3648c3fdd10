"""Catalog lookups the stream needs for what it has not seen yet: user-defined types, partitions.

wal2json names a column's type by OID and a changed row's table by the *leaf partition* it lives
in. Built-in OIDs are fixed (``replication.values``), and the tracked tables are known at start;
anything else (a domain, an array of domains, an enum, a partition created after the stream
started) is asked of the database once, on a plain connection opened on first use, and the
caller keeps the answer. Per change the stream then does dictionary lookups only.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
import psycopg2.extensions

from replication.connection import with_defaults
from replication.values import (
    CONVERTERS,
    FIRST_USER_OID,
    TEXT_CONVERTERS,
    Converter,
    array_converter,
)

__all__ = ["Catalog", "QualifiedName"]

log = logging.getLogger(__name__)

QualifiedName = tuple[str, str]
"""``(schema, relation name)``, exactly as the catalog (and wal2json) spells them."""

_TYPE = "SELECT typtype, typbasetype, typelem, typcategory FROM pg_type WHERE oid = %s"

# The relation itself first, then its parents up to the partitioned root (no rows for a table
# that is neither a partition nor partitioned, or that does not exist any more).
_ANCESTORS = """
SELECT n.nspname, c.relname
FROM pg_partition_ancestors((
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = %s
)) WITH ORDINALITY AS a(relid, depth)
JOIN pg_class c ON c.oid = a.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY a.depth
"""

_PARTITIONED = """
SELECT n.nspname, c.relname
FROM unnest(%s::text[], %s::text[]) AS t(nspname, relname)
JOIN pg_namespace n ON n.nspname = t.nspname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.relname
WHERE c.relkind = 'p'
"""


class Catalog:
    """Type and partition lookups on a lazily opened autocommit connection.

    Type converters are cached here (OIDs are never reused for another type while it exists);
    relation answers are not, because a partition can be attached or detached: the caller
    decides how long to keep them. Raises ``psycopg2.Error`` when the server cannot answer (the
    connection is then closed, and the next call opens a new one).
    """

    def __init__(self, dsn: str):
        self._dsn = with_defaults(dsn, connect_timeout="5", fallback_application_name="catalog")
        self._conn: psycopg2.extensions.connection | None = None
        self._converters: dict[int, Converter | None] = {}

    def converter(self, typeoid: int) -> Converter | None:
        """Converter of a wal2json value of this type; None keeps the value as wal2json sent it.

        Domains convert as their base type, arrays by their element type, other user types
        (enums, ranges, composites, extension types such as ``citext``) stay text.
        """
        if typeoid < FIRST_USER_OID:
            return CONVERTERS.get(typeoid)
        return self._text_converter(typeoid)

    def _text_converter(self, typeoid: int) -> Converter | None:
        """Converter of this type's *text* output (how wal2json writes every user type)."""
        if typeoid < FIRST_USER_OID:
            return TEXT_CONVERTERS.get(typeoid)
        if typeoid in self._converters:
            return self._converters[typeoid]
        row = self._one(_TYPE, (typeoid,))
        converter: Converter | None = None
        if row is not None:
            kind, base, element, category = row
            if kind == "d":
                converter = self._text_converter(int(base))
            elif category == "A" and element:
                converter = array_converter(self._text_converter(int(element)))
        self._converters[typeoid] = converter
        return converter

    def ancestors(self, schema: str, name: str) -> list[QualifiedName]:
        """The relation and its partition parents up to the root, leaf first.

        ``[]`` for a table that is not part of a partition tree, or no longer exists.
        """
        return [(str(s), str(n)) for s, n in self._all(_ANCESTORS, (schema, name))]

    def partitioned(self, tables: list[QualifiedName]) -> set[QualifiedName]:
        """Those of ``tables`` that are partitioned tables (``PARTITION BY``)."""
        if not tables:
            return set()
        schemas, names = [s for s, _ in tables], [n for _, n in tables]
        return {(str(s), str(n)) for s, n in self._all(_PARTITIONED, (schemas, names))}

    def close(self) -> None:
        """Close the connection (the next lookup opens a new one)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._all(query, params)
        return rows[0] if rows else None

    def _all(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            if self._conn is None:
                self._conn = psycopg2.connect(self._dsn)
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        except psycopg2.Error:
            self.close()
            raise

"""Rows whose DELETE does not carry their key: identity values → pk, kept for hot members.

Under ``REPLICA IDENTITY USING INDEX`` on a unique column other than the key (or a primary key
in the database that is not the model's), an UPDATE's ``old`` and a DELETE carry only the index's
columns. The router routes by the model's pk, so for the rows it must route (members of hot
anchors) this index remembers which identity values belong to which pk: from the rows' own
INSERTs and UPDATEs, and with one query per loaded batch. Rows whose identity is not known (a
worker restored from the cache) are re-read when a DELETE cannot be resolved, which drops the
ones that are gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

from rxcdc.conf import rx_settings
from rxcdc.layers import Layer
from rxcdc.serialize import Row

__all__ = ["IdentityIndex"]

Loader = Callable[[Layer, Iterable[Any]], dict[Any, Row]]
Members = Callable[[], dict[tuple[str, Any], Any]]  # HotState.rows: (table, pk) → members


class IdentityIndex:
    """``(table, identity values) → pk`` for member rows of tables configured with ``track``."""

    def __init__(self, members: Members) -> None:
        self._members = members
        self.columns: dict[str, tuple[str, ...]] = {}  # db_table → identity columns
        self._pk_columns: dict[str, str] = {}
        self._pk: dict[tuple[str, tuple[Any, ...]], Any] = {}
        self._ident: dict[tuple[str, Any], tuple[Any, ...]] = {}
        self._unknown: dict[str, set[Any]] = defaultdict(set)  # members not in _pk yet

    def track(self, table: str, columns: tuple[str, ...], pk_column: str) -> None:
        """Resolve DELETEs of ``table`` that carry only ``columns``."""
        self.columns[table] = columns
        self._pk_columns[table] = pk_column

    def pk(self, table: str, old: dict[str, Any]) -> tuple[bool, Any]:
        """``(True, pk)`` of the member row with these identity values; ``(False, None)``."""
        key = (table, tuple(old.get(c) for c in self.columns[table]))
        if key in self._pk:
            return True, self._pk[key]
        return False, None

    def note(self, table: str, new: dict[str, Any]) -> None:
        """A row's new values (INSERT/UPDATE): remember its identity if it is a member."""
        pk = new.get(self._pk_columns[table])
        columns = self.columns[table]
        if (table, pk) in self._members() and all(c in new for c in columns):
            self._put(table, pk, tuple(new[c] for c in columns))

    def unknown(self, table: str) -> list[Any]:
        """Members of ``table`` whose identity is unknown (handed out once: re-read them)."""
        members = self._members()
        pks = [pk for pk in self._unknown.pop(table, ()) if (table, pk) in members]
        return pks

    def restored(self) -> None:
        """The members were rebuilt without reading the database: their identities are unknown."""
        self._pk.clear()
        self._ident.clear()
        self._unknown.clear()
        for table, pk in self._members():
            if table in self.columns:
                self._unknown[table].add(pk)

    def loading(self, load: Loader) -> Loader:
        """``load``, plus one query per batch of a tracked table for the rows' identities."""

        def loader(layer: Layer, pks: Iterable[Any]) -> dict[Any, Row]:
            rows = load(layer, pks)
            if rows and layer.table in self.columns:
                self._fill(layer.table, list(rows))
            return rows

        return loader

    def _fill(self, table: str, pks: list[Any]) -> None:
        connection = connections[rx_settings.DATABASE]
        quote = connection.ops.quote_name
        columns = self.columns[table]
        pk_column = self._pk_columns[table]
        select = ", ".join(quote(c) for c in (pk_column, *columns))
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT {select} FROM {quote(table)} WHERE {quote(pk_column)} = ANY(%s)", [pks]
            )
            found = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
        unknown = self._unknown[table]
        for pk in pks:
            if pk in found:
                self._put(table, pk, found[pk])
                unknown.discard(pk)
            else:  # deleted between the two queries: its DELETE finds it among the unknown
                unknown.add(pk)
        if len(self._ident) > 2 * len(self._members()) + 1024:
            self._prune()

    def _put(self, table: str, pk: Any, ident: tuple[Any, ...]) -> None:
        before = self._ident.get((table, pk))
        if before is not None and self._pk.get((table, before)) == pk:
            del self._pk[(table, before)]
        self._ident[(table, pk)] = ident
        self._pk[(table, ident)] = pk

    def _prune(self) -> None:
        """Forget rows that are no longer members."""
        members = self._members()
        for key in [k for k in self._ident if k not in members]:
            ident = self._ident.pop(key)
            if self._pk.get((key[0], ident)) == key[1]:
                del self._pk[(key[0], ident)]

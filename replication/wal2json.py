"""wal2json format-version 2: the options we start it with, and its messages → typed changes.

Facts this module relies on (checked against wal2json 2.5 on Postgres 15, see the tests):

- ``B`` carries ``nextlsn``, the end of the commit record: the position to acknowledge.
- ``U`` and ``D`` carry ``identity``: under REPLICA IDENTITY DEFAULT the primary key (its old value
  when the key changed, otherwise the unchanged key taken from the new row), under FULL every old
  column (TOASTed values included), under USING INDEX the index's columns only.
- An unchanged TOASTed column is absent from ``U.columns``; it is never sent as null.
- ``T`` is emitted once per truncated table (for a partitioned table: the root, every
  intermediate partitioned table and every leaf).
- Row changes of a partitioned table are named after the leaf partition that holds the row,
  and ``add-tables`` matches that leaf name: a filter naming the parent lets only its TRUNCATE
  through. Moving a row to another partition (updating its partition key) is a DELETE from the
  old leaf followed by an INSERT into the new one.
- A value of a user-defined type (a domain, enum, array of domains) is a JSON string of its text
  output, with the type's own OID: a domain over ``integer`` sends ``"42"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from replication.catalog import Catalog, QualifiedName
from replication.changes import (
    Change,
    Delete,
    Insert,
    Message,
    Row,
    Transaction,
    Truncate,
    Update,
    parse_lsn,
)
from replication.errors import ConfigurationError
from replication.values import CONVERTERS, FIRST_USER_OID, Converter

__all__ = [
    "CHANGES",
    "Decoder",
    "TableName",
    "TypeConverters",
    "add_tables",
    "begin",
    "parse",
    "qualified",
    "row",
    "stream_options",
]

TableName = str | tuple[str, str]
"""``"schema.table"``, ``"table"`` (schema ``public``) or ``(schema, table)`` for odd names."""

# Decimal keeps numerics exact. Calling the decoder's C scanner directly skips what json.loads
# adds per call (building a decoder, a whitespace regex); typeshed does not declare it.
_decoder = json.JSONDecoder(parse_float=Decimal)
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def parse(payload: str) -> dict[str, Any]:
    """One wal2json v2 message → its JSON object, non-integer numbers as ``Decimal``."""
    obj: dict[str, Any] = _scan(payload, 0)[0]
    return obj


class TypeConverters(dict[int, Converter | None]):
    """Type OID → converter (None: no conversion), filled on first sight of each OID.

    A user-defined type (a domain, an array of domains, an enum) is asked of ``catalog`` once;
    without a catalog it stays the text wal2json wrote.
    """

    def __init__(self, catalog: Catalog | None = None):
        super().__init__(CONVERTERS)
        self._catalog = catalog

    def __missing__(self, typeoid: int) -> Converter | None:
        converter = None
        if self._catalog is not None and typeoid >= FIRST_USER_OID:
            converter = self._catalog.converter(typeoid)
        self[typeoid] = converter
        return converter


_BUILTIN = TypeConverters()


def row(columns: Iterable[dict[str, Any]], converters: TypeConverters = _BUILTIN) -> Row:
    """wal2json ``columns``/``identity`` list → ``{name: Python value}``."""
    out: Row = {}
    for column in columns:
        value = column["value"]
        if value is not None:
            convert = converters[column["typeoid"]]
            if convert is not None:
                value = convert(value)
        out[column["name"]] = value
    return out


def begin(obj: dict[str, Any]) -> Transaction:
    """A ``B`` message → the Transaction its changes belong to."""
    return Transaction(
        xid=obj["xid"],
        commit_lsn=parse_lsn(obj["nextlsn"]),
        commit_time=datetime.fromisoformat(obj["timestamp"]),
    )


class Decoder:
    """wal2json messages inside a transaction → typed changes, for one stream.

    Types are converted through ``TypeConverters`` (user-defined ones resolved by ``catalog``).
    With ``tracked`` tables, every row change is reported under the tracked table it belongs to:
    a partition's rows under its nearest tracked ancestor (partitions attached or created later
    included, resolved on first sight); changes of other tables decode to None.
    """

    def __init__(
        self, catalog: Catalog | None = None, tracked: Iterable[QualifiedName] | None = None
    ):
        self.converters = TypeConverters(catalog)
        self._catalog = catalog
        self._tracked = None if tracked is None else frozenset(tracked)
        self._names: dict[QualifiedName, QualifiedName | None] = {}
        self.forget_tables()

    def forget_tables(self) -> None:
        """Resolve every table name again on its next change (after ATTACH/DETACH PARTITION)."""
        self._names = {t: t for t in self._tracked or ()}

    def change(self, obj: dict[str, Any], lsn: int) -> Change | None:
        """A message with action I, U, D, T or M at WAL position ``lsn``; None: not tracked."""
        action = obj["action"]
        if action == "M":
            return Message(obj["prefix"], obj["content"], lsn)
        schema, table = obj["schema"], obj["table"]
        if self._tracked is not None:
            name = (schema, table)
            target = self._names[name] if name in self._names else self._resolve(name)
            if target is None:
                return None
            schema, table = target
        if action == "I":
            return Insert(schema, table, row(obj["columns"], self.converters), lsn)
        if action == "U":
            new, old = row(obj["columns"], self.converters), row(obj["identity"], self.converters)
            return Update(schema, table, new, old, lsn)
        if action == "D":
            return Delete(schema, table, row(obj["identity"], self.converters), lsn)
        return Truncate(schema, table, lsn)

    def _resolve(self, name: QualifiedName) -> QualifiedName | None:
        """The tracked table a relation's changes belong to: itself or a partition ancestor."""
        assert self._catalog is not None
        assert self._tracked is not None
        target = next((a for a in self._catalog.ancestors(*name) if a in self._tracked), None)
        self._names[name] = target
        return target


def _insert(obj: dict[str, Any], lsn: int) -> Insert:
    return Insert(obj["schema"], obj["table"], row(obj["columns"]), lsn)


def _update(obj: dict[str, Any], lsn: int) -> Update:
    return Update(obj["schema"], obj["table"], row(obj["columns"]), row(obj["identity"]), lsn)


def _delete(obj: dict[str, Any], lsn: int) -> Delete:
    return Delete(obj["schema"], obj["table"], row(obj["identity"]), lsn)


def _truncate(obj: dict[str, Any], lsn: int) -> Truncate:
    return Truncate(obj["schema"], obj["table"], lsn)


def _message(obj: dict[str, Any], lsn: int) -> Message:
    return Message(obj["prefix"], obj["content"], lsn)


CHANGES: dict[str, Callable[[dict[str, Any], int], Change]] = {
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "M": _message,
}
"""Action → decoder of a message inside a transaction (``M`` only when transactional).

A decoder takes the parsed message and its WAL position (the replication message's
``data_start``, equal to wal2json's ``lsn``: taking it from the protocol saves parsing it).
Built-in types only; a stream decodes with its ``Decoder``.
"""


# wal2json splits add-tables on commas and whitespace and schema from table on the first dot;
# a backslash escapes the next character (and a leading * is a wildcard unless escaped).
_TABLE_SPECIAL = re.compile(r"([,.*'\\\s])")


def _escape(name: str) -> str:
    return _TABLE_SPECIAL.sub(r"\\\1", name)


def qualified(table: TableName) -> QualifiedName:
    """``(schema, table)`` of a table name (``"table"`` is in schema ``public``)."""
    if isinstance(table, tuple):
        return table
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else ("public", table)


def add_tables(tables: Iterable[TableName]) -> str:
    """The ``add-tables`` option for these tables; names are literal (no wildcards)."""
    specs = []
    for table in tables:
        schema, name = qualified(table)
        specs.append(f"{_escape(schema)}.{_escape(name)}")
    if not specs:
        raise ConfigurationError("no tables to stream: pass at least one table name")
    return ",".join(specs)


_BAD_PREFIX = re.compile(r"[,\\\s]")


def stream_options(
    tables: Iterable[TableName] | None, message_prefixes: Sequence[str]
) -> dict[str, str]:
    """wal2json options for our stream: v2 with xids, LSNs, timestamps, B/C and type OIDs.

    ``tables=None`` streams every table. Only logical messages whose prefix is listed arrive
    (wal2json reads an empty list as "all prefixes").
    """
    for prefix in message_prefixes:
        # wal2json's prefix list has no escaping (the backslash would stay in the prefix).
        if not prefix or _BAD_PREFIX.search(prefix):
            raise ConfigurationError(
                f"message prefix {prefix!r} cannot be filtered by wal2json: use a non-empty "
                "prefix without commas, whitespace or backslashes"
            )
    options = {
        "format-version": "2",
        "include-transaction": "1",
        "include-xids": "1",
        "include-lsn": "1",
        "include-timestamp": "1",
        "include-type-oids": "1",
        # We convert by OID; type names cost the server a catalog lookup per column.
        "include-types": "0",
        "add-msg-prefixes": ",".join(message_prefixes),
    }
    if tables is not None:
        options["add-tables"] = add_tables(tables)
    return options

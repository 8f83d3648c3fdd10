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

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, final

import msgspec

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
from replication.errors import ConfigurationError, ProtocolError
from replication.values import CONVERTERS, FIRST_USER_OID, Converter

__all__ = [
    "AnyMessage",
    "BeginMessage",
    "ChangeMessage",
    "Column",
    "CommitMessage",
    "Decoder",
    "DeleteMessage",
    "InsertMessage",
    "LogicalMessage",
    "RowMessage",
    "TableName",
    "TruncateMessage",
    "TypeConverters",
    "UpdateMessage",
    "Wal2jsonMessage",
    "add_tables",
    "begin",
    "decode",
    "parse",
    "qualified",
    "row",
    "stream_options",
]

TableName = str | tuple[str, str]
"""``"schema.table"``, ``"table"`` (schema ``public``) or ``(schema, table)`` for odd names."""


# -- the messages -------------------------------------------------------------------------------
# msgspec decodes a message straight into these structs: about four times faster than the json
# module building dictionaries, most of the stream's time per change before (docs/benchmarks.md).
# Keys we do not declare (each change's xid, timestamp and lsn) are skipped without being built.
# ``float_hook=Decimal`` hands every non-integer number's text to Decimal, so numerics stay
# exact; integers of any size become ints, as with the json module. gc=False: no struct here
# is ever part of a reference cycle, so the cyclic collector need not track them.


class Column(msgspec.Struct, gc=False):
    """One column of a row change: its name, type OID and value as wal2json wrote it."""

    name: str
    typeoid: int
    value: Any


class Wal2jsonMessage(msgspec.Struct, tag_field="action", gc=False):
    """One wal2json v2 message; its class is its ``action``."""


@final
class BeginMessage(Wal2jsonMessage, tag="B", gc=False):
    """``B``: a transaction begins. ``nextlsn`` is the end of its commit record."""

    xid: int
    timestamp: str
    nextlsn: str


@final
class CommitMessage(Wal2jsonMessage, tag="C", gc=False):
    """``C``: the transaction begun last is complete."""


class RowMessage(Wal2jsonMessage, gc=False):
    """A change of one table: ``I``, ``U``, ``D`` or ``T``."""

    schema: str
    table: str


@final
class InsertMessage(RowMessage, tag="I", gc=False):
    """``I``: a new row."""

    columns: list[Column]


@final
class UpdateMessage(RowMessage, tag="U", gc=False):
    """``U``: a changed row, with its replica identity."""

    columns: list[Column]
    identity: list[Column]


@final
class DeleteMessage(RowMessage, tag="D", gc=False):
    """``D``: a removed row's replica identity."""

    identity: list[Column]


@final
class TruncateMessage(RowMessage, tag="T", gc=False):
    """``T``: one truncated table."""


@final
class LogicalMessage(Wal2jsonMessage, tag="M", gc=False):
    """``M``: a ``pg_logical_emit_message``, inside a transaction or not."""

    transactional: bool
    prefix: str
    content: str


AnyMessage = (
    BeginMessage
    | CommitMessage
    | InsertMessage
    | UpdateMessage
    | DeleteMessage
    | TruncateMessage
    | LogicalMessage
)
"""Every wal2json v2 message ``decode`` returns (``type(m) is`` tests narrow it: all final)."""

ChangeMessage = InsertMessage | UpdateMessage | DeleteMessage | TruncateMessage | LogicalMessage
"""A message that is a change inside a transaction (``M`` only when transactional)."""

_messages = msgspec.json.Decoder(AnyMessage, float_hook=Decimal)
_values = msgspec.json.Decoder(float_hook=Decimal)


def decode(payload: str | bytes) -> AnyMessage:
    """One wal2json v2 message → its typed struct; raises ProtocolError if it is not one."""
    try:
        message: AnyMessage = _messages.decode(payload)
    except msgspec.DecodeError as exc:
        text = payload if isinstance(payload, str) else payload.decode(errors="replace")
        raise ProtocolError(f"unexpected wal2json message: {text} ({exc})") from exc
    return message


def parse(payload: str | bytes) -> Any:
    """Any JSON text → Python objects as ``decode`` reads values: non-integers as ``Decimal``."""
    return _values.decode(payload)


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


def row(columns: Iterable[Column], converters: TypeConverters = _BUILTIN) -> Row:
    """wal2json ``columns``/``identity`` → ``{name: Python value}``."""
    out: Row = {}
    for column in columns:
        value = column.value
        if value is not None:
            convert = converters[column.typeoid]
            if convert is not None:
                value = convert(value)
        out[column.name] = value
    return out


def begin(message: BeginMessage) -> Transaction:
    """A ``B`` message → the Transaction its changes belong to."""
    return Transaction(
        xid=message.xid,
        commit_lsn=parse_lsn(message.nextlsn),
        commit_time=datetime.fromisoformat(message.timestamp),
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

    def change(self, message: ChangeMessage, lsn: int) -> Change | None:
        """A change message at WAL position ``lsn`` → its change; None: a table not tracked.

        ``lsn`` is the replication message's ``data_start``, equal to wal2json's ``lsn``.
        """
        # This runs once per change: exact type tests (``type(m) is``; an isinstance test
        # against a base class costs a metaclass lookup), updates first among row changes.
        if type(message) is LogicalMessage:
            return Message(message.prefix, message.content, lsn)
        schema, table = message.schema, message.table
        if self._tracked is not None:
            try:
                target = self._names[schema, table]
            except KeyError:
                target = self._resolve((schema, table))
            if target is None:
                return None
            schema, table = target
        converters = self.converters
        if type(message) is UpdateMessage:
            new, old = row(message.columns, converters), row(message.identity, converters)
            return Update(schema, table, new, old, lsn)
        if type(message) is InsertMessage:
            return Insert(schema, table, row(message.columns, converters), lsn)
        if type(message) is DeleteMessage:
            return Delete(schema, table, row(message.identity, converters), lsn)
        return Truncate(schema, table, lsn)

    def _resolve(self, name: QualifiedName) -> QualifiedName | None:
        """The tracked table a relation's changes belong to: itself or a partition ancestor."""
        assert self._catalog is not None
        assert self._tracked is not None
        target = next((a for a in self._catalog.ancestors(*name) if a in self._tracked), None)
        self._names[name] = target
        return target


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

"""The worker side of observers: one ``rxcdc.sinks`` sink turning chunks into group messages.

Per chunk, the rows of each observed table are re-read with one query per model and each
observer serializes a changed row once (per action), whatever the number of subscribers.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pymongo
import pymongo.errors
from django.db import InterfaceError, OperationalError

from replication.changes import Chunk, Delete, Insert, Truncate, Update
from rxcdc import conf
from rxcdc.api.observer import registry
from rxcdc.api.observer.registry import Action, Observed
from rxcdc.api.observer.state import COLLECTION, GroupState
from rxcdc.serialize import jsonable
from rxcdc.visibility import wait_until_visible

__all__ = ["SINK", "ObserverSink"]

log = logging.getLogger("rxcdc.api")
Message = tuple[str, dict[str, Any]]
# Retried by the worker (services down); any other error in user code skips one row, logged.
TRANSIENT = (OperationalError, InterfaceError, pymongo.errors.ConnectionFailure)
PURGE_INTERVAL = 60.0


@dataclass(slots=True)
class RowChange:
    """What one chunk did to one row: its first and last change, the last one's position."""

    first: str
    last: str
    lsn: int
    old: dict[str, Any] | None = None  # the old row under REPLICA IDENTITY FULL


@dataclass(slots=True)
class Table:
    """An observed table: its primary key and the observers of each model stored in it."""

    pk: Any  # the primary key field
    models: dict[Any, list[Observed]]


class ObserverSink:
    """Sends each observed change to the groups its row left, stayed in and entered."""

    def __init__(self) -> None:
        self._clients: dict[str, pymongo.MongoClient[dict[str, Any]]] = {}
        self._state: GroupState | None = None
        self._seeded: set[tuple[str, str]] = set()
        self._tables: dict[str, Table] = {}
        self._built = -1
        self._ready = -1  # the registry version whose stateful observers are seeded
        self._next_purge = 0.0

    # -- the Sink protocol ---------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Observed tables; a starting worker calls this first (opens and seeds the group state)."""
        self._state = None
        self._prepare()
        return sorted(self._by_table())

    def messages(self, chunk: Chunk) -> list[Message]:
        """Group messages for the observed rows this chunk changed."""
        tables = self._prepare()
        if not tables:
            return []
        rows = self._collect(chunk, tables)
        if not rows:
            return []
        wait_until_visible(chunk.transaction.xid)
        out: list[Message] = []
        tx = chunk.transaction.commit_lsn
        for name, changed in rows.items():
            table = tables[name]
            live = [pk for pk, rc in changed.items() if rc.last != "delete"]
            for model, observers in table.models.items():
                found = {o.pk: o for o in model._base_manager.filter(pk__in=live)} if live else {}
                for observer in observers:
                    out += self._observe(observer, model, changed, found, tx)
        self._purge(tx)
        return out

    # -- setup ---------------------------------------------------------------------------------

    def _prepare(self) -> dict[str, Table]:
        tables = self._by_table()
        if self._state is None:
            url = conf.mongo_url()
            if url not in self._clients:
                self._clients[url] = pymongo.MongoClient(url)
            self._db = str(conf.get("RX_MONGO_DB"))
            self._state = GroupState(self._clients[url][self._db][COLLECTION])
            self._ready = -1
            if any(o.stateful for o in registry.observers()):
                self._state.ensure_indexes()
        if self._ready != self._built:  # new observers (or a new database): seed them first
            for observer in registry.observers():
                if observer.stateful:
                    self._seed(observer)
            self._ready = self._built
        return tables

    def _by_table(self) -> dict[str, Table]:
        if self._built != registry.version():
            tables: dict[str, Table] = {}
            for observer in registry.observers():
                model = observer.model_cls
                name = model._meta.db_table
                table = tables.setdefault(name, Table(model._meta.pk, defaultdict(list)))
                table.models[model].append(observer)
            self._tables, self._built = tables, registry.version()
        return self._tables

    def _seed(self, observer: Observed) -> None:
        """Record every row's groups once per observer version (rows changed later are kept)."""
        assert self._state is not None
        sid = _sid(observer)
        if (self._db, sid) in self._seeded:
            return
        if not self._state.seeded(sid):
            started = time.monotonic()
            rows = (
                (jsonable(obj.pk), sorted(groups))
                for obj in observer.model_cls._base_manager.all().iterator(chunk_size=2000)
                if (groups := _groups(observer, obj)) is not None
            )
            count = self._state.seed(observer.observer_id, sid, rows)
            log.info(
                "observer %s: recorded the groups of %d rows in %.1fs",
                observer.observer_id,
                count,
                time.monotonic() - started,
            )
        self._seeded.add((self._db, sid))

    # -- per chunk -----------------------------------------------------------------------------

    def _collect(self, chunk: Chunk, tables: dict[str, Table]) -> dict[str, dict[Any, RowChange]]:
        rows: dict[str, dict[Any, RowChange]] = {}
        for change in chunk.changes:
            table = tables.get(getattr(change, "table", ""))
            if table is None:
                continue
            changed = rows.setdefault(change.table, {})  # type: ignore[union-attr]
            column, to_python = table.pk.column, table.pk.to_python
            if isinstance(change, Insert):
                _note(changed, to_python(change.new[column]), "insert", change.lsn)
            elif isinstance(change, Update):
                old_pk = to_python(change.old.get(column, change.new.get(column)))
                new_pk = to_python(change.new.get(column, old_pk))
                if old_pk != new_pk:
                    _note(changed, old_pk, "delete", change.lsn, _full(change.old))
                    _note(changed, new_pk, "insert", change.lsn)
                else:
                    _note(changed, new_pk, "update", change.lsn)
            elif isinstance(change, Delete):
                old = change.old
                _note(changed, to_python(old[column]), "delete", change.lsn, _full(old))
            elif isinstance(change, Truncate):
                for pk in self._truncated(table, change.lsn):
                    _note(changed, to_python(pk), "delete", change.lsn)
        return rows

    def _truncated(self, table: Table, lsn: int) -> set[Any]:
        assert self._state is not None
        pks: set[Any] = set()
        for observers in table.models.values():
            for observer in observers:
                if observer.stateful:
                    pks.update(d["pk"] for d in self._state.truncated(_sid(observer), lsn))
        return pks

    def _observe(
        self,
        observer: Observed,
        model: Any,
        changed: dict[Any, RowChange],
        found: dict[Any, Any],
        tx: int,
    ) -> list[Message]:
        assert self._state is not None
        sid = _sid(observer)
        docs = self._state.load(sid, (jsonable(pk) for pk in changed)) if observer.stateful else {}
        out: list[Message] = []
        writes: list[tuple[Any, list[str], list[str], int, int]] = []
        for pk, rc in changed.items():
            instance = found.get(pk)
            if (rc.first == "insert" and rc.last == "delete") or (
                rc.last != "delete" and instance is None  # deleted later: that change reports it
            ):
                continue
            try:
                new = observer.group_names_for_signal(instance) if instance is not None else set()
                if observer.stateful:
                    doc = docs.get(jsonable(pk))
                    old = set() if doc is None else set(doc["p" if doc["at"] == rc.lsn else "g"])
                    if (doc is None or doc["at"] <= rc.lsn) and (old or new or doc is not None):
                        writes.append((jsonable(pk), sorted(new), sorted(old), rc.lsn, tx))
                elif rc.last == "delete":
                    old = observer.group_names_for_signal(model(pk=pk))
                else:
                    old = set() if rc.first == "insert" else new
                out += _row_messages(observer, model, pk, rc, instance, old, new)
            except TRANSIENT:
                raise
            except Exception:
                log.exception("observer %s: skipped row %r", observer.observer_id, pk)
        if writes:
            self._state.save(observer.observer_id, sid, writes)
        return out

    def _purge(self, tx: int) -> None:
        now = time.monotonic()
        if now >= self._next_purge and self._state is not None:
            self._next_purge = now + PURGE_INTERVAL
            self._state.purge(tx)


def _row_messages(
    observer: Observed,
    model: Any,
    pk: Any,
    rc: RowChange,
    instance: Any,
    old: set[str],
    new: set[str],
) -> list[Message]:
    """Delete where the row left, update (create if new) where it stayed, create where it came."""
    bodies: dict[Action, Any] = {}

    def body(action: Action) -> Any:
        if action not in bodies:
            if instance is not None:
                bodies[action] = observer.serialize(instance, action)
            else:
                bodies[action] = observer.deleted_body(pk, _old_instance(model, rc.old))
        return bodies[action]

    stay = Action.CREATE if rc.first == "insert" else Action.UPDATE
    out: list[Message] = []
    for groups, action in (
        (old - new, Action.DELETE),
        (old & new, stay),
        (new - old, Action.CREATE),
    ):
        for group in sorted(groups):
            message = {
                "type": observer.message_type,
                "body": body(action),
                "action": action.value,
                "group": group,
            }
            if message["body"] is None:
                message["pk"] = jsonable(pk)
            out.append((group, message))
    return out


def _note(rows: dict[Any, RowChange], pk: Any, kind: str, lsn: int, old: Any = None) -> None:
    rc = rows.get(pk)
    if rc is None:
        rows[pk] = RowChange(kind, kind, lsn, old)
    else:
        rc.last, rc.lsn = kind, lsn
        if old is not None:
            rc.old = old


def _full(old: dict[str, Any]) -> dict[str, Any] | None:
    """The old row when the WAL carries more than its key (REPLICA IDENTITY FULL)."""
    return old if len(old) > 1 else None


def _old_instance(model: Any, old: dict[str, Any] | None) -> Any:
    if old is None:
        return None
    try:
        return model(
            **{f.attname: old[f.column] for f in model._meta.concrete_fields if f.column in old}
        )
    except Exception:  # an unexpected value: fall back to the key-only body
        return None


def _groups(observer: Observed, instance: Any) -> set[str] | None:
    try:
        return observer.group_names_for_signal(instance)
    except TRANSIENT:
        raise
    except Exception:
        log.exception("observer %s: no groups for row %r", observer.observer_id, instance.pk)
        return None


def _sid(observer: Observed) -> str:
    return f"{observer.observer_id}#{observer.state_version}"


SINK = ObserverSink()

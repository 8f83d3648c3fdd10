"""The worker side of observers: one ``rxcdc.sinks`` sink turning chunks into group messages.

Per chunk, the rows of each observed table are re-read with one query per model and each
observer serializes a changed row once (per action), whatever the number of subscribers, and
only for groups that have subscribers (``interest``). A change to a through table of an
observed M2M field is an update of the row it links.
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
from rxcdc.api.observer.interest import subscribed
from rxcdc.api.observer.registry import Action, Observed
from rxcdc.api.observer.state import COLLECTION, GroupState
from rxcdc.conf import rx_settings
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


@dataclass(frozen=True, slots=True)
class Link:
    """A through table of an observed M2M field: its column naming the observed row."""

    table: str  # the observed row's table
    column: str
    pk: Any  # the observed model's primary key field


class ObserverSink:
    """Sends each observed change to the groups its row left, stayed in and entered."""

    def __init__(self) -> None:
        self._clients: dict[str, pymongo.MongoClient[dict[str, Any]]] = {}
        self._state: GroupState | None = None
        self._seeded: set[tuple[str, str]] = set()
        self._tables: dict[str, Table] = {}
        self._links: dict[str, list[Link]] = {}  # through table → the rows its changes touch
        self._stateful = False
        self._blind: set[str] = set()  # through tables already reported as lacking old rows
        self._built = -1
        self._ready = -1  # the registry version whose stateful observers are seeded
        self._next_purge = 0.0

    # -- the Sink protocol ---------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Observed tables; a starting worker calls this first (opens and seeds the group state)."""
        self._state = None
        self._prepare()
        return sorted(set(self._by_table()) | set(self._links))

    def messages(self, chunk: Chunk) -> list[Message]:
        """Group messages for the observed rows this chunk changed."""
        tables = self._prepare()
        if not tables:
            return []
        direct, linked = self._collect(chunk, tables)
        if not direct and not linked:
            return []
        wait_until_visible(chunk.transaction.xid)
        out: list[Message] = []
        tx = chunk.transaction.commit_lsn
        for name in sorted(direct.keys() | linked.keys()):
            for model, observers in tables[name].models.items():
                plans: list[tuple[Observed, dict[Any, RowChange]]] = []
                live: set[Any] = set()
                for observer in observers:
                    changed = _changes(observer, direct.get(name, {}), linked.get(name, {}))
                    if not observer.stateful:
                        # Groups known from the pk: rows nobody listens to are not even read.
                        changed = _reaching(observer, changed)
                    if changed:
                        plans.append((observer, changed))
                        live.update(pk for pk, rc in changed.items() if rc.last != "delete")
                found = {o.pk: o for o in model._base_manager.filter(pk__in=live)} if live else {}
                for observer, changed in plans:
                    out += self._observe(observer, model, changed, found, tx)
        self._purge(tx)
        return out

    @property
    def uses_state(self) -> bool:
        """Whether group state was kept in MongoDB (observers with custom groups)."""
        return bool(self._seeded)

    # -- setup ---------------------------------------------------------------------------------

    def _prepare(self) -> dict[str, Table]:
        tables = self._by_table()
        if self._state is None:
            url = conf.mongo_url()
            if url not in self._clients:
                self._clients[url] = pymongo.MongoClient(url)
            self._db = rx_settings.MONGO_DB
            self._state = GroupState(self._clients[url][self._db][COLLECTION])
            self._ready = -1
            if self._stateful:
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
            links: dict[str, set[Link]] = defaultdict(set)
            for observer in registry.observers():
                model = observer.model_cls
                name = model._meta.db_table
                table = tables.setdefault(name, Table(model._meta.pk, defaultdict(list)))
                table.models[model].append(observer)
                if observer.many_to_many:
                    for field in model._meta.many_to_many:
                        through = field.remote_field.through._meta.db_table
                        links[through].add(Link(name, field.m2m_column_name(), model._meta.pk))
            self._tables, self._built = tables, registry.version()
            self._links = {t: sorted(ls, key=repr) for t, ls in links.items()}
            self._stateful = any(o.stateful for o in registry.observers())
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

    def _collect(
        self, chunk: Chunk, tables: dict[str, Table]
    ) -> tuple[dict[str, dict[Any, RowChange]], dict[str, dict[Any, RowChange]]]:
        """Changed rows by table: changed themselves, and changed through their M2M links."""
        rows: dict[str, dict[Any, RowChange]] = {}
        linked: dict[str, dict[Any, RowChange]] = {}
        for change in chunk.changes:
            name = getattr(change, "table", "")
            for link in self._links.get(name, ()):
                for pk in self._linked(link, name, change):
                    _note(linked.setdefault(link.table, {}), pk, "update", change.lsn)
            table = tables.get(name)
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
        return rows, linked

    def _linked(self, link: Link, through: str, change: Any) -> list[Any]:
        """The observed rows a through-table change links or unlinks."""
        values = []
        if isinstance(change, Insert | Update):
            values.append(change.new.get(link.column))
        if isinstance(change, Update | Delete):
            if link.column in change.old:
                values.append(change.old[link.column])
            elif isinstance(change, Delete) and through not in self._blind:
                # The WAL has the through row's key only: whose link went is unknown.
                self._blind.add(through)
                log.warning(
                    "M2M links removed from %s cannot be observed: run "
                    "`manage.py rx_api_replica_identity` (REPLICA IDENTITY FULL on it)",
                    through,
                )
        return [link.pk.to_python(v) for v in values if v is not None]

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
        moves: list[tuple[Any, RowChange, Any, set[str], set[str]]] = []
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
                moves.append((pk, rc, instance, old, new))
            except TRANSIENT:
                raise
            except Exception:
                log.exception("observer %s: skipped row %r", observer.observer_id, pk)
        if writes:
            self._state.save(observer.observer_id, sid, writes)
        # Serialize for the groups that have subscribers only (kept groups cover them all).
        heard = subscribed(set().union(*(old | new for _, _, _, old, new in moves)))
        out: list[Message] = []
        for pk, rc, instance, old, new in moves:
            try:
                out += _row_messages(observer, model, pk, rc, instance, old & heard, new & heard)
            except TRANSIENT:
                raise
            except Exception:
                log.exception("observer %s: skipped row %r", observer.observer_id, pk)
        return out

    def _purge(self, tx: int) -> None:
        now = time.monotonic()
        if now >= self._next_purge and self._state is not None and self._stateful:
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


def _changes(
    observer: Observed, direct: dict[Any, RowChange], linked: dict[Any, RowChange]
) -> dict[Any, RowChange]:
    """The rows an observer hears of: changed ones, and with M2M tracking relinked ones."""
    if not observer.many_to_many or not linked:
        return direct
    # A row changed itself reports its links too (an insert stays a create).
    return {**linked, **direct}


def _reaching(observer: Observed, changed: dict[Any, RowChange]) -> dict[Any, RowChange]:
    """The rows whose fixed groups have subscribers."""
    groups = {pk: observer.static_groups(pk) or set() for pk in changed}
    heard = subscribed(set().union(*groups.values()))
    return {pk: rc for pk, rc in changed.items() if groups[pk] & heard}


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

"""The worker's in-memory view of hot anchors: members, links and the routing index.

Membership is reference counted: a row belongs to an anchor while some member row links to it
(the anchor row itself is pinned). Refreshing a row diffs its links; new links load their rows
(one batch per layer, shallow layers first), lost links drop subtrees and produce tombstones.

A parent's id list depends on more than the parent row (invariant 12): on its children's
existence, their parent FK, their order and their owner (``user_key``). A re-read child that is
gone, or whose parent, order key or owner changed, makes every parent that lists it re-read too.

Dependency layers (``Layer.hidden``) are members like any other but never reach a delta: a
re-read of one of their rows re-reads the rows that link to it, which is what clients see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rxcdc.layers import Layer, Relation, StateModel
from rxcdc.serialize import Row

__all__ = ["AnchorKey", "AnchorState", "Delta", "HotState", "Loader"]

AnchorKey = tuple[str, Any]  # (channel label, anchor pk)
Loader = Callable[[Layer, Iterable[Any]], dict[Any, Row]]


@dataclass(slots=True)
class Record:
    """One member row of one anchor at one layer."""

    refs: int
    row: Row | None = None  # None until loaded


@dataclass(eq=False)
class AnchorState:
    """Members of one hot anchor."""

    key: AnchorKey
    model: StateModel
    records: dict[tuple[Layer, Any], Record] = field(default_factory=dict)

    def holds(self, type_key: str, pk: Any) -> bool:
        """Whether any layer of this type still has ``pk`` as a member."""
        return any(
            layer.type_key == type_key and (layer, pk) in self.records
            for layer in self.model.layers
        )

    @property
    def exists(self) -> bool:
        """False once the anchor row itself is gone."""
        rec = self.records.get((self.model.root, self.key[1]))
        return rec is not None and rec.row is not None


@dataclass
class Delta:
    """What one batch changed in one anchor: rows to (re)write and rows that left."""

    upserts: dict[tuple[str, Any], Row] = field(default_factory=dict)  # (type, pk) → row
    tombstones: dict[tuple[str, Any], Any] = field(default_factory=dict)  # (type, pk) → user
    missing: int = 0  # linked rows that could not be loaded (see HotState.refresh)

    def merge(self, later: Delta) -> None:
        """Fold a later delta of the same anchor into this one."""
        for key, row in later.upserts.items():
            self.upserts[key] = row
            self.tombstones.pop(key, None)
        for key, user in later.tombstones.items():
            self.tombstones[key] = user
            self.upserts.pop(key, None)
        self.missing += later.missing

    def __bool__(self) -> bool:
        return bool(self.upserts or self.tombstones)


class HotState:
    """All hot anchors, with the (table, pk) → members index that routing reads."""

    def __init__(self) -> None:
        self.anchors: dict[AnchorKey, AnchorState] = {}
        self.rows: dict[tuple[str, Any], set[tuple[AnchorKey, Layer]]] = defaultdict(set)
        # M2M through rows we have seen: (through table, through pk) → parent pks.
        self.through: dict[tuple[str, Any], dict[Any, int]] = defaultdict(dict)
        self._missing: list[tuple[AnchorState, Layer, Any]] = []
        # Children whose parents' lists must be re-read: (anchor, layer, pk, reverse-FK
        # parents, or None to look them up).
        self._relist: list[tuple[AnchorState, Layer, Any, tuple[Any, ...] | None]] = []

    # -- heat and cool ------------------------------------------------------------------------

    def heat(self, key: AnchorKey, model: StateModel, loader: Loader) -> Delta:
        """Load a whole anchor; an anchor whose row does not exist stays hot and empty."""
        return self.heat_many([(key, model)], loader)[key]

    def heat_many(
        self, anchors: list[tuple[AnchorKey, StateModel]], loader: Loader
    ) -> dict[AnchorKey, Delta]:
        """Load several anchors together: one query per layer for all of them."""
        deltas = {key: Delta() for key, _ in anchors}
        pending: dict[Layer, set[tuple[AnchorState, Any]]] = defaultdict(set)
        self._missing, self._relist = [], []
        for key, model in anchors:
            anchor = self.anchors.setdefault(key, AnchorState(key, model))
            self._incref(anchor, model.root, key[1], pending)
        self._load_pending(pending, loader, deltas)
        self._repair(loader, deltas)
        return deltas

    def cool(self, key: AnchorKey) -> None:
        """Forget an anchor."""
        anchor = self.anchors.pop(key, None)
        if anchor is None:
            return
        for (layer, pk), rec in anchor.records.items():
            self._unindex(anchor, layer, pk, rec)

    # -- refresh ------------------------------------------------------------------------------

    def refresh(
        self, dirty: dict[AnchorKey, set[tuple[Layer, Any]]], loader: Loader
    ) -> dict[AnchorKey, Delta]:
        """Re-serialize dirty rows and follow their link changes; return each anchor's delta."""
        self._missing, self._relist = [], []
        deltas = self._refresh_once(dirty, loader)
        self._repair(loader, deltas)
        return deltas

    def _repair(self, loader: Loader, deltas: dict[AnchorKey, Delta]) -> None:
        """Re-read the parents whose lists a pass left stale, until nothing is left stale.

        Two causes: a linked row gone when loaded (deleted between reading its parent and
        reading it: its DELETE finds no member to route to), and a re-read child that is gone or
        whose order key or owner changed (``_relist``). Missing rows are followed once: a row
        hidden by a custom default manager stays missing. Each pass moves one layer up.
        """
        first = True
        while self._missing or self._relist:
            dirty: dict[AnchorKey, set[tuple[Layer, Any]]] = defaultdict(set)
            for anchor, layer, pk in self._missing:
                deltas[anchor.key].missing += 1
                if first:
                    self._relist.append((anchor, layer, pk, None))  # parents unknown: scan
            for anchor, layer, pk, parent_fks in self._relist:
                if anchor.key not in self.anchors or layer.parent is None:
                    continue
                for ppk in self._parents_listing(anchor, layer, pk, parent_fks):
                    dirty[anchor.key].add((layer.parent, ppk))
            self._missing, self._relist, first = [], [], False
            for key, delta in self._refresh_once(dirty, loader).items():
                deltas.setdefault(key, Delta()).merge(delta)
        self._fill_owners(deltas)
        self._fill_viewers(deltas)

    def _parents_listing(
        self, anchor: AnchorState, layer: Layer, pk: Any, parent_fks: tuple[Any, ...] | None
    ) -> set[Any]:
        """Member rows of ``layer.parent`` in this anchor whose lists hold (or should hold) pk.

        A reverse-FK child names its parents itself (its old and new FK values); otherwise
        the anchor's parent rows are scanned for a link to ``pk``.
        """
        parent = layer.parent
        if parent is None:
            return set()
        if layer.relation is Relation.REVERSE and parent_fks is not None:
            return {fk for fk in parent_fks if (parent, fk) in anchor.records}
        name = layer.field_name or ""
        return {
            ppk
            for (lyr, ppk), rec in anchor.records.items()
            if lyr is parent and rec.row is not None and pk in rec.row.links.get(name, ())
        }

    def _fill_owners(self, deltas: dict[AnchorKey, Delta]) -> None:
        """Record, for each upserted parent, the owner of every child its scoped lists name.

        Consumers strip other users' ids from the lists with it, without any memory of
        earlier frames (a resumed or new connection has none).
        """
        for key, delta in deltas.items():
            anchor = self.anchors.get(key)
            if anchor is None:
                continue
            for layer in anchor.model.scoped_parents:
                for (type_key, pk), row in delta.upserts.items():
                    if type_key != layer.type_key or (layer, pk) not in anchor.records:
                        continue
                    row.owners = {
                        child.field_name or "": [
                            self._owner(anchor, child, cpk)
                            for cpk in row.links.get(child.field_name or "", ())
                        ]
                        for child in layer.children
                        if child.user_key
                    }

    def _fill_viewers(self, deltas: dict[AnchorKey, Delta]) -> None:
        """Give rows under ``user_key`` rows the users who may see them (invariant 9).

        A row's viewers are the owners of the ``user_key`` rows above it, on every path that
        reaches it; a row of the same type also reached without one is everyone's (None).
        Rows whose viewers changed (a handover, a move) join the delta: the old viewers get
        tombstones, the new ones the rows. Walks the whole anchor: rows move between owners
        without changing themselves.
        """
        for key, delta in deltas.items():
            anchor = self.anchors.get(key)
            if anchor is None or not anchor.model.inherited_types:
                continue
            seen: dict[tuple[str, Any], set[Any] | None] = {}
            for (layer, pk), rec in anchor.records.items():
                if rec.row is None or layer.hidden:
                    continue
                if layer.user_key:
                    self._grant(anchor, layer, rec.row, {rec.row.user}, seen)
                elif layer.type_key in anchor.model.inherited_types and not layer.inherits_scope:
                    seen[(layer.type_key, pk)] = None  # reached without a user_key row above
            for (layer, pk), rec in anchor.records.items():
                row = rec.row
                if row is None or not layer.inherits_scope:
                    continue
                users = seen.get((layer.type_key, pk), set())
                viewers = None if users is None else sorted(users, key=repr)
                if viewers == row.viewers:
                    continue
                if row.viewers is not None:  # resuming clients of earlier viewers learn it
                    row.former = sorted({*row.former, *row.viewers} - set(viewers or ()), key=repr)
                row.viewers = viewers
                delta.upserts[(layer.type_key, pk)] = row
                delta.tombstones.pop((layer.type_key, pk), None)

    def _grant(
        self,
        anchor: AnchorState,
        layer: Layer,
        row: Row,
        users: set[Any],
        seen: dict[tuple[str, Any], set[Any] | None],
    ) -> None:
        """Add ``users`` to the viewers of everything under ``row`` that inherits its scope."""
        for child in layer.children:
            if not child.inherits_scope:
                continue
            for cpk in row.links.get(child.field_name or "", ()):
                rec = anchor.records.get((child, cpk))
                if rec is None or rec.row is None:
                    continue
                key = (child.type_key, cpk)
                got = seen.setdefault(key, set())
                if got is not None:
                    got |= users
                self._grant(anchor, child, rec.row, users, seen)

    @staticmethod
    def _owner(anchor: AnchorState, layer: Layer, pk: Any) -> Any:
        rec = anchor.records.get((layer, pk))
        return rec.row.user if rec is not None and rec.row is not None else None

    def _refresh_once(
        self, dirty: dict[AnchorKey, set[tuple[Layer, Any]]], loader: Loader
    ) -> dict[AnchorKey, Delta]:
        deltas: dict[AnchorKey, Delta] = {key: Delta() for key in dirty if key in self.anchors}
        wanted: dict[Layer, set[Any]] = defaultdict(set)
        for key, items in dirty.items():
            if key in self.anchors:
                for layer, pk in items:
                    wanted[layer].add(pk)
        fresh = {layer: loader(layer, pks) for layer, pks in wanted.items()}

        pending: dict[Layer, set[tuple[AnchorState, Any]]] = defaultdict(set)
        removes: list[tuple[AnchorState, Layer, Any]] = []
        gone: list[tuple[AnchorState, Layer, Any]] = []
        for key, delta in deltas.items():
            anchor = self.anchors[key]
            for layer, pk in dirty[key]:
                rec = anchor.records.get((layer, pk))
                if rec is None or rec.row is None:
                    continue
                row = fresh[layer].get(pk)
                old = rec.row
                if row is None:
                    gone.append((anchor, layer, pk))
                    self._relist.append((anchor, layer, pk, (old.parent_fk,)))
                    continue
                if (
                    layer.relists
                    or old.user != row.user
                    or old.order != row.order
                    # Re-read for another reason after a move committed (rows are read as
                    # they are now): the move's own change will find no old parent to fix.
                    or old.parent_fk != row.parent_fk
                ):
                    self._relist.append((anchor, layer, pk, (old.parent_fk, row.parent_fk)))
                if layer.user_key and old.user != row.user:
                    # A resuming client of an earlier owner learns from this that it lost it.
                    row.former = sorted({*old.former, old.user} - {row.user}, key=repr)
                self._set_row(anchor, layer, rec, row)
                if not layer.hidden:
                    delta.upserts[(layer.type_key, pk)] = row
                for child in layer.linked:
                    name = child.field_name or ""
                    was, now = old.links.get(name, ()), row.links.get(name, ())
                    if was == now:  # the common case, and no sets to build
                        records = anchor.records
                        back = {cpk for cpk in now if (child, cpk) not in records}
                        for cpk in back:  # were gone when last loaded
                            self._incref(anchor, child, cpk, pending)
                        continue
                    before, after = set(was), set(now)
                    # Adds before removes: a row moving between two members never hits zero.
                    for cpk in after - before:
                        self._incref(anchor, child, cpk, pending)
                    for cpk in after & before:
                        if (child, cpk) not in anchor.records:  # was gone when last loaded
                            self._incref(anchor, child, cpk, pending)
                    removes += [(anchor, child, cpk) for cpk in before - after]
        self._load_pending(pending, loader, deltas)
        for anchor, layer, pk in removes:
            self._decref(anchor, layer, pk, deltas[anchor.key])
        for anchor, layer, pk in gone:
            self._drop(anchor, layer, pk, deltas[anchor.key])
        for key, delta in deltas.items():
            if not delta.tombstones:
                continue  # nothing left: every upsert is still held (a drop leaves a tombstone)
            anchor = self.anchors[key]
            # A type can sit at two layers: it only leaves when no layer holds it.
            for tkey in [k for k in delta.tombstones if anchor.holds(*k)]:
                del delta.tombstones[tkey]
            for ukey in [k for k in delta.upserts if not anchor.holds(*k)]:
                del delta.upserts[ukey]
        return deltas

    # -- membership ---------------------------------------------------------------------------

    def _incref(
        self,
        anchor: AnchorState,
        layer: Layer,
        pk: Any,
        pending: dict[Layer, set[tuple[AnchorState, Any]]],
    ) -> None:
        rec = anchor.records.get((layer, pk))
        if rec is None:
            anchor.records[(layer, pk)] = Record(refs=1)
            self.rows[(layer.table, pk)].add((anchor.key, layer))
            pending[layer].add((anchor, pk))
        else:
            rec.refs += 1

    def _load_pending(
        self,
        pending: dict[Layer, set[tuple[AnchorState, Any]]],
        loader: Loader,
        deltas: dict[AnchorKey, Delta],
    ) -> None:
        # Shallow layers first: loading a row can only add members one level deeper.
        while pending:
            layer = min(pending, key=lambda lyr: lyr.depth)
            members = pending.pop(layer)
            rows = loader(layer, {pk for _, pk in members})
            for anchor, pk in members:
                rec = anchor.records.get((layer, pk))
                if rec is None or rec.row is not None:
                    continue
                row = rows.get(pk)
                if row is None:
                    # Linked but gone (deleted after its parent was read): see _repair.
                    self._unindex(anchor, layer, pk, rec)
                    del anchor.records[(layer, pk)]
                    self._missing.append((anchor, layer, pk))
                    continue
                self._set_row(anchor, layer, rec, row)
                delta = deltas.setdefault(anchor.key, Delta())
                if not layer.hidden:
                    delta.upserts[(layer.type_key, pk)] = row
                for child in layer.linked:
                    for cpk in row.links.get(child.field_name or "", ()):
                        self._incref(anchor, child, cpk, pending)

    def _decref(self, anchor: AnchorState, layer: Layer, pk: Any, delta: Delta) -> None:
        rec = anchor.records.get((layer, pk))
        if rec is None:
            return
        rec.refs -= 1
        if rec.refs <= 0:
            self._drop(anchor, layer, pk, delta)

    def _drop(self, anchor: AnchorState, layer: Layer, pk: Any, delta: Delta) -> None:
        """Remove a member and release everything it linked to."""
        rec = anchor.records.pop((layer, pk), None)
        if rec is None:
            return
        self._unindex(anchor, layer, pk, rec)
        row = rec.row
        if not layer.hidden:
            # Who may hear of it: the owner, or the viewers of a row under a user_key row.
            who = (row.viewers if layer.inherits_scope else row.user) if row else None
            delta.tombstones[(layer.type_key, pk)] = who
        if row is None:
            return
        for child in layer.linked:
            for cpk in row.links.get(child.field_name or "", ()):
                self._decref(anchor, child, cpk, delta)

    def _set_row(self, anchor: AnchorState, layer: Layer, rec: Record, row: Row) -> None:
        old, rec.row = rec.row, row
        if old is not None:
            if old.through == row.through:  # (same pk: the index already says this)
                return
            self._unindex_through(layer, old)
        for child in layer.linked:
            if child.through_table:
                for tpk, _cpk in row.through.get(child.field_name or "", ()):
                    counts = self.through[(child.through_table, tpk)]
                    counts[row.pk] = counts.get(row.pk, 0) + 1

    def _unindex(self, anchor: AnchorState, layer: Layer, pk: Any, rec: Record) -> None:
        members = self.rows.get((layer.table, pk))
        if members is not None:
            members.discard((anchor.key, layer))
            if not members:
                del self.rows[(layer.table, pk)]
        if rec.row is not None:
            self._unindex_through(layer, rec.row)

    def _unindex_through(self, layer: Layer, row: Row) -> None:
        for child in layer.linked:
            if not child.through_table:
                continue
            for tpk, _cpk in row.through.get(child.field_name or "", ()):
                key = (child.through_table, tpk)
                counts = self.through.get(key)
                if counts is None:
                    continue
                counts[row.pk] = counts.get(row.pk, 1) - 1
                if counts[row.pk] <= 0:
                    del counts[row.pk]
                if not counts:
                    del self.through[key]

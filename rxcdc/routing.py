"""Route WAL row changes to the (anchor, layer, pk) members of hot anchors they affect.

Old FK values are not in the WAL under REPLICA IDENTITY DEFAULT, so deletes and moves are
resolved from our own state (``HotState``): who held the row, and through which parent. Under
REPLICA IDENTITY USING INDEX a DELETE may not even carry the pk: ``IdentityIndex`` resolves it
from the identity values, and a through row's DELETE is routed by the parent column it carries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from replication.changes import Change, Delete, Insert, Truncate, Update
from rxcdc.identity import IdentityIndex
from rxcdc.layers import Layer, Relation
from rxcdc.state import AnchorKey, HotState

__all__ = ["Batch", "Router", "Tracked"]


@dataclass(frozen=True)
class Tracked:
    """One channel's layers as the router sees them."""

    label: str
    layers: list[Layer]
    auto_update: bool = False


@dataclass
class Batch:
    """What a run of changes touched."""

    dirty: dict[AnchorKey, set[tuple[Layer, Any]]] = field(default_factory=lambda: defaultdict(set))
    reload: set[AnchorKey] = field(default_factory=set)  # re-read whole (TRUNCATE, anchor reborn)
    created: set[AnchorKey] = field(default_factory=set)  # new anchors of auto_update list channels
    changes: int = 0


class Router:
    """Maps a table's changes to members of hot anchors."""

    def __init__(self, channels: list[Tracked], state: HotState):
        self.state = state
        # Tables whose identity leaves out the pk (configured by rxcdc.runner from the catalog).
        self.identity = IdentityIndex(lambda: self.state.rows)
        self.by_table: dict[str, list[tuple[Tracked, Layer]]] = defaultdict(list)
        self.by_through: dict[str, list[tuple[Tracked, Layer]]] = defaultdict(list)
        self.pk_columns: dict[str, str] = {}
        for channel in channels:
            for layer in channel.layers:
                self.by_table[layer.table].append((channel, layer))
                self.pk_columns[layer.table] = layer.model._meta.pk.column
                if layer.through_table and layer.through_model is not None:
                    self.by_through[layer.through_table].append((channel, layer))
                    self.pk_columns[layer.through_table] = layer.through_model._meta.pk.column

    def tables(self) -> list[str]:
        """Every table the router needs changes from."""
        return sorted(set(self.by_table) | set(self.by_through))

    def rows(self, changes: list[Change]) -> set[tuple[str, Any]]:
        """``(table, pk)`` of every row these changes touch (new and old identity)."""
        out: set[tuple[str, Any]] = set()
        for change in changes:
            if isinstance(change, Truncate):
                out.add((change.table, None))
                continue
            pk_column = self.pk_columns.get(getattr(change, "table", ""))
            if pk_column is None or not isinstance(change, Insert | Update | Delete):
                continue
            if not isinstance(change, Insert) and change.table in self.identity.columns:
                self._identify(change.table, pk_column, change.old)
            for values in (getattr(change, "new", None), getattr(change, "old", None)):
                if values and pk_column in values:
                    out.add((change.table, values[pk_column]))
        return out

    def route(self, change: Change, batch: Batch) -> None:
        """Add what ``change`` affects to ``batch``."""
        if isinstance(change, Truncate):
            self._truncate(change.table, batch)
            return
        if not isinstance(change, _ROW_CHANGES):
            return
        batch.changes += 1
        table = change.table
        pk_column = self.pk_columns.get(table)
        if pk_column is None:
            return
        new = change.new if not isinstance(change, Delete) else None
        old = change.old if not isinstance(change, Insert) else None
        if table in self.identity.columns:
            if old is not None and not self._identify(table, pk_column, old):
                self._reread_unknown(table, batch)
            if new is not None:
                self.identity.note(table, new)
        # Most changes of a busy database touch rows no hot anchor holds: those cost only the
        # dictionary lookups below (bench_worker (b)).
        rows = self.state.rows
        pks = _pks(pk_column, new, old)
        for pk in pks:
            held = rows.get((table, pk))
            if held:
                for key, layer in tuple(held):
                    batch.dirty[key].add((layer, pk))
                    if layer.relation is Relation.REVERSE and layer.parent is not None:
                        self._old_parent(key, layer, pk, new, batch)
        for channel, layer in self.by_table.get(table, ()):
            if layer.parent is None:
                self._root(channel, layer, change, pks, batch)
            elif layer.relation is Relation.REVERSE and new is not None:
                parent_pk = new.get(layer.fk_column or "")
                if (layer.parent.table, parent_pk) in rows and not self._under(
                    layer, new.get(pk_column), parent_pk
                ):
                    self._mark_parent(layer, parent_pk, batch)
        if table in self.by_through:
            for _channel, layer in self.by_through[table]:
                self._through(layer, table, pk_column, new, old, batch)

    def _identify(self, table: str, pk_column: str, old: dict[str, Any]) -> bool:
        """Put the pk into an identity that lacks it, if it names a member row we know."""
        if pk_column in old:
            return True
        known, pk = self.identity.pk(table, old)
        if known:
            old[pk_column] = pk  # sinks then see the pk too
        return known

    def _reread_unknown(self, table: str, batch: Batch) -> None:
        """An identity we cannot resolve: re-read the members whose identity we do not know.

        Those are the only members it can name; a gone one leaves its anchor on re-read.
        """
        for pk in self.identity.unknown(table):
            for key, layer in tuple(self.state.rows.get((table, pk), ())):
                batch.dirty[key].add((layer, pk))

    def _root(
        self, channel: Tracked, layer: Layer, change: Change, pks: tuple[Any, ...], batch: Batch
    ) -> None:
        for pk in pks:
            key = (channel.label, pk)
            anchor = self.state.anchors.get(key)
            if anchor is not None and not anchor.exists and not isinstance(change, Delete):
                batch.reload.add(key)  # an anchor row that (re)appears
            if isinstance(change, Insert) and channel.auto_update:
                batch.created.add(key)

    def _old_parent(
        self, key: AnchorKey, layer: Layer, pk: Any, new: dict[str, Any] | None, batch: Batch
    ) -> None:
        # The WAL has the new FK but not the old one: our record knows the old parent.
        rec = self.state.anchors[key].records.get((layer, pk))
        if rec is None or rec.row is None or layer.parent is None:
            return
        old_parent = rec.row.parent_fk
        if new is None or new.get(layer.fk_column or "", old_parent) != old_parent:
            batch.dirty[key].add((layer.parent, old_parent))

    def _under(self, layer: Layer, pk: Any, parent_pk: Any) -> bool:
        """Is this child already a member under ``parent_pk``? (Then the parent's list holds.)"""
        for key, held in self.state.rows.get((layer.table, pk), ()):
            rec = self.state.anchors[key].records.get((held, pk)) if held is layer else None
            if rec is not None and rec.row is not None and rec.row.parent_fk == parent_pk:
                return True
        return False

    def _mark_parent(self, layer: Layer, parent_pk: Any, batch: Batch) -> None:
        parent = layer.parent
        if parent is None or parent_pk is None:
            return
        for key, held in tuple(self.state.rows.get((parent.table, parent_pk), ())):
            if held is parent:
                batch.dirty[key].add((parent, parent_pk))

    def _through(
        self,
        layer: Layer,
        table: str,
        pk_column: str,
        new: dict[str, Any] | None,
        old: dict[str, Any] | None,
        batch: Batch,
    ) -> None:
        for values in (new, old):
            # The new row's parent; an identity of the parent column (USING INDEX on the
            # through table's unique pair, or FULL) names the old one.
            if values is not None:
                self._mark_parent(layer, values.get(layer.through_parent_column or ""), batch)
        for values in (new, old):
            if values and pk_column in values:
                for parent_pk in tuple(self.state.through.get((table, values[pk_column]), ())):
                    self._mark_parent(layer, parent_pk, batch)

    def _truncate(self, table: str, batch: Batch) -> None:
        labels = {c.label for c, _ in self.by_table.get(table, ())}
        labels |= {c.label for c, _ in self.by_through.get(table, ())}
        batch.reload |= {key for key in self.state.anchors if key[0] in labels}


def _pks(pk_column: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> tuple[Any, ...]:
    """The distinct pks a change names: the new row's, and the old identity's if it differs."""
    # (one per change routed: a tuple, not a set, for the common case of one pk)
    pk = new.get(pk_column, _ABSENT) if new else _ABSENT
    was = old.get(pk_column, _ABSENT) if old else _ABSENT
    if pk is _ABSENT:
        return () if was is _ABSENT else (was,)
    return (pk,) if was is _ABSENT or was == pk else (pk, was)


_ABSENT = object()
_ROW_CHANGES = (Insert, Update, Delete)

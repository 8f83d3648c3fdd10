"""Batched flat serialization: one query per layer per batch (plus one per to-many relation)."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rxcdc.layers import Layer, Relation

__all__ = ["Row", "jsonable", "load_rows"]


@dataclass(slots=True)
class Row:
    """A freshly serialized row of one layer."""

    pk: Any
    doc: dict[str, Any]  # the flat serializer's output, JSON-safe
    links: dict[str, list[Any]]  # nested field name → referenced child pks, in order
    through: dict[str, list[tuple[Any, Any]]]  # M2M field → [(through pk, child pk)]
    user: Any
    parent_fk: Any  # REVERSE layers: the FK value pointing at the parent row


def load_rows(layer: Layer, pks: Iterable[Any]) -> dict[Any, Row]:
    """Serialize the rows of ``layer`` with these pks; missing pks are absent from the result."""
    wanted = list(pks)
    if not wanted:
        return {}
    qs = layer.model._default_manager.filter(pk__in=wanted)
    to_many = [c.source for c in layer.children if c.many]
    if to_many:
        qs = qs.prefetch_related(*to_many)
    serializer = layer.flat(context={})
    fk_attname = _reverse_fk_attname(layer)
    rows: dict[Any, Row] = {}
    for obj in qs:
        doc = serializer.to_representation(obj)
        links: dict[str, list[Any]] = {}
        for child in layer.children:
            name = child.field_name or ""
            value = doc.get(name)
            ids = list(value or ()) if child.many else ([] if value is None else [value])
            links[name] = ids
            doc[name] = [jsonable(i) for i in ids] if child.many else jsonable(value)
        rows[obj.pk] = Row(
            pk=obj.pk,
            doc=jsonable(dict(doc)),
            links=links,
            through={},
            user=getattr(obj, layer.user_key) if layer.user_key else None,
            parent_fk=getattr(obj, fk_attname) if fk_attname else None,
        )
    for child in layer.children:
        if child.relation is Relation.M2M and rows:
            _load_through(child, rows)
    return rows


def _load_through(child: Layer, rows: dict[Any, Row]) -> None:
    # Through rows are our only way to route a later DELETE of a link (the WAL gives its id only).
    assert child.through_model is not None
    assert child.through_parent_attname is not None
    child_attname = _through_child_attname(child)
    name = child.field_name or ""
    for row in rows.values():
        row.through[name] = []
    pairs = child.through_model._default_manager.filter(
        **{f"{child.through_parent_attname}__in": list(rows)}
    ).values_list("pk", child.through_parent_attname, child_attname)
    for tpk, ppk, cpk in pairs:
        rows[ppk].through[name].append((tpk, cpk))


def _through_child_attname(child: Layer) -> str:
    assert child.through_model is not None
    for f in child.through_model._meta.concrete_fields:
        if getattr(f, "related_model", None) is child.model and f.attname != (
            child.through_parent_attname
        ):
            return str(f.attname)
    raise LookupError(f"{child}: no FK to {child.model.__name__} in {child.through_table}")


def _reverse_fk_attname(layer: Layer) -> str | None:
    if layer.relation is not Relation.REVERSE:
        return None
    for f in layer.model._meta.concrete_fields:
        if getattr(f, "column", None) == layer.fk_column:
            return str(f.attname)
    return None


_PRIMITIVES = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """Make a serializer value safe for BSON, msgpack and JSON (Decimal, UUID, dates → str)."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if hasattr(value, "pk"):
        return jsonable(value.pk)
    return str(value)

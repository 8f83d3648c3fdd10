"""Batched flat serialization: one query per layer per batch (plus one per to-many relation)."""

from __future__ import annotations

import datetime
import decimal
import json
import json.encoder as json_encoder
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rxcdc import together
from rxcdc.compiled import Compiled, Sent, compiled
from rxcdc.dependencies import order_items
from rxcdc.layers import Layer, Relation
from rxcdc.represent import representation

__all__ = ["Row", "encode", "jsonable", "jsonable_ids", "load_rows"]


@dataclass(slots=True)
class Row:
    """A freshly serialized row of one layer."""

    pk: Any
    doc: dict[str, Any]  # the flat serializer's output, JSON-safe
    links: dict[str, list[Any]]  # nested field name → referenced child pks, in order
    through: dict[str, list[tuple[Any, Any]]]  # M2M field → [(through pk, child pk)]
    user: Any
    parent_fk: Any  # REVERSE layers: the FK value pointing at the parent row
    order: tuple[Any, ...] = ()  # the Meta.ordering values that place it in a parent's list
    # Nested fields of user_key layers → the owner of each listed child (HotState fills it).
    owners: dict[str, list[Any]] = field(default_factory=dict)
    former: list[Any] = field(default_factory=list)  # user_key layers: earlier owners
    # Rows under a user_key row: the users who may see it (None: everyone). HotState fills it.
    viewers: list[Any] | None = None
    text: str = ""  # ``doc`` as JSON text: what the cache stores and frames carry (see encode)


def load_rows(layer: Layer, pks: Iterable[Any]) -> dict[Any, Row]:
    """Serialize the rows of ``layer`` with these pks; missing pks are absent from the result.

    One query for the rows and one per to-many relation for the ids they reference (building a
    related manager per row and relation, as DRF would, costs more than the query itself), sent
    together in one round trip. Each query is compiled once per layer (``rxcdc.compiled``),
    whatever the number of pks.
    """
    wanted = list(pks)
    if not wanted:
        return {}
    serializer = _serializer(layer)
    fk_attname = _reverse_fk_attname(layer)
    forward = [d for d in layer.deps if d.relation is Relation.FORWARD]
    # Read beside each row's output, in this order (see _documents).
    extras = [
        "pk",
        *([layer.user_key] if layer.user_key else []),
        *([fk_attname] if fk_attname else []),
        *(d.fk_attname or "" for d in forward),
        *(name for name, _desc in layer.ordering),
    ]
    rows: dict[Any, Row] = {}
    # Each link in the order of the layer's children, then its dependencies: how it is found.
    found = [(c.field_name or "", _SINGLE if not c.many else _LATER) for c in layer.children]
    found += [
        (d.field_name or "", _FORWARD if d.relation is Relation.FORWARD else _LATER)
        for d in layer.deps
    ]
    firsts = 1 + bool(layer.user_key) + bool(fk_attname)
    ordered = firsts + len(forward)  # where the ordering values start
    query = compiled(("rows", layer), lambda: _manager(layer).all(), "pk", models=True)
    # All sent before the rows are fetched, in one batch (the visibility check's, or one of
    # their own): one round trip. The links ask for every wanted pk; those of rows not found
    # are dropped.
    alias = query.queryset.db
    with together.together(alias):
        sent = query.send(wanted)
        linked = [
            (child, _send_links(child, wanted))
            for child in layer.linked
            if (child.many if not child.hidden else child.relation is not Relation.FORWARD)
        ]
    for doc, values in _documents(layer, serializer, query, sent, wanted, extras):
        links: dict[str, list[Any]] = {}
        at = firsts
        for name, how in found:
            if how is _LATER:
                links[name] = []  # filled below
            elif how is _SINGLE:
                value = doc.get(name)
                links[name] = [] if value is None else [value]
                doc[name] = value if type(value) in _EXACT else jsonable(value)
            else:
                value = values[at]
                at += 1
                links[name] = [] if value is None else [value]
        pk = values[0]
        rows[pk] = Row(
            pk=pk,
            doc=_json_safe(doc),
            links=links,
            through={},
            user=values[1] if layer.user_key else None,
            parent_fk=values[firsts - 1] if fk_attname else None,
            order=tuple(_json_safe(values[ordered:])),
        )
    for child, pending in linked:
        _fill_links(child, rows, pending)
    for row in rows.values():
        row.text = encode(row.doc)
    return rows


_SINGLE, _FORWARD, _LATER = "single", "forward", "later"  # how a row's link is found


def _documents(
    layer: Layer,
    serializer: Any,
    query: Compiled,
    sent: Sent | None,
    wanted: list[Any],
    extras: list[str],
) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Per row: the flat serializer's output and the values of ``extras`` (attnames, "pk").

    From the fetched rows where ``rxcdc.represent`` finds that exact, else from model instances.
    """
    if sent is None:  # run through the ORM
        objs = query.run(wanted)
    else:
        fetched = sent.fetch()
        built: dict[Layer, Any] = _local.__dict__.setdefault("representations", {})
        if layer not in built and query.ready:  # (not before the query ever ran)
            built[layer] = representation(query, serializer, extras)
        found = built.get(layer)
        if found is not None and found.applies():
            yield from found.documents(fetched)
            return
        objs = query.instances(fetched)
    for obj in objs:
        yield (
            serializer.to_representation(obj),
            [getattr(obj, name) for name in extras],
        )


def _manager(layer: Layer) -> Any:
    """The manager DRF reads this layer's rows through.

    A forward FK or one-to-one is followed with the related model's base manager (so a custom
    default manager does not hide its target); lists use the default manager, as
    ``parent.<relation>.all()`` does. Dependency rows are all followed: any of them may matter.
    """
    if layer.hidden or (layer.parent is not None and not layer.many):
        return layer.model._base_manager
    return layer.model._default_manager


def encode(doc: dict[str, Any]) -> str:
    """A flat instance's fields as JSON text; raises ``ValueError`` for NaN or infinity.

    Carried as text from here to the client: JSON numbers of any size (a jsonb integer past
    64 bits) survive, where BSON and msgpack have no type for them. Non-finite floats are
    refused, as DRF's renderer refuses them.
    """
    if _c_encoder is None or type(doc) is not dict:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(_c_encoder(doc, 0))


# What that json.dumps call runs, built once: json.dumps builds it (and an encoder) per call,
# about half of each call's time. The same text. No circular-reference markers: documents are
# trees (the serializer's primitives, or what ``jsonable`` built).
_make = getattr(json_encoder, "c_make_encoder", None)  # (None without the C accelerator)
_c_encoder = (
    None
    if _make is None
    else _make(
        None,
        json.JSONEncoder().default,
        json_encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
)


_local = threading.local()


def _serializer(layer: Layer) -> Any:
    """The layer's flat serializer, built once per thread.

    Building its fields costs more than serializing a row; with an empty context it holds no
    per-call state.
    """
    built: dict[type, Any] = _local.__dict__.setdefault("serializers", {})
    if layer.flat not in built:
        built[layer.flat] = layer.flat(context={})
    return built[layer.flat]


def _send_links(child: Layer, parents: list[Any]) -> tuple[Compiled, Sent | None]:
    """Send the query for a to-many field's ids (in the relation's order) of these parent pks."""
    if child.relation is Relation.M2M:
        # Through rows are also how a later DELETE of a link is routed (the WAL gives its id).
        assert child.through_model is not None
        assert child.through_parent_attname is not None
        child_fk = _through_child_field(child)
        order = [_prefixed(o, child_fk.name) for o in order_items(child.model)] or ["pk"]
        through_model, parent_attname = child.through_model, child.through_parent_attname

        def build() -> Any:
            triples = through_model._default_manager.order_by(*order).values_list(
                parent_attname, child_fk.attname, "pk"
            )
            shown = child.model._default_manager.all()
            if shown.query.where and not child.hidden:
                # A custom default manager hides some targets from ``parent.<relation>.all()``.
                triples = triples.filter(**{f"{child_fk.name}__in": shown})
            return triples

        query = compiled(("m2m", child), build, parent_attname, models=False)
    else:
        fk = _reverse_fk_attname(child)
        assert fk is not None
        # The child's manager and ordering, as ``parent.<relation>.all()`` would use.
        query = compiled(
            ("reverse", child), lambda: _manager(child).values_list(fk, "pk"), fk, models=False
        )
    return query, query.send(parents)


def _fill_links(child: Layer, rows: dict[Any, Row], links: tuple[Compiled, Sent | None]) -> None:
    """Fill a to-many field's ids of ``rows`` from the query ``_send_links`` sent."""
    name = child.field_name or ""
    query, sent = links
    found = query.run(list(rows)) if sent is None else sent.fetch()
    if child.relation is Relation.M2M:
        for row in rows.values():
            row.through[name] = []
        for ppk, cpk, tpk in found:
            parent = rows.get(ppk)
            if parent is not None:
                parent.links[name].append(cpk)
                parent.through[name].append((tpk, cpk))
    else:
        for ppk, cpk in found:
            parent = rows.get(ppk)
            if parent is not None:
                parent.links[name].append(cpk)
    if not child.hidden:
        for row in rows.values():
            row.doc[name] = _json_safe(row.links[name].copy())  # a list of the doc's own


def _prefixed(ordering: str, relation: str) -> str:
    """``"-name"`` on the child → ``"-tag__name"`` on the through model."""
    text = str(ordering)
    desc = text.startswith("-")
    return f"{'-' if desc else ''}{relation}__{text.lstrip('-')}"


def _through_child_field(child: Layer) -> Any:
    assert child.through_model is not None
    for f in child.through_model._meta.concrete_fields:
        if getattr(f, "related_model", None) is child.model and f.attname != (
            child.through_parent_attname
        ):
            return f
    raise LookupError(f"{child}: no FK to {child.model.__name__} in {child.through_table}")


def _reverse_fk_attname(layer: Layer) -> str | None:
    if layer.relation is not Relation.REVERSE:
        return None
    for f in layer.model._meta.concrete_fields:
        if getattr(f, "column", None) == layer.fk_column:
            return str(f.attname)
    return None


_PRIMITIVES = (str, int, float, bool, type(None))
_EXACT = frozenset(_PRIMITIVES)  # the common case, by exact type: no isinstance chain


def _json_safe(value: Any) -> Any:
    """``value`` (a dict or list the caller owns) where ``jsonable`` would give an equal copy.

    The common case, str keys and primitive values, costs one pass and no copy.
    """
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or type(item) not in _EXACT:
                return jsonable(value)
    else:
        for item in value:
            if type(item) not in _EXACT:
                return jsonable(value)
    return value


def jsonable_ids(value: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """What ``jsonable`` makes of a mapping of id lists, as ``value`` itself when it already is.

    Ids that are primitives, or tuples of them (BSON and JSON write a tuple as an array), need
    no copy: the common case, and the cache writes one such mapping per row and field.
    """
    for key, ids in value.items():
        if type(key) is not str or type(ids) is not list:
            return jsonable(value)  # type: ignore[no-any-return]
        for item in ids:
            kind = type(item)
            if kind not in _EXACT and not (kind is tuple and all(type(v) in _EXACT for v in item)):
                return jsonable(value)  # type: ignore[no-any-return]
    return value


def jsonable(value: Any) -> Any:
    """Make a serializer value safe for BSON, msgpack and JSON (Decimal, UUID, dates → str)."""
    kind = type(value)
    if kind in _EXACT:
        return value
    if kind is dict:
        return {str(k): v if type(v) in _EXACT else jsonable(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _EXACT else jsonable(v) for v in value]
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):  # MultipleChoiceField; sorted for stable output
        return [jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value.total_seconds())  # as DRF's JSON encoder does
    if hasattr(value, "pk"):
        return jsonable(value.pk)
    return str(value)

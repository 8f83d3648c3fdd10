"""Split a nested DRF ``ModelSerializer`` into flat layers, one per serializer position.

Besides the layers a client sees, a state has hidden *dependency* layers: rows that a layer's
own fields read (a ``SlugRelatedField``'s target, a dotted ``source=``, an inheritance parent,
a ``Meta.depends`` path; see ``rxcdc.dependencies``). They are tracked like members but never
delivered; a change to one re-reads the rows that read it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from rest_framework import serializers

from rxcdc.dependencies import find_relation, order_items, ordering, reads

__all__ = ["Layer", "Relation", "StateModel", "build_state"]


class Relation(enum.Enum):
    """How a layer's rows hang from their parent row."""

    ROOT = "root"
    FORWARD = "forward"  # the parent row holds the FK (FK or one-to-one field on the parent)
    REVERSE = "reverse"  # the child row holds the FK (reverse FK or reverse one-to-one)
    M2M = "m2m"  # a through-table row links them (forward or reverse many-to-many)


@dataclass(eq=False)
class Layer:
    """One serializer position: its model, flat serializer and link to its parent."""

    index: int
    path: str  # serializer field path from the anchor, "" for the anchor itself
    type_key: str
    model: type[models.Model]
    serializer_class: type[serializers.ModelSerializer]
    flat: type[serializers.ModelSerializer]
    parent: Layer | None
    relation: Relation
    field_name: str | None  # the nested field's name in the parent serializer
    source: str | None  # the ORM accessor on the parent model
    many: bool
    table: str
    fk_column: str | None = None  # FORWARD: column on the parent; REVERSE: column on the child
    through_table: str | None = None
    through_model: type[models.Model] | None = None
    through_parent_column: str | None = None
    through_parent_attname: str | None = None
    user_key: str | None = None  # attname of the user column that scopes this layer's rows
    # Attnames (and directions) of the model's Meta.ordering: a row's place in its parent's list.
    ordering: tuple[tuple[str, bool], ...] = ()
    children: list[Layer] = field(default_factory=list)
    deps: list[Layer] = field(default_factory=list)  # hidden layers this layer's fields read
    hidden: bool = False  # a dependency layer: tracked, never delivered
    # Every re-read of a row re-reads the lists holding it: a dependency (its parent read it)
    # or a row whose place in a list its own columns cannot tell (opaque ordering).
    relists: bool = False
    fk_attname: str | None = None  # FORWARD: the FK's attname on the parent model
    undeclared: tuple[str, ...] = ()  # SerializerMethodFields without Meta.depends

    @property
    def inherits_scope(self) -> bool:
        """Whether rows here sit under a ``user_key`` row (and have no user_key of their own)."""
        parent = self.parent
        return (
            not self.user_key
            and parent is not None
            and bool(parent.user_key or parent.inherits_scope)
        )

    @property
    def linked(self) -> list[Layer]:
        """Child layers and dependency layers: everything a row of this layer links to."""
        return self.children + self.deps

    @property
    def depth(self) -> int:
        """Distance from the anchor layer."""
        return 0 if self.parent is None else self.parent.depth + 1

    def links(self, doc: dict[str, Any]) -> dict[int, list[Any]]:
        """Child layer index → the child pks this serialized row references, in order."""
        out: dict[int, list[Any]] = {}
        for child in self.children:
            value = doc.get(child.field_name or "")
            if child.many:
                out[child.index] = list(value or ())
            else:
                out[child.index] = [] if value is None else [value]
        return out

    def __repr__(self) -> str:
        return f"<Layer {self.index} {self.type_key} at {self.path or '(anchor)'}>"


@dataclass(eq=False)
class StateModel:
    """The flat layers of one channel's anchor serializer, in depth-first order."""

    layers: list[Layer]  # what clients see
    many: bool
    deps: list[Layer] = field(default_factory=list)  # hidden dependency layers

    @property
    def tracked(self) -> list[Layer]:
        """Every layer whose rows the worker follows: visible ones, then dependencies."""
        return self.layers + self.deps

    @property
    def chained(self) -> bool:
        """Whether some dependency has dependencies of its own (the cache keeps one level)."""
        return any(dep.deps for dep in self.deps)

    @property
    def root(self) -> Layer:
        """The anchor's layer."""
        return self.layers[0]

    @property
    def inherited_types(self) -> set[str]:
        """Types whose rows may be private because a ``user_key`` row holds them."""
        return {layer.type_key for layer in self.layers if layer.inherits_scope}

    @property
    def scoped_parents(self) -> list[Layer]:
        """Layers with a nested ``user_key`` layer: their lists are filtered per user."""
        return [layer for layer in self.layers if any(c.user_key for c in layer.children)]

    def tables(self) -> set[str]:
        """Every table whose rows can change this state (layer tables and through tables)."""
        out = {layer.table for layer in self.tracked}
        out |= {layer.through_table for layer in self.tracked if layer.through_table}
        return out


def build_state(anchor: serializers.BaseSerializer, owner: str) -> StateModel:
    """Build the layers of ``anchor`` (a ``ModelSerializer``, or one with ``many=True``)."""
    many = isinstance(anchor, serializers.ListSerializer)
    root = anchor.child if many else anchor
    if not isinstance(root, serializers.ModelSerializer):
        raise ImproperlyConfigured(f"{owner}: Meta.anchor must be a ModelSerializer instance")
    layers: list[Layer] = []
    pending: list[tuple[Layer, list[tuple[str, ...]]]] = []
    _add_layer(layers, root, None, None, owner, pending)
    _check_type_keys(layers, owner)
    deps: list[Layer] = []
    for layer, paths in pending:
        _add_deps(layer, paths, deps, len(layers), owner)
    return StateModel(layers=layers, many=many, deps=deps)


def _add_layer(
    layers: list[Layer],
    serializer: serializers.ModelSerializer,
    parent: Layer | None,
    nested: tuple[str, str, bool] | None,
    owner: str,
    pending: list[tuple[Layer, list[tuple[str, ...]]]],
) -> Layer:
    model = serializer.Meta.model
    relation: Relation = Relation.ROOT
    extra: dict[str, Any] = {}
    field_name = source = None
    many = False
    if parent is not None and nested is not None:
        field_name, source, many = nested
        where = f"{owner}: field {type(serializer).__name__} at {field_name}"
        relation, extra = _relation(parent.model, source, where)
        if relation is Relation.M2M and not all(isinstance(o, str) for o in order_items(model)):
            raise ImproperlyConfigured(
                f"{where}: {model.__name__} is ordered by an expression, which rxcdc cannot "
                "apply through a many-to-many link table; order it by field names"
            )
    nested_fields = _nested_fields(serializer, model, owner)
    read = reads(serializer, nested_fields, f"{owner}: field {type(serializer).__name__}")
    local_order, opaque, order_paths = ordering(model)
    layer = Layer(
        index=len(layers),
        path="" if parent is None else ".".join(filter(None, [parent.path, field_name])),
        type_key=f"{model._meta.app_label}.{type(serializer).__name__}",
        model=model,
        serializer_class=type(serializer),
        flat=_flat_serializer(type(serializer), nested_fields),
        parent=parent,
        relation=relation,
        field_name=field_name,
        source=source,
        many=many,
        table=model._meta.db_table,
        user_key=_user_key(serializer, model, owner),
        ordering=local_order,
        relists=opaque,
        undeclared=read.undeclared,
        **extra,
    )
    layers.append(layer)
    pending.append((layer, [*read.paths, *order_paths]))
    for name, (child, child_source, child_many) in nested_fields.items():
        layer.children.append(
            _add_layer(layers, child, layer, (name, child_source, child_many), owner, pending)
        )
    return layer


def _add_deps(
    layer: Layer, paths: list[tuple[str, ...]], deps: list[Layer], first: int, owner: str
) -> None:
    """Hidden layers under ``layer`` for these relation paths, sharing common prefixes."""
    by_head: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        if path:
            by_head.setdefault(path[0], []).append(path[1:])
    for head, rests in by_head.items():
        where = (
            f"{owner}: {layer.model.__name__}.{head} (read by {layer.serializer_class.__name__})"
        )
        relation, extra = _relation(layer.model, head, where)
        model = find_relation(layer.model, head).related_model
        local_order, _opaque, order_paths = ordering(model)
        flat = _pk_serializer(model)
        dep = Layer(
            index=first + len(deps),
            path=f"{layer.path}~{head}",
            type_key=f"~{layer.type_key}.{head}",
            model=model,
            serializer_class=flat,
            flat=flat,
            parent=layer,
            relation=relation,
            field_name=f"~{head}",
            source=head,
            many=relation is not Relation.FORWARD,
            table=model._meta.db_table,
            hidden=True,
            relists=True,
            ordering=local_order,
            **extra,
        )
        deps.append(dep)
        layer.deps.append(dep)
        # A dependency's own inheritance parents and, for a list, what orders it.
        more = list(reads(flat(), (), where).paths)
        if dep.many:
            more += order_paths
        _add_deps(dep, [r for r in rests if r] + more, deps, first, owner)


def _pk_serializer(model: type[models.Model]) -> type[serializers.ModelSerializer]:
    """A serializer of a dependency row: its key is all the worker needs of it."""
    meta = type("Meta", (), {"model": model, "fields": [model._meta.pk.name]})
    return type(f"Dep{model.__name__}", (serializers.ModelSerializer,), {"Meta": meta})


def _nested_fields(
    serializer: serializers.ModelSerializer, model: type[models.Model], owner: str
) -> dict[str, tuple[serializers.ModelSerializer, str, bool]]:
    """Declared nested serializers of ``serializer``: name → (child, ORM source, many)."""
    out = {}
    for name, f in serializer.fields.items():
        many = isinstance(f, serializers.ListSerializer)
        child = f.child if many else f
        if not isinstance(child, serializers.BaseSerializer):
            continue
        where = f"{owner}: field {type(serializer).__name__}.{name}"
        if not isinstance(child, serializers.ModelSerializer):
            raise ImproperlyConfigured(
                f"{where} is a nested serializer that is not a "
                "ModelSerializer: rxcdc cannot track its rows"
            )
        if many and type(f).to_representation is not serializers.ListSerializer.to_representation:
            raise ImproperlyConfigured(
                f"{where}: {type(f).__name__} (Meta.list_serializer_class) overrides "
                "to_representation; rxcdc builds lists from the relation and cannot apply it. "
                "Filter with the related model's default manager instead"
            )
        # Nested serializers are read-only in a state whether or not they say so.
        source = f.source or name
        if "." in source or source == "*":
            raise ImproperlyConfigured(
                f"{where}: source {source!r} is not a model relation; "
                "nest through a real relation field"
            )
        out[name] = (child, source, many)
    return out


def _relation(
    parent_model: type[models.Model], source: str, where: str
) -> tuple[Relation, dict[str, Any]]:
    f = find_relation(parent_model, source)
    if f is None:
        raise ImproperlyConfigured(f"{where}: {parent_model.__name__} has no relation {source!r}")
    if isinstance(f, models.ManyToManyField):
        through = f.remote_field.through
        parent_fk = through._meta.get_field(f.m2m_field_name())
        return Relation.M2M, _through(through, parent_fk)
    if isinstance(f, models.ManyToManyRel):
        through = f.through
        parent_fk = through._meta.get_field(f.field.m2m_reverse_field_name())
        return Relation.M2M, _through(through, parent_fk)
    fk = f if isinstance(f, models.ForeignKey) else getattr(f, "field", None)
    if isinstance(fk, models.ForeignKey) and not fk.target_field.primary_key:
        raise ImproperlyConfigured(
            f"{where}: {fk.model.__name__}.{fk.name} references "
            f"{fk.related_model.__name__}.{fk.target_field.name} (to_field), not its primary key;"
            " rxcdc links rows by primary key: point the ForeignKey at the primary key"
        )
    if isinstance(f, models.ForeignKey):  # includes OneToOneField
        return Relation.FORWARD, {"fk_column": f.column, "fk_attname": f.attname}
    if isinstance(f, models.ForeignObjectRel) and isinstance(f.field, models.ForeignKey):
        return Relation.REVERSE, {"fk_column": f.field.column}
    raise ImproperlyConfigured(
        f"{where}: {type(f).__name__} {source!r} cannot be tracked from the WAL (only FK, "
        "one-to-one and many-to-many relations can; a generic relation follows a content "
        "type: point a ForeignKey at the model instead)"
    )


def _through(through: type[models.Model], parent_fk: Any) -> dict[str, Any]:
    return {
        "through_table": through._meta.db_table,
        "through_model": through,
        "through_parent_column": parent_fk.column,
        "through_parent_attname": parent_fk.attname,
    }


def _user_key(
    serializer: serializers.ModelSerializer, model: type[models.Model], owner: str
) -> str | None:
    name = getattr(serializer.Meta, "user_key", None)
    if name is None:
        return None
    try:
        f = model._meta.get_field(name)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"{owner}: {type(serializer).__name__}.Meta.user_key "
            f"{name!r} is not a field of {model.__name__}"
        ) from exc
    return str(f.attname)


def _flat_serializer(
    cls: type[serializers.ModelSerializer],
    nested: dict[str, tuple[serializers.ModelSerializer, str, bool]],
) -> type[serializers.ModelSerializer]:
    """Subclass ``cls`` with every nested serializer replaced by its primary key(s)."""
    attrs: dict[str, Any] = {}
    for name, (_child, source, many) in nested.items():
        if many:
            # Filled by rxcdc.serialize with one query per batch, not a manager per row.
            attrs[name] = _LinksPlaceholder()
            continue
        kwargs: dict[str, Any] = {"read_only": True}
        if source != name:  # DRF refuses a redundant source
            kwargs["source"] = source
        attrs[name] = serializers.PrimaryKeyRelatedField(**kwargs)
    attrs["Meta"] = type("Meta", (cls.Meta,), {})
    attrs["__module__"] = cls.__module__
    return type(f"Flat{cls.__name__}", (cls,), attrs)


class _LinksPlaceholder(serializers.Field):
    """Stands for a to-many nested field in a flat serializer; its ids are filled in later."""

    def __init__(self) -> None:
        super().__init__(source="*", read_only=True)

    def to_representation(self, value: Any) -> None:
        return None


def _check_type_keys(layers: list[Layer], owner: str) -> None:
    seen: dict[str, type[serializers.ModelSerializer]] = {}
    for layer in layers:
        other = seen.setdefault(layer.type_key, layer.serializer_class)
        if other is not layer.serializer_class:
            raise ImproperlyConfigured(
                f"{owner}: two serializers map to type {layer.type_key!r} "
                f"({other.__module__} and "
                f"{layer.serializer_class.__module__}); rename one"
            )

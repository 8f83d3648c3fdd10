"""Split a nested DRF ``ModelSerializer`` into flat layers, one per serializer position."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from rest_framework import serializers

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

    layers: list[Layer]
    many: bool

    @property
    def root(self) -> Layer:
        """The anchor's layer."""
        return self.layers[0]

    @property
    def scoped_parents(self) -> list[Layer]:
        """Layers with a nested ``user_key`` layer: their lists are filtered per user."""
        return [layer for layer in self.layers if any(c.user_key for c in layer.children)]

    def tables(self) -> set[str]:
        """Every table whose rows can change this state (layer tables and through tables)."""
        out = {layer.table for layer in self.layers}
        out |= {layer.through_table for layer in self.layers if layer.through_table}
        return out


def build_state(anchor: serializers.BaseSerializer, owner: str) -> StateModel:
    """Build the layers of ``anchor`` (a ``ModelSerializer``, or one with ``many=True``)."""
    many = isinstance(anchor, serializers.ListSerializer)
    root = anchor.child if many else anchor
    if not isinstance(root, serializers.ModelSerializer):
        raise ImproperlyConfigured(f"{owner}: Meta.anchor must be a ModelSerializer instance")
    layers: list[Layer] = []
    _add_layer(layers, root, None, None, owner)
    _check_type_keys(layers, owner)
    return StateModel(layers=layers, many=many)


def _add_layer(
    layers: list[Layer],
    serializer: serializers.ModelSerializer,
    parent: Layer | None,
    nested: tuple[str, str, bool] | None,
    owner: str,
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
    nested_fields = _nested_fields(serializer, model, owner)
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
        ordering=_ordering(model),
        **extra,
    )
    layers.append(layer)
    for name, (child, child_source, child_many) in nested_fields.items():
        layer.children.append(
            _add_layer(layers, child, layer, (name, child_source, child_many), owner)
        )
    return layer


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
        if not f.read_only:
            raise ImproperlyConfigured(
                f"{where}: nested serializers in a state must be read_only=True"
            )
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
    try:
        f = parent_model._meta.get_field(source)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"{where}: {parent_model.__name__} has no relation {source!r}"
        ) from exc
    if isinstance(f, models.ManyToManyField):
        through = f.remote_field.through
        parent_fk = through._meta.get_field(f.m2m_field_name())
        return Relation.M2M, _through(through, parent_fk)
    if isinstance(f, models.ManyToManyRel):
        through = f.through
        parent_fk = through._meta.get_field(f.field.m2m_reverse_field_name())
        return Relation.M2M, _through(through, parent_fk)
    if isinstance(f, models.ForeignKey):  # includes OneToOneField
        return Relation.FORWARD, {"fk_column": f.column}
    if isinstance(f, models.ForeignObjectRel) and isinstance(f.field, models.ForeignKey):
        return Relation.REVERSE, {"fk_column": f.field.column}
    raise ImproperlyConfigured(
        f"{where}: {type(f).__name__} {source!r} cannot be tracked from the "
        "WAL (only FK, one-to-one and many-to-many relations can)"
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


def _ordering(model: type[models.Model]) -> tuple[tuple[str, bool], ...]:
    """The local columns of ``Meta.ordering`` that decide where a row sits in a related list.

    Orderings through relations (``"author__name"``) or expressions are not tracked here.
    """
    out = []
    for item in model._meta.ordering:
        if not isinstance(item, str) or "__" in item or item == "?":
            continue
        name = item.lstrip("-")
        attname = model._meta.pk.attname if name == "pk" else model._meta.get_field(name).attname
        out.append((str(attname), item.startswith("-")))
    return tuple(out)


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

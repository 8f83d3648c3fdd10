"""What a serializer's own (non-nested) fields read from other tables.

A nested serializer is a layer of its own; every other field reads its row, and some read more:
a related field (``SlugRelatedField``, ``StringRelatedField``, a to-many
``PrimaryKeyRelatedField``), a dotted ``source=`` through relations, columns a multi-table
inheritance child keeps in its parents' tables, and whatever ``Meta.depends`` declares for a
``SerializerMethodField`` or a model property. Each is a *path*: ORM accessor names from the
serializer's model, one per relation crossed. The layers module tracks each path as hidden
layers, so a change to a row on it re-reads the rows that read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from rest_framework import serializers

__all__ = ["Reads", "find_relation", "order_items", "ordering", "reads"]

Path = tuple[str, ...]


@dataclass(frozen=True)
class Reads:
    """A serializer's dependencies: relation paths to track and undeclared method fields."""

    paths: tuple[Path, ...]
    undeclared: tuple[str, ...]  # SerializerMethodFields without a Meta.depends entry


def find_relation(model: type[models.Model], name: str) -> Any:
    """The relation field ``model.<name>`` follows: a field name or a reverse accessor name.

    ``thing_set`` (a reverse FK without ``related_name``) is an accessor, not a field name,
    yet DRF reads it. Returns None for a name that is not a relation (a column, a property).
    """
    try:
        f = model._meta.get_field(name)
    except FieldDoesNotExist:
        f = next(
            (rel for rel in model._meta.related_objects if rel.get_accessor_name() == name),
            None,
        )
    if f is None or not (f.is_relation or _is_generic(f)):
        return None
    return f


def reads(serializer: serializers.ModelSerializer, nested: Iterable[str], where: str) -> Reads:
    """Relation paths the non-nested fields of ``serializer`` read, deduplicated.

    Raises ``ImproperlyConfigured`` for a field rxcdc cannot keep exact (hyperlinked fields,
    generic relations, a ``Meta.depends`` path that is not a relation).
    """
    model = serializer.Meta.model
    depends: dict[str, Iterable[str]] = getattr(serializer.Meta, "depends", None) or {}
    skip = set(nested)
    paths: list[Path] = []
    undeclared: list[str] = []
    for name, declared in depends.items():
        if name not in serializer.fields:
            raise ImproperlyConfigured(
                f"{where}: Meta.depends names {name!r}, which is not a field of "
                f"{type(serializer).__name__}"
            )
        if isinstance(declared, str):
            raise ImproperlyConfigured(
                f"{where}: Meta.depends[{name!r}] must be a list of relation paths, "
                f"not the string {declared!r}"
            )
        for text in declared:
            paths.append(_declared_path(model, text, f"{where}: Meta.depends[{name!r}]"))
    for name, f in serializer.fields.items():
        if name in skip or name in depends:
            continue
        here = f"{where}.{name}"
        if isinstance(f, serializers.SerializerMethodField):
            undeclared.append(name)
            continue
        path = _field_path(model, f, here)
        if path:
            paths.append(path)
    paths += [(ptr.name,) for ptr in _parent_links(model)]
    return Reads(paths=tuple(dict.fromkeys(paths)), undeclared=tuple(undeclared))


def ordering(model: type[models.Model]) -> tuple[tuple[tuple[str, bool], ...], bool, list[Path]]:
    """How a related list of ``model`` is ordered: (local attnames, opaque, relation paths).

    The default manager's ``order_by`` wins over ``Meta.ordering``, as it does for
    ``parent.<relation>.all()``. *Opaque* means a row's place cannot be told from its own
    columns (an expression, or a column of a related row on one of the paths).
    """
    items = order_items(model)
    local: list[tuple[str, bool]] = []
    opaque = False
    paths: list[Path] = []
    for item in items:
        if not isinstance(item, str):
            opaque = True
            paths += _expression_paths(model, item)
            continue
        if item == "?":
            continue  # random: no list order to keep
        name = item.lstrip("-")
        if name == "pk":
            local.append((str(model._meta.pk.attname), item.startswith("-")))
            continue
        hops = _hops(model, name.split("__"))
        f = find_relation(model, name)
        if hops and not (isinstance(f, models.ForeignKey) and not f.related_model._meta.ordering):
            opaque = True
            paths.append(hops)
            continue
        local.append((str(model._meta.get_field(name).attname), item.startswith("-")))
    return tuple(local), opaque, paths


def order_items(model: type[models.Model]) -> tuple[Any, ...]:
    """What orders ``parent.<relation>.all()``: its manager's order_by, else Meta.ordering."""
    return tuple(model._default_manager.all().query.order_by or model._meta.ordering)


def _expression_paths(model: type[models.Model], expression: Any) -> list[Path]:
    """Relation paths an ordering expression reads (through the ``F()`` names inside it)."""
    out = []
    for node in expression.flatten() if hasattr(expression, "flatten") else ():
        if isinstance(node, models.F):
            hops = _hops(model, node.name.split("__"))
            if hops:
                out.append(hops)
    return out


def _hops(model: type[models.Model], names: list[str]) -> Path:
    """The leading relation names of a lookup path (``author__team__name`` → author, team).

    A path ending on a relation (ordering by ``author``) orders by the related model's own
    ordering, so it counts as a hop too.
    """
    hops: list[str] = []
    for name in names:
        f = find_relation(model, name)
        if f is None:
            break
        hops.append(name)
        if _is_generic(f):
            break  # refused by the caller: no model to go on from
        model = f.related_model
    return tuple(hops)


def _declared_path(model: type[models.Model], text: str, where: str) -> Path:
    names = text.split("__")
    hops = _hops(model, names)
    if len(hops) != len(names):
        raise ImproperlyConfigured(
            f"{where}: {text!r} is not a path of relations from {model.__name__}; "
            "name the relations whose rows the field reads, separated by '__'"
        )
    _refuse_generic(model, hops, where)
    return hops


def _field_path(model: type[models.Model], f: serializers.Field, where: str) -> Path:
    """The relations a field's ``source`` crosses, or () when it reads its own row only."""
    child = f.child_relation if isinstance(f, serializers.ManyRelatedField) else f
    if isinstance(child, serializers.HyperlinkedRelatedField):  # identity fields included
        raise ImproperlyConfigured(
            f"{where}: {type(child).__name__} builds URLs from the request, and rxcdc "
            "serializes without one; use PrimaryKeyRelatedField or SlugRelatedField"
        )
    if f.source == "*":
        return ()
    names = f.source.split(".")
    hops = _hops(model, names)
    _refuse_generic(model, hops, where)
    if (
        len(hops) == len(names) == 1
        and isinstance(f, serializers.PrimaryKeyRelatedField)
        and isinstance(find_relation(model, names[0]), models.ForeignKey)
    ):
        return ()  # DRF reads the FK column itself (its pk-only optimization)
    return hops


def _refuse_generic(model: type[models.Model], hops: Path, where: str) -> None:
    for name in hops:
        f = find_relation(model, name)
        if _is_generic(f):
            raise ImproperlyConfigured(
                f"{where}: {name!r} is a generic relation ({type(f).__name__}); rxcdc cannot "
                "follow a content type from the WAL. Point a ForeignKey at the model instead"
            )
        model = f.related_model


def _is_generic(f: Any) -> bool:
    return type(f).__name__ in {"GenericForeignKey", "GenericRelation", "GenericRel"}


def _parent_links(model: type[models.Model]) -> list[Any]:
    """One-to-one links to the tables a multi-table inheritance child keeps columns in."""
    return [ptr for ptr in model._meta.parents.values() if ptr is not None]

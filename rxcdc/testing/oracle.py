"""Ground truth from DRF itself: what a DRF view would send for an anchor, scoped per user.

It judges rxcdc (DESIGN invariant 14), so it shares no code with rxcdc's server side: the nested
output comes from the anchor serializer and DRF's ``JSONRenderer``; ``Meta.user_key`` scoping reads
each nested row's owner from the database.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Model
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

__all__ = ["diff", "ground_truth"]

MISSING = "__missing__"  # how rxcdc.testing.reference renders an id whose row is not held


def ground_truth(
    anchor_serializer_class: type[serializers.ModelSerializer],
    instance: Model | None,
    user_id: Any = None,
) -> dict[str, Any] | None:
    """DRF's nested rendering of ``instance`` as JSON values, with other users' rows removed.

    Rows of a serializer whose Meta has ``user_key`` stay only when that field's value is
    ``user_id`` (a row without an owner reaches nobody). None when ``instance`` is None.
    """
    if instance is None:
        return None
    serializer = anchor_serializer_class(instance)
    data: dict[str, Any] = json.loads(JSONRenderer().render(serializer.data))
    _scope(serializer, data, user_id)
    return data


def _scope(serializer: serializers.BaseSerializer, data: dict[str, Any], user_id: Any) -> None:
    for name, f in serializer.fields.items():
        if name not in data:
            continue
        if isinstance(f, serializers.ListSerializer) and isinstance(
            f.child, serializers.ModelSerializer
        ):
            items = data[name] or []
            if getattr(f.child.Meta, "user_key", None):
                mine = _visible(f.child, items, user_id)
                items = data[name] = [item for item, keep in zip(items, mine, strict=True) if keep]
            for item in items:
                _scope(f.child, item, user_id)
        elif isinstance(f, serializers.ModelSerializer) and data[name] is not None:
            if getattr(f.Meta, "user_key", None) and not _visible(f, [data[name]], user_id)[0]:
                data[name] = None
            else:
                _scope(f, data[name], user_id)


def _visible(
    serializer: serializers.ModelSerializer, items: list[dict[str, Any]], user_id: Any
) -> list[bool]:
    """Per rendered row, whether its owner (read from the database by its pk) is ``user_id``."""
    model = serializer.Meta.model
    pk_field = model._meta.pk
    rendered = [
        name
        for name, f in serializer.fields.items()
        if f.source in (pk_field.name, pk_field.attname, "pk") and not f.write_only
    ]
    if not rendered:
        raise ValueError(
            f"{type(serializer).__name__} has Meta.user_key but does not render its primary key "
            f"{pk_field.name!r}: add it to Meta.fields so ground_truth can read each row's owner"
        )
    owner_column = model._meta.get_field(serializer.Meta.user_key).attname
    pks = [pk_field.to_python(item[rendered[0]]) for item in items]
    owners = dict(model._default_manager.filter(pk__in=pks).values_list("pk", owner_column))
    # a row gone from the database has no owner: it reaches nobody
    return [owners.get(pk) is not None and str(owners[pk]) == str(user_id) for pk in pks]


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Human-readable differences between two JSON values; [] when equal (list order matters)."""
    where = path or "<root>"
    if isinstance(actual, dict) and MISSING in actual and not _is_missing(expected):
        return [f"{where}: missing row {actual[MISSING]}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in expected:
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: absent (expected {expected[key]!r})")
            else:
                out += diff(expected[key], actual[key], sub)
        for key in actual:
            if key not in expected:
                out.append(f"{path}.{key}" if path else str(key))
                out[-1] += f": unexpected {actual[key]!r}"
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        return _diff_lists(expected, actual, path)
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: {expected!r} != {actual!r}"]
    return []


def _is_missing(value: Any) -> bool:
    return isinstance(value, dict) and MISSING in value


_NO_ID = object()


def _ident(item: Any) -> Any:
    """A nested row's id: its ``id`` field, or the pk of a MISSING marker; _NO_ID otherwise."""
    if _is_missing(item):
        pk = str(item[MISSING]).rpartition(":")[2]
        return int(pk) if pk.lstrip("-").isdigit() else pk
    if isinstance(item, dict) and "id" in item:
        return item["id"]
    return _NO_ID


def _diff_lists(expected: list[Any], actual: list[Any], path: str) -> list[str]:
    where = path or "<root>"
    ids_e, ids_a = [_ident(x) for x in expected], [_ident(x) for x in actual]
    if _NO_ID in ids_e or _NO_ID in ids_a:
        if len(expected) != len(actual):
            return [f"{where}: {expected!r} != {actual!r}"]
        pairs = list(zip(expected, actual, strict=True))
        return [m for i, (e, a) in enumerate(pairs) for m in diff(e, a, f"{path}[{i}]")]
    out: list[str] = []
    if ids_e != ids_a:
        out.append(f"{where}: ids {ids_e!r} != {ids_a!r}")
    # rows present on both sides are compared too, under their index in `expected`
    by_id = {i: x for i, x in zip(ids_a, actual, strict=True)}
    for i, (ident, item) in enumerate(zip(ids_e, expected, strict=True)):
        if ident in by_id:
            out += diff(item, by_id[ident], f"{path}[{i}]")
    return out

"""Writes from the browser (optimistic updates): checked in order, then saved through the ORM.

The saved change reaches every client through the WAL like any other; the result frame only
tells the writer whether its write was accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from channels.db import database_sync_to_async
from django.db import transaction
from rest_framework import serializers

from rxcdc import clients, frames
from rxcdc.actions import ActionError
from rxcdc.cache import Cache
from rxcdc.keys import bad_write_keys
from rxcdc.layers import Layer, Relation

__all__ = ["CREATE", "DELETE", "SAVE", "answer", "apply_write"]

log = logging.getLogger("rxcdc.writes")

SAVE, CREATE, DELETE = "save", "create", "delete"


def _writable_layer(channel: Any, type_key: str, op: str) -> Layer:
    writable = getattr(type(channel).Meta, "writable", {}) or {}
    for layer in type(channel).state().layers:
        if layer.type_key != type_key:
            continue
        ops = writable.get(layer.serializer_class, ())
        if op in ops:
            return cast(Layer, layer)
    raise ActionError(f"{op} of {type_key} is not writable on this channel", "not_writable")


def apply_write(
    channel: Any, cache: Cache, anchors: list[Any], user: Any, frame: dict[str, Any]
) -> dict[str, Any]:
    """Check and perform one write frame (sync: call in a thread); returns the result fields.

    Checks, in order: the type and operation are declared writable; the target (or, for a
    create, its parent) is in this connection's state; ``can_save``/``can_create``/``can_delete``
    (default deny); DRF validation (full for create, partial for save).
    """
    op, type_key = frame["op"], frame["instance_type"]
    if op not in (SAVE, CREATE, DELETE):
        raise ActionError(f"unknown write operation {op!r}", "malformed")
    layer = _writable_layer(channel, type_key, op)
    label = type(channel).label()
    model = layer.model
    if op == CREATE:
        return _create(channel, cache, anchors, user, frame, layer, label)
    if frame.get("pk") is None:
        raise ActionError(f"{op} needs 'pk'", "malformed")
    pk = model._meta.pk.to_python(frame["pk"])
    if not cache.holds(label, anchors, type_key, pk):
        raise ActionError(f"{type_key} {pk} is not in this channel's state", "not_in_state")
    instance = model._default_manager.filter(pk=pk).first()
    if instance is None:
        raise ActionError(f"{type_key} {pk} does not exist", "not_in_state")
    if op == DELETE:
        if not channel.can_delete(user, instance):
            raise ActionError("delete refused", "forbidden")
        instance.delete()
        return {"pk": frame["pk"]}
    data = frame.get("data") or {}
    if not channel.can_save(user, instance, data):
        raise ActionError("save refused", "forbidden")
    ser = layer.serializer_class(instance, data=data, partial=True)
    _validate(ser)
    with transaction.atomic():
        ser.save()
    return {"pk": frame["pk"]}


async def answer(
    channel: Any, anchors: list[Any], user: Any, frame: dict[str, Any]
) -> Mapping[str, Any]:
    """Check and perform a ``write`` frame: its ``write.result``, or a ``write.error``."""
    problem = bad_write_keys(type(channel), frame)
    if problem is not None:
        return frames.request_error("write.error", frame["id"], "malformed", problem)
    try:
        result = await database_sync_to_async(apply_write)(
            channel, clients.cache(), anchors, user, frame
        )
    except ActionError as exc:
        return frames.request_error("write.error", frame["id"], exc.code, str(exc))
    except Exception:
        log.exception("write %s failed", frame.get("id"))
        return frames.request_error("write.error", frame["id"], "failed", "write failed")
    return frames.write_result(frame["id"], result["pk"])


def _create(
    channel: Any,
    cache: Cache,
    anchors: list[Any],
    user: Any,
    frame: dict[str, Any],
    layer: Layer,
    label: str,
) -> dict[str, Any]:
    parent = layer.parent
    if parent is None or layer.relation is not Relation.REVERSE:
        raise ActionError("create is possible for rows under a parent (reverse FK)", "not_writable")
    if frame.get("parent_pk") is None or frame.get("parent_type") != parent.type_key:
        raise ActionError(
            f"create of {layer.type_key} needs parent_type {parent.type_key!r} and parent_pk",
            "malformed",
        )
    parent_pk = parent.model._meta.pk.to_python(frame["parent_pk"])
    if not cache.holds(label, anchors, parent.type_key, parent_pk):
        raise ActionError(
            f"{parent.type_key} {parent_pk} is not in this channel's state", "not_in_state"
        )
    parent_obj = parent.model._default_manager.get(pk=parent_pk)
    data = frame.get("data") or {}
    if not channel.can_create(user, layer.serializer_class, parent_obj, data):
        raise ActionError("create refused", "forbidden")
    ser = layer.serializer_class(data=data)
    _validate(ser)
    fk = next(f for f in layer.model._meta.concrete_fields if f.column == layer.fk_column)
    extra = {fk.name: parent_obj}
    if layer.user_key:
        extra[layer.user_key] = user.pk
    with transaction.atomic():
        obj = ser.save(**extra)
    return {"pk": obj.pk}


def _validate(ser: serializers.ModelSerializer) -> None:
    if not ser.is_valid():
        raise ActionError(str(ser.errors), "invalid")

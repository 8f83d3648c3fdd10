"""What to generate: every layer type of the channels, grouped by app, with TS names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from rxcdc.codegen.ts import CodegenError, type_base
from rxcdc.layers import Layer, Relation

__all__ = ["WRITE_OPS", "Plan", "TypeInfo", "build_plan", "nested_nullable"]

WRITE_OPS = ("save", "create", "delete")


@dataclass
class TypeInfo:
    """One layer type (a serializer class): its TS names and where it is written from."""

    type_key: str
    app: str
    base: str
    layer: Layer  # the first layer of this type (writes use it too, as the server does)
    writes: set[str] = field(default_factory=set)

    @property
    def state(self) -> str:
        """Name of the nested state interface."""
        return f"{self.base}State"

    @property
    def instance(self) -> str:
        """Name of the flat instance interface."""
        return f"{self.base}Instance"


@dataclass
class Plan:
    """Every type used by the channels, and the channels by app."""

    types: dict[str, TypeInfo]
    channels: dict[str, list[Any]]

    def apps(self) -> list[str]:
        """Apps that get an interfaces file (apps of types) in stable order."""
        return sorted({info.app for info in self.types.values()})


def build_plan(channels: Sequence[Any]) -> Plan:
    """Collect layer types (one serializer class per type key) and writable operations."""
    types: dict[str, TypeInfo] = {}
    by_app: dict[str, list[Any]] = {}
    for channel in sorted(channels, key=lambda c: c.label()):
        by_app.setdefault(channel.label().split(".")[0], []).append(channel)
        for layer in channel.state().layers:
            info = types.get(layer.type_key)
            if info is None:
                app, base = layer.type_key.split(".")[0], type_base(layer.serializer_class.__name__)
                info = TypeInfo(layer.type_key, app, base, layer)
                types[layer.type_key] = info
            elif info.layer.serializer_class is not layer.serializer_class:
                raise CodegenError(
                    f"{channel.label()}: two serializers map to type {layer.type_key!r} "
                    f"({_qualname(info.layer.serializer_class)} and "
                    f"{_qualname(layer.serializer_class)}); rename one"
                )
        for serializer, ops in (getattr(channel.Meta, "writable", None) or {}).items():
            layer = _writable_layer(channel, serializer, ops)
            types[layer.type_key].writes.update(ops)
    names: dict[tuple[str, str], str] = {}
    for key, info in sorted(types.items()):
        other = names.setdefault((info.app, info.base), key)
        if other != key:
            raise CodegenError(
                f"types {other!r} and {key!r} would both be called {info.base}State; rename one"
            )
    return Plan(types=dict(sorted(types.items())), channels=by_app)


def _writable_layer(channel: Any, serializer: Any, ops: Sequence[str]) -> Layer:
    for op in ops:
        if op not in WRITE_OPS:
            raise CodegenError(
                f"{channel.label()}: Meta.writable[{serializer.__name__}] has unknown "
                f"operation {op!r} (use {', '.join(WRITE_OPS)})"
            )
    for layer in channel.state().layers:
        if layer.serializer_class is serializer:
            if "create" in ops and (layer.parent is None or layer.relation is not Relation.REVERSE):
                raise CodegenError(
                    f"{channel.label()}: Meta.writable allows create of {serializer.__name__}, "
                    "but only rows under a parent's reverse FK can be created"
                )
            return layer  # type: ignore[no-any-return]
    raise CodegenError(
        f"{channel.label()}: Meta.writable names {serializer.__name__}, which is not in the state"
    )


def nested_nullable(child: Layer) -> bool:
    """Whether a single nested reference can be null (nullable FK, reverse one-to-one, scoped)."""
    if child.user_key is not None or child.relation is not Relation.FORWARD:
        return True
    parent = child.parent
    assert parent is not None
    assert child.source is not None
    fk = parent.model._meta.get_field(child.source)
    return bool(isinstance(fk, models.Field) and fk.null)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"

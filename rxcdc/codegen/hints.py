"""Python type hints → TypeScript, for actions, runtime variables and computed fields."""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NewType

from rxcdc.codegen.ts import CodegenError, array, literal, prop, union

__all__ = ["BIGINT_TS", "BigInt", "Direction", "HintMapper"]

# An integer that may pass 2^53: the client parses it as a bigint there (rxcdc/client/json.ts).
BIGINT_TS = "number | bigint"

BigInt = NewType("BigInt", int)
"""An ``int`` hint typed ``number | bigint``: for results and fields that may pass 2^53 (ids).

A plain ``int`` hint is typed ``number``; the client holds any integer past 2^53 as a bigint.
"""

# "out": a value the server sends (action results, runtime variables); "in": an action parameter
# (converted by rxcdc.actions.convert); "state": a computed field of a flat instance (encoded by
# rxcdc.serialize.jsonable, which sends durations as seconds).
Direction = Literal["in", "out", "state"]

_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    type(None): "null",
    None: "null",
    decimal.Decimal: "string",
    datetime.datetime: "string",
    datetime.date: "string",
    datetime.time: "string",
    uuid.UUID: "string",
    typing.Any: "unknown",
    object: "unknown",
}
_SEQUENCES = (list, tuple, set, frozenset, cabc.Sequence, cabc.Iterable, cabc.Collection)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


@dataclass
class HintMapper:
    """Maps hints to TS type expressions; TypedDicts and dataclasses become named interfaces."""

    reserved: set[str] = field(default_factory=set)
    declarations: dict[str, str] = field(default_factory=dict)  # name → interface text
    _names: dict[tuple[Any, str], str] = field(default_factory=dict)

    def ts(self, hint: Any, where: str, direction: Direction) -> str:
        """The TS type for ``hint``; raises ``CodegenError`` naming an unsupported one."""
        if hint is BigInt:
            return BIGINT_TS
        if isinstance(hint, NewType):
            return self.ts(hint.__supertype__, where, direction)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Annotated:
            return self.ts(args[0], where, direction)
        if origin in (typing.Union, types.UnionType):
            return union(*(self.ts(a, where, direction) for a in args))
        if origin is Literal:
            return self._literals(args, hint, where)
        if hint is datetime.timedelta and direction != "in":
            # jsonable() sends seconds; DRF's encoder (action results) sends str(seconds)
            return "number" if direction == "state" else "string"
        try:
            if hint in _SCALARS:
                return _SCALARS[hint]
        except TypeError:  # unhashable
            pass
        if hint in _SEQUENCES or origin in _SEQUENCES:
            return self._sequence(hint, origin, args, where, direction)
        if hint in _MAPPINGS or origin in _MAPPINGS:
            value = self.ts(args[1], where, direction) if len(args) == 2 else "unknown"
            if args and args[0] not in (str, int, uuid.UUID, typing.Any):
                raise CodegenError(f"{where}: unsupported type hint {hint!r} (keys must be str)")
            return f"Record<string, {value}>"
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and direction != "in":
            return self._literals(tuple(m.value for m in hint), hint, where)
        if typing.is_typeddict(hint) or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return self._named(hint, where, direction)
        raise CodegenError(f"{where}: unsupported type hint {_name(hint)}")

    def _literals(self, values: tuple[Any, ...], hint: Any, where: str) -> str:
        for value in values:
            if value is not None and not isinstance(value, str | int | float | bool):
                raise CodegenError(f"{where}: unsupported type hint {_name(hint)}")
        return union(*(literal(v) for v in values))

    def _sequence(
        self, hint: Any, origin: Any, args: tuple[Any, ...], where: str, direction: Direction
    ) -> str:
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "[" + ", ".join(self.ts(a, where, direction) for a in args) + "]"
        item = self.ts(args[0], where, direction) if args else "unknown"
        return array(item)

    def _named(self, cls: type, where: str, direction: Direction) -> str:
        hints = typing.get_type_hints(cls, include_extras=True)
        optional: set[str] = set()
        if typing.is_typeddict(cls):
            optional = _optional_keys(cls, hints)
        elif direction == "in":
            optional = {
                f.name
                for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING
            }
        variant = "in" if direction == "in" and optional and not typing.is_typeddict(cls) else ""
        known = self._names.get((cls, variant))
        if known is not None:
            return known
        name = self._unique(cls.__name__ + ("Input" if variant else ""))
        self._names[(cls, variant)] = name
        self.reserved.add(name)
        lines = []
        for key, value in hints.items():
            if dataclasses.is_dataclass(cls) and key not in {
                f.name for f in dataclasses.fields(cls)
            }:
                continue
            value = _strip_required(value)
            ts = self.ts(value, f"{where} ({cls.__name__}.{key})", direction)
            lines.append(f"  {prop(key)}{'?' if key in optional else ''}: {ts};")
        doc = f"/** {cls.__module__}.{cls.__qualname__} */\n"
        self.declarations[name] = doc + f"export interface {name} {{\n" + "\n".join(lines) + "\n}"
        return name

    def _unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.reserved:
            candidate, n = f"{name}{n}", n + 1
        return candidate


def _optional_keys(cls: Any, hints: dict[str, Any]) -> set[str]:
    """TypedDict keys that may be missing (``NotRequired``, ``total=False``).

    ``__optional_keys__`` misses ``NotRequired`` written as a string annotation (Python 3.11).
    """
    out = set()
    for key, value in hints.items():
        origin = typing.get_origin(value)
        if origin is typing.NotRequired or (
            origin is not typing.Required
            and (key in cls.__optional_keys__ or not getattr(cls, "__total__", True))
        ):
            out.add(key)
    return out


def _strip_required(hint: Any) -> Any:
    """``Required[X]`` / ``NotRequired[X]`` (TypedDict) → ``X``."""
    if typing.get_origin(hint) in (typing.Required, typing.NotRequired):
        return typing.get_args(hint)[0]
    return hint


def _name(hint: Any) -> str:
    if isinstance(hint, type):
        return f"{hint.__module__}.{hint.__qualname__}"
    return repr(hint)

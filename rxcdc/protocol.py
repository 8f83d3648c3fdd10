"""The websocket protocol (docs/protocol.md): inbound frame validation and frame encoding.

The frames themselves are declared in ``rxcdc.frames``.
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import json
import math
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from rest_framework.utils.encoders import JSONEncoder

from rxcdc import frames
from rxcdc.frames import error

__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_NOT_FOUND",
    "CLOSE_SERVER_ERROR",
    "CLOSE_TIMEOUT",
    "CLOSE_UNAUTHENTICATED",
    "MAX_DEPTH",
    "PROTOCOL_VERSION",
    "FrameError",
    "dumps",
    "error",
    "parse",
]

PROTOCOL_VERSION = 1

# Close codes (4000-4999 are the application's): what a client should do differs per reason.
CLOSE_UNAUTHENTICATED = 4401  # log in again
CLOSE_FORBIDDEN = 4403  # has_permission said no: do not retry
CLOSE_NOT_FOUND = 4404  # the anchor does not exist
CLOSE_TIMEOUT = 4408  # no auth frame in time
CLOSE_SERVER_ERROR = 4500  # a hook of the channel raised (traceback in the server log): retry later
CLOSE_UNAVAILABLE = 4503  # the replication worker does not answer: retry later

# Arrays and objects nest at most this deep in an inbound frame: deeper ones are refused before
# anything recurses over them (json itself, type conversion, encoding an echo).
MAX_DEPTH = 32
MAX_LSN = 2**63 - 1  # what MongoDB (and Postgres' pg_lsn as bigint) can compare with


def _runtime_types(hint: Any) -> tuple[type, ...]:
    """The classes ``isinstance`` checks for a field declared as ``hint`` in ``rxcdc.frames``."""
    origin = get_origin(hint)
    if origin is Union or origin is UnionType:
        return tuple(t for arg in get_args(hint) for t in _runtime_types(arg))
    if origin is Annotated:
        return _runtime_types(get_args(hint)[0])
    return (origin or hint,)


def _inbound() -> dict[str, dict[str, tuple[tuple[type, ...], bool]]]:
    """Per inbound frame type: each field's classes and whether it must be present."""
    table = {}
    for declared in frames.CLIENT_FRAMES:
        declared_fields = frames.fields(declared)
        (kind,) = get_args(declared_fields.pop("type")[0])
        table[kind] = {name: (_runtime_types(h), req) for name, (h, req) in declared_fields.items()}
    return table


# What ``parse`` accepts, read off the declarations in ``rxcdc.frames`` once at import.
INBOUND = _inbound()


class FrameError(Exception):
    """An inbound frame the server cannot use; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(message)
        self.code, self.message, self.request_id = code, message, request_id


def parse(text: str | None, binary: bytes | None, max_bytes: int) -> dict[str, Any]:
    """Decode and validate one inbound frame, or raise ``FrameError``."""
    if binary is not None:
        raise FrameError("malformed", "binary frames are not supported; send JSON text")
    if text is None:
        raise FrameError("malformed", "empty frame")
    if len(text) > max_bytes:
        raise FrameError("too_large", f"frame of {len(text)} bytes exceeds {max_bytes}")
    try:
        frame = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise FrameError("malformed", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # also integers over sys.get_int_max_str_digits() digits
        raise FrameError("malformed", f"not JSON: {exc}") from None
    if _too_deep(frame):
        raise FrameError("malformed", f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(frame, dict):
        raise FrameError("malformed", "a frame is a JSON object with a 'type'")
    kind = frame.get("type")
    request_id = frame.get("id") if isinstance(frame.get("id"), str) else None
    if not isinstance(kind, str) or kind not in INBOUND:
        raise FrameError("unknown_type", f"unknown frame type {kind!r}", request_id)
    for name, (types, required) in INBOUND[kind].items():
        if name not in frame or frame[name] is None:
            if required:
                raise FrameError("malformed", f"{kind} frame needs {name!r}", request_id)
            continue
        value = frame[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise FrameError("malformed", f"{kind}.{name} has the wrong type", request_id)
    if kind == "auth" and frame.get("since"):
        for anchor, lsn in frame["since"].items():
            if isinstance(lsn, bool) or not isinstance(lsn, int) or not 0 <= lsn <= MAX_LSN:
                raise FrameError("malformed", f"auth.since[{anchor!r}] is not an LSN (an integer)")
    return frame


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    # 1e400 would read as inf, which nothing downstream can store or send back as JSON.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests lists and dicts deeper than ``MAX_DEPTH`` (iteratively)."""
    level = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


class FrameEncoder(JSONEncoder):
    """DRF's encoder (datetimes, UUIDs, lazy strings...), but decimals stay exact strings."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            return str(obj)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, set | frozenset):
            return sorted(obj, key=repr)
        return super().default(obj)


def dumps(frame: Mapping[str, Any]) -> str:
    """Encode a frame (see ``FrameEncoder``)."""
    return json.dumps(frame, cls=FrameEncoder, separators=(",", ":"))


def instance_text(inst: dict[str, Any]) -> str:
    """A server-side instance (flat fields as JSON text under ``json``) as its frame JSON.

    The fields stay text from the worker to the socket: big integers survive, and nothing is
    decoded and encoded again per connection.
    """
    fields = inst["json"]
    sep = "," if fields != "{}" else ""
    return (
        f'{fields[:-1]}{sep}"_type":{dumps(inst["_type"])},"_pk":{dumps(inst["_pk"])},'
        f'"_lsn":{int(inst["_lsn"])}}}'
    )


def frame_text(frame: Mapping[str, Any], instances: list[dict[str, Any]]) -> str:
    """Encode ``frame`` with an ``instances`` list of server-side instances (see above)."""
    head = dumps(frame)
    return f'{head[:-1]},"instances":[{",".join(map(instance_text, instances))}]}}'


def update_text(
    message: Mapping[str, Any], instances: list[dict[str, Any]], tombstones: list[dict[str, Any]]
) -> str:
    """The ``update`` frame of an ``rx.update`` message carrying ``instances``/``tombstones``."""
    head = frames.update_head(
        message["anchor"], message["lsn"], tombstones, message["part"], message["last"]
    )
    return frame_text(head, instances)


_SHARED: collections.OrderedDict[tuple[Any, ...], str] = collections.OrderedDict()


def shared_update_text(message: Mapping[str, Any]) -> str:
    """The ``update`` frame of a message every connection sees whole (no ``user_key`` rows).

    Every connection of the anchor sends the same bytes: encoded once per process (LRU).
    """
    key = (message["channel"], message["anchor"], message["lsn"], message["part"])
    text = _SHARED.get(key)
    if text is None:
        tombs = [{k: v for k, v in t.items() if k != "_user"} for t in message["tombstones"]]
        text = update_text(message, message["instances"], tombs)
        _SHARED[key] = text
        if len(_SHARED) > 256:
            _SHARED.popitem(last=False)
    return text

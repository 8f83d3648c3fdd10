"""``@action``: methods of a channel the browser may call, with typed parameters."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import inspect
import logging
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import APIException

from rxcdc import frames, protocol

__all__ = ["ActionError", "action", "answer", "consumer", "is_action", "run_action"]

log = logging.getLogger("rxcdc.actions")
F = TypeVar("F", bound=Callable[..., Any])


class ActionError(Exception):
    """Raise from an action to send the client ``code`` and ``message`` as they are."""

    def __init__(self, message: str, code: str = "failed"):
        super().__init__(message)
        self.code = code


def action(fn: F) -> F:
    """Mark a channel method (sync or async) as callable from the browser."""
    fn._rx_action = True  # type: ignore[attr-defined]
    return fn


def consumer(event_type: str) -> Callable[[F], F]:
    """Handle channel-layer messages of ``event_type`` sent to groups joined with ``group_add``."""

    def mark(fn: F) -> F:
        fn._rx_consumer = event_type  # type: ignore[attr-defined]
        return fn

    return mark


def is_action(owner: type, name: str) -> bool:
    """Whether ``owner.name`` is an ``@action`` (never a private or inherited helper)."""
    fn = getattr(owner, name, None)
    return not name.startswith("_") and bool(getattr(fn, "_rx_action", False))


async def run_action(channel: Any, name: str, params: dict[str, Any] | list[Any]) -> Any:
    """Convert the parameters by the method's hints, run it, return its result.

    Raises ``ActionError`` with a code the client can act on.
    """
    if not is_action(type(channel), name):
        raise ActionError(f"no action {name!r} on this channel", "unknown_action")
    fn = getattr(channel, name)
    try:
        bound = (
            inspect.signature(fn).bind(*params)
            if isinstance(params, list)
            else (inspect.signature(fn).bind(**params))
        )
        hints = typing.get_type_hints(fn)
        for key, value in bound.arguments.items():
            if key in hints:
                bound.arguments[key] = convert(value, hints[key])
    except (TypeError, ValueError, decimal.InvalidOperation) as exc:
        raise ActionError(f"bad parameters for {name}: {exc}", "invalid_params") from None
    try:
        if inspect.iscoroutinefunction(fn):
            return await fn(*bound.args, **bound.kwargs)
        return await database_sync_to_async(fn)(*bound.args, **bound.kwargs)
    except ActionError:
        raise
    except PermissionDenied as exc:
        raise ActionError(str(exc) or "permission denied", "forbidden") from None
    except (DjangoValidationError, APIException) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "messages", None) or str(exc)
        raise ActionError(str(detail), "invalid") from None
    except Exception:
        # Internals stay in the server log; the client learns only that it failed.
        log.exception("action %s.%s failed", type(channel).__name__, name)
        raise ActionError(f"action {name} failed", "failed") from None


async def answer(channel: Any, frame: dict[str, Any]) -> Mapping[str, Any]:
    """Run an ``action`` frame on ``channel``: its ``action.result``, or an ``action.error``."""
    try:
        result = await run_action(channel, frame["action"], frame.get("params") or {})
    except ActionError as exc:
        return frames.request_error("action.error", frame["id"], exc.code, str(exc))
    reply: Mapping[str, Any] = frames.action_result(frame["id"], result)
    try:
        protocol.dumps(reply)
    except (TypeError, ValueError) as exc:
        log.error("action %s returned what JSON cannot encode: %s", frame["action"], exc)
        reply = frames.request_error(
            "action.error",
            frame["id"],
            "failed",
            f"action {frame['action']} returned a value that cannot be sent",
        )
    return reply


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
    decimal.Decimal: lambda v: decimal.Decimal(str(v)),
    uuid.UUID: lambda v: uuid.UUID(str(v)),
}


def convert(value: Any, hint: Any) -> Any:
    """JSON value → the hinted Python type (datetimes, decimals, UUIDs, lists, dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        failures = []
        for option in (o for o in options if o is not type(None)):
            try:
                return convert(value, option)
            except (TypeError, ValueError, decimal.InvalidOperation) as exc:
                failures.append(str(exc))
        raise TypeError("; ".join(failures))
    if value is None:
        _check_json_type(value, hint, origin)
        return None
    if hint in _SCALARS and isinstance(value, str | int | float) and not isinstance(value, bool):
        return _SCALARS[hint](value)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint) or (Any,)
        return [convert(v, item) for v in value]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        return hint(**{k: convert(v, hints.get(k, Any)) for k, v in value.items()})
    _check_json_type(value, hint, origin)
    return value


# JSON types a hint accepts as they are (bool is an int in Python, never in JSON).
_JSON_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    list: (list,),
    dict: (dict,),
}


def _check_json_type(value: Any, hint: Any, origin: Any) -> None:
    """Raise ``TypeError`` when ``value`` is not of the JSON type ``hint`` names.

    Hints this cannot judge (``Any``, protocols, user classes) accept any value.
    """
    expected = _JSON_TYPES.get(origin or hint)
    if hint in _SCALARS or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        expected = ()  # reached here with a value the converters above did not take
    if expected is None:
        return
    wrong = not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)
    if wrong:
        name = getattr(hint, "__name__", str(hint))
        raise TypeError(f"expected {name}, got {type(value).__name__}")

"""How the consumer calls a channel's hooks with a route's URL arguments, and whether it can.

``has_permission(self, user, chat_room)`` (RxDjango's style: a required positional parameter
named after no URL argument) gets the anchor row; ``has_permission(self, user, **url_kwargs)``
gets the URL arguments by name. The system check ``rxcdc.E021`` asks the same questions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from typing import Any

__all__ = ["permission_arguments", "problems", "takes_anchor"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@functools.cache
def _signature(cls: type, name: str) -> inspect.Signature:
    """The hook's signature without ``self`` (inspected once per class)."""
    static = inspect.getattr_static(cls, name)
    sig = inspect.signature(getattr(cls, name))
    if isinstance(static, staticmethod | classmethod):
        return sig  # no self to drop (a classmethod is bound to the class)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


def takes_anchor(cls: type, url_names: Iterable[str]) -> bool:
    """Whether ``has_permission``'s second parameter wants the anchor row, not URL arguments."""
    params = list(_signature(cls, "has_permission").parameters.values())
    if len(params) < 2:
        return False
    second = params[1]
    return (
        second.kind in _POSITIONAL
        and second.default is inspect.Parameter.empty
        and second.name not in set(url_names)
    )


def permission_arguments(cls: type, url_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The URL arguments ``has_permission`` takes by name next to an anchor row (the rest go)."""
    params = list(_signature(cls, "has_permission").parameters.values())[2:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(url_kwargs)
    names = {p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    return {k: v for k, v in url_kwargs.items() if k in names}


def problems(cls: Any, url_names: list[str], route: str) -> list[str]:
    """Why the consumer could not call ``cls``'s hooks for ``route`` (empty when it can)."""
    kwargs = dict.fromkeys(url_names)
    given = f"the URL arguments of {route} ({_kwargs_text(url_names)})"
    out: list[str] = []
    single = not cls.is_list()
    anchor_style = takes_anchor(cls, url_names)
    if anchor_style and not single:
        out.append(
            f"has_permission takes a second positional parameter, which gets the anchor row, "
            f"but a list channel has no single anchor; take the URL arguments of {route} by "
            f"name: has_permission(self, user, {_kwargs_text(url_names)})"
        )
    elif anchor_style:
        rest = permission_arguments(cls, kwargs)
        out += _unbound(cls, "has_permission", (None, None), rest, "user, anchor row")
    else:
        out += _unbound(cls, "has_permission", (None,), kwargs, f"user, {given}")
    if single:
        out += _unbound(cls, "get_anchor", (), kwargs, given)
        if "get_anchor" not in _overrides(cls) and len(url_names) != 1:
            out.append(
                f"{route} has {len(url_names)} URL arguments; the default get_anchor takes "
                f"exactly one (the anchor's primary key): override get_anchor("
                f"self, {_kwargs_text(url_names)}) to return the anchor's primary key"
            )
    else:
        if "list_instances" not in _overrides(cls):
            out.append("a list channel needs list_instances(self, user, **url_kwargs)")
        else:
            out += _unbound(cls, "list_instances", (None,), kwargs, f"user, {given}")
        if cls.auto_update() and "is_visible" in _overrides(cls):
            out += _unbound(cls, "is_visible", (None, None), kwargs, f"user, instance, {given}")
    for name in ("has_permission", "get_anchor", "list_instances", "is_visible"):
        if name in _overrides(cls) and inspect.iscoroutinefunction(getattr(cls, name)):
            out.append(
                f"{name} is async, but it is called in a worker thread (its coroutine would "
                f"count as true): make it a plain def"
            )
    return out


def _unbound(
    cls: type, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], given: str
) -> list[str]:
    """Why ``name`` cannot be called with ``args`` and ``kwargs`` (``given`` says what they are)."""
    sig = _signature(cls, name)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        return [f"{name}{sig} cannot be called with {given}: {exc}"]
    return []


def _overrides(cls: type) -> set[str]:
    from rxcdc.channels import StateChannel

    return {
        name
        for name in ("has_permission", "get_anchor", "list_instances", "is_visible")
        if getattr(cls, name) is not getattr(StateChannel, name)
    }


def _kwargs_text(names: list[str]) -> str:
    return ", ".join(names) if names else "no arguments"

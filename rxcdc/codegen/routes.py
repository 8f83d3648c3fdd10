"""Each channel's websocket route: ``Meta.route``, ``RX_WEBSOCKET_URLCONF``, or discovered."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rxcdc.codegen.discover import app_routing_patterns, asgi_patterns, layers
from rxcdc.codegen.hints import BIGINT_TS
from rxcdc.codegen.ts import CodegenError, identifier, literal

__all__ = ["Route", "every_route", "find_routes", "parse_route"]

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
# `int` takes a bigint too: anchors keyed by a BigAutoField (String() of a bigint is exact).
_CONVERTERS = {"int": BIGINT_TS, "str": "string", "slug": "string", "uuid": "string"}


@dataclass(frozen=True)
class Route:
    """A ``path()`` route: literal text and ``(name, converter)`` parameters, in order."""

    pattern: str
    parts: tuple[str | tuple[str, str], ...]

    @property
    def params(self) -> list[tuple[str, str]]:
        """``(name, converter)`` of each URL parameter."""
        return [p for p in self.parts if isinstance(p, tuple)]

    def ts_params(self) -> list[tuple[str, str, str]]:
        """``(python name, TS name, TS type)``; ``path`` and custom converters are strings."""
        out = []
        for name, converter in self.params:
            ts_name = identifier(name)
            if ts_name == "options":
                ts_name = "options_"
            out.append((name, ts_name, _CONVERTERS.get(converter, "string")))
        return out

    def ts_path(self) -> str:
        """A TS expression building the path from the constructor's parameters."""
        names = {name: ts for name, ts, _ in self.ts_params()}
        pieces = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(literal(part))
            else:
                encode = "encodeURI" if part[1] == "path" else "encodeURIComponent"
                pieces.append(f"{encode}(String({names[part[0]]}))")
        return " + ".join(pieces) or '""'


def parse_route(pattern: str) -> Route:
    """Split a ``path()`` pattern such as ``ws/room/<int:room>/``."""
    parts: list[str | tuple[str, str]] = []
    pos = 0
    for match in _PARAM.finditer(pattern):
        if match.start() > pos:
            parts.append(pattern[pos : match.start()])
        parts.append((match["name"], match["converter"] or "str"))
        pos = match.end()
    if pos < len(pattern):
        parts.append(pattern[pos:])
    return Route(pattern.lstrip("^"), tuple(parts))


def find_routes(channels: Sequence[type], urlconf: str | Sequence[str] | None) -> dict[type, Route]:
    """The route of every channel: ``Meta.route``, else the first match in the urlconf.

    Without a urlconf: each installed app's ``routing.py``, then ``ASGI_APPLICATION``.
    """
    out: dict[type, Route] = {}
    missing = []
    for channel in channels:
        explicit = getattr(getattr(channel, "Meta", None), "route", None)
        if explicit is not None:
            out[channel] = parse_route(str(explicit))
        else:
            missing.append(channel)
    if not missing:
        return out
    modules = [urlconf] if isinstance(urlconf, str) else list(urlconf or ())
    # The ASGI application is imported only when the apps' routing modules left a channel out.
    sources: list[Callable[[], list[tuple[str, Sequence[Any]]]]] = (
        [lambda: _urlconf_patterns(modules)] if modules else [app_routing_patterns, asgi_patterns]
    )
    found: dict[type, Route] = {}
    for source in sources:
        for name, patterns in source():
            for channel, pattern in _walk(patterns, "", name):
                found.setdefault(channel, parse_route(pattern))
        if all(c in found for c in missing):
            break
    for channel in missing:
        if channel not in found:
            raise CodegenError(f"{_label(channel)}: no route found ({_where(modules)})")
        out[channel] = found[channel]
    return out


def every_route(
    channels: Sequence[type], urlconf: str | Sequence[str] | None
) -> dict[type, list[Route]]:
    """Each channel's routes: ``Meta.route`` and every ``path()`` that serves it.

    Looked up where ``find_routes`` looks; raises ``CodegenError`` where it does.
    """
    out: dict[type, list[Route]] = {}
    for channel in channels:
        explicit = getattr(getattr(channel, "Meta", None), "route", None)
        if explicit is not None:
            out[channel] = [parse_route(str(explicit))]
    modules = [urlconf] if isinstance(urlconf, str) else list(urlconf or ())
    sources: list[Callable[[], list[tuple[str, Sequence[Any]]]]] = (
        [lambda: _urlconf_patterns(modules)] if modules else [app_routing_patterns, asgi_patterns]
    )
    for source in sources:
        for name, patterns in source():
            for channel, pattern in _walk(patterns, "", name):
                routes = out.setdefault(channel, [])
                if parse_route(pattern) not in routes:
                    routes.append(parse_route(pattern))
        # The ASGI application is imported only when the apps' routing modules left one out.
        if all(c in out for c in channels):
            break
    return out


def _urlconf_patterns(modules: list[str]) -> list[tuple[str, Sequence[Any]]]:
    out = []
    for module_name in modules:
        patterns = getattr(importlib.import_module(module_name), "websocket_urlpatterns", None)
        if patterns is None:
            raise CodegenError(f"RX_WEBSOCKET_URLCONF: {module_name} has no websocket_urlpatterns")
        out.append((f"RX_WEBSOCKET_URLCONF {module_name}", patterns))
    return out


def _where(modules: list[str]) -> str:
    if modules:
        return (
            f"RX_WEBSOCKET_URLCONF lists {', '.join(modules)}: add the channel's path() there, "
            "or set Meta.route"
        )
    return (
        "looked in each installed app's routing.py (websocket_urlpatterns) and in "
        "ASGI_APPLICATION's URLRouter; set RX_WEBSOCKET_URLCONF to the module with your "
        "websocket_urlpatterns, or Meta.route"
    )


def _label(channel: type) -> str:
    label = getattr(channel, "label", None)
    return str(label()) if callable(label) else channel.__name__


def _walk(patterns: Iterable[Any], prefix: str | None, source: str) -> Iterable[tuple[type, str]]:
    """``(channel, route)`` of each channel in ``patterns``; ``prefix`` None: under a re_path."""
    for entry in patterns:
        route = getattr(getattr(entry, "pattern", None), "_route", None)
        here = None if prefix is None or route is None else prefix + route
        for layer in layers(entry.callback):
            if getattr(layer, "routes", None) is not None:
                yield from _walk(layer.routes, here, source)
                break
            channel = getattr(layer, "consumer_initkwargs", {}).get("channel_class")
            if channel is None:
                continue
            if here is None:
                # Only a channel's own route matters: other consumers may use re_path freely.
                raise CodegenError(
                    f"{source}: {entry!r} routes {_label(channel)} but is not a path() route "
                    "(re_path patterns cannot be turned into URLs; use path() or Meta.route)"
                )
            yield channel, here
            break

"""Each channel's websocket route: ``Meta.route``, or found in ``RX_WEBSOCKET_URLCONF``."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rxcdc.codegen.hints import BIGINT_TS
from rxcdc.codegen.ts import CodegenError, identifier, literal

__all__ = ["Route", "find_routes", "parse_route"]

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
    """The route of every channel: ``Meta.route`` wins, else the first match in the urlconf."""
    found: dict[type, Route] = {}
    modules = [urlconf] if isinstance(urlconf, str) else list(urlconf or ())
    for module_name in modules:
        module = importlib.import_module(module_name)
        patterns = getattr(module, "websocket_urlpatterns", None)
        if patterns is None:
            raise CodegenError(f"RX_WEBSOCKET_URLCONF: {module_name} has no websocket_urlpatterns")
        for channel, pattern in _walk(patterns, ""):
            found.setdefault(channel, parse_route(pattern))
    out = {}
    for channel in channels:
        meta: Any = getattr(channel, "Meta", None)
        explicit = getattr(meta, "route", None)
        if explicit is not None:
            out[channel] = parse_route(str(explicit))
        elif channel in found:
            out[channel] = found[channel]
        else:
            label = channel.label() if hasattr(channel, "label") else channel.__name__
            raise CodegenError(
                f"{label}: no route found (set RX_WEBSOCKET_URLCONF to the module "
                "with your websocket_urlpatterns, or Meta.route)"
            )
    return out


def _walk(patterns: Iterable[Any], prefix: str) -> Iterable[tuple[type, str]]:
    for entry in patterns:
        pattern = getattr(entry, "pattern", None)
        route = getattr(pattern, "_route", None)
        if route is None:
            raise CodegenError(
                f"RX_WEBSOCKET_URLCONF: {entry!r} is not a path() route (re_path patterns cannot "
                "be turned into URLs; use path() or Meta.route)"
            )
        app = entry.callback
        if hasattr(app, "routes"):
            yield from _walk(app.routes, prefix + route)
            continue
        channel = _channel_of(app)
        if channel is not None:
            yield channel, prefix + route


def _channel_of(app: Any) -> type | None:
    """The StateChannel behind an ASGI app (unwrapping per-route middleware)."""
    for _ in range(20):
        if app is None:
            return None
        channel = getattr(app, "consumer_initkwargs", {}).get("channel_class")
        if channel is not None:
            return channel  # type: ignore[no-any-return]
        app = getattr(app, "inner", None)
    return None

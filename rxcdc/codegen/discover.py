"""Where websocket routes live when nothing says: apps' ``routing.py``, ``ASGI_APPLICATION``."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string

from rxcdc.codegen.ts import CodegenError

__all__ = ["app_routing_patterns", "asgi_patterns", "layers"]

# Attributes under which Channels' middleware (and the usual third-party ones) keep the app
# they wrap: BaseMiddleware and the auth stack `inner`, OriginValidator `application`.
_WRAPPED = ("inner", "application", "app")


def app_routing_patterns() -> list[tuple[str, Sequence[Any]]]:
    """``(module, websocket_urlpatterns)`` of each installed app's ``routing`` module."""
    out = []
    for config in apps.get_app_configs():
        name = f"{config.name}.routing"
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # the app is a plain module, not a package
            continue
        if spec is None:
            continue
        # rxcdc's own `routing` (changes → anchors) and others without patterns are skipped
        patterns = getattr(importlib.import_module(name), "websocket_urlpatterns", None)
        if patterns is not None:
            out.append((name, patterns))
    return out


def asgi_patterns() -> list[tuple[str, Sequence[Any]]]:
    """The routes of ``ASGI_APPLICATION``'s websocket ``URLRouter``, middleware unwrapped."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return []
    try:
        application = import_string(path)
    except ImportError as exc:
        raise CodegenError(
            f"ASGI_APPLICATION {path!r} cannot be imported ({exc}); fix it, or set "
            "RX_WEBSOCKET_URLCONF to the module with your websocket_urlpatterns"
        ) from None
    for layer in layers(application):
        mapping = getattr(layer, "application_mapping", None)
        if isinstance(mapping, dict):  # ProtocolTypeRouter: only its websocket side routes
            return _router_of(mapping.get("websocket"), f"ASGI_APPLICATION {path}")
    return _router_of(application, f"ASGI_APPLICATION {path}")


def layers(app: Any) -> Iterator[Any]:
    """``app`` and each app it wraps, outermost first (bounded: wrappers may cycle)."""
    for _ in range(50):
        if app is None:
            return
        yield app
        app = next((getattr(app, a) for a in _WRAPPED if getattr(app, a, None) is not None), None)


def _router_of(app: Any, source: str) -> list[tuple[str, Sequence[Any]]]:
    for layer in layers(app):
        routes = getattr(layer, "routes", None)
        if routes is not None:
            return [(source, routes)]
    return []

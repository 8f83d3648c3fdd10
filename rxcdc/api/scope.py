"""A Django ``HttpRequest`` built from a websocket scope (DRF permissions and wrapped views)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest

__all__ = ["ensure_async", "request_from_scope"]


def ensure_async(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """``method`` itself when it is a coroutine function, else run in a thread with DB cleanup."""
    if asyncio.iscoroutinefunction(method):
        return method
    return database_sync_to_async(method)  # type: ignore[no-any-return]


def request_from_scope(scope: dict[str, Any], method: str = "GET", data: Any = None) -> HttpRequest:
    """A request carrying the scope's user, session, cookies, headers and an optional JSON body."""
    from django.contrib.auth.models import AnonymousUser

    request = HttpRequest()
    request.method = method
    request.path = request.path_info = scope.get("path", "")
    request.session = scope.get("session")
    request.user = scope.get("user") or AnonymousUser()
    request.COOKIES = dict(scope.get("cookies") or {})
    for name, value in scope.get("headers", []):
        key = name.decode("latin1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        request.META[key] = value.decode("latin1")
    client = scope.get("client")
    if client:
        request.META["REMOTE_ADDR"] = client[0]
    request.META["HTTP_ACCEPT"] = "application/json"
    body = b"" if data is None else json.dumps(data).encode()
    request.META["CONTENT_TYPE"] = "application/json"
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._body = body
    request._stream = io.BytesIO(body)
    request._read_started = False
    # The socket is the request: its whole origin was checked when it opened (AsyncAPIConsumer)
    # and there is no form to forge, so CSRF checks do not apply to frames.
    request._dont_enforce_csrf_checks = True
    return request

"""Whole-origin checks for websockets: scheme, host and port, like Django's CSRF origin check.

Browsers send ``Origin`` on every websocket handshake and attach the session cookie whatever
page opened the socket, so the origin is what stops another site from using a visitor's session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from rxcdc.conf import rx_settings

__all__ = [
    "OriginValidator",
    "allowed_origins",
    "foreign_origin",
    "has_cookie",
    "header",
    "is_allowed",
    "origin_of",
    "request_origin",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """The value of header ``name`` (lowercase) in an ASGI scope, or None."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def origin_of(scope: dict[str, Any]) -> str | None:
    """The handshake's ``Origin`` header (None when absent)."""
    return header(scope, b"origin")


def has_cookie(scope: dict[str, Any]) -> bool:
    """Whether the handshake carried cookies (credentials a browser attaches by itself)."""
    return bool(header(scope, b"cookie"))


def normalize(origin: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` → (scheme, host, port) with the default port filled in."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def request_origin(scope: dict[str, Any]) -> str | None:
    """The origin of a page served by this server: the socket's scheme and ``Host``.

    As Django's ``request.is_secure()``/``get_host()`` see them (``SECURE_PROXY_SSL_HEADER``,
    ``USE_X_FORWARDED_HOST``); None when the host is missing or not in ``ALLOWED_HOSTS``.
    """
    host = header(scope, b"host")
    if getattr(settings, "USE_X_FORWARDED_HOST", False):
        host = header(scope, b"x-forwarded-host") or host
    scheme = _SCHEMES.get(str(scope.get("scheme") or "ws").lower())
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        # daphne's websocket scopes carry no scheme, even over TLS: the balancer's header says.
        name, secure = proxy
        forwarded = header(scope, name.lower().removeprefix("http_").replace("_", "-").encode())
        if forwarded is not None:
            scheme = "https" if forwarded.split(",")[0].strip() == secure else "http"
    if not host or scheme is None:
        return None
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django's own request.get_host()
    if not domain or not validate_host(domain, allowed):
        return None
    return f"{scheme}://{host}"


def allowed_origins(scope: dict[str, Any]) -> list[str]:
    """``RX_ALLOWED_ORIGINS`` if set; else the socket's own origin and ``CSRF_TRUSTED_ORIGINS``."""
    configured = rx_settings.ALLOWED_ORIGINS
    if configured is not None:
        return list(configured)
    own = request_origin(scope)
    return ([own] if own else []) + list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []))


def is_allowed(origin: str, scope: dict[str, Any]) -> bool:
    """Whether a page on ``origin`` may use this socket (exact origin, or ``scheme://*.domain``)."""
    seen = normalize(origin)
    if seen is None:  # "null" (sandboxed frames, file:), or not an http(s) origin
        return False
    for entry in allowed_origins(scope):
        if "://*." in entry:
            scheme, _, pattern = entry.partition("://")
            netloc = seen[1] if seen[2] == _DEFAULT_PORTS[seen[0]] else f"{seen[1]}:{seen[2]}"
            if scheme.lower() == seen[0] and is_same_domain(netloc, pattern[1:].lower()):
                return True
        elif normalize(entry) == seen:
            return True
    return False


def foreign_origin(scope: dict[str, Any]) -> str | None:
    """The handshake's ``Origin`` when a page there may not use this socket, else None."""
    origin = origin_of(scope)
    return origin if origin is not None and not is_allowed(origin, scope) else None


class OriginValidator:
    """ASGI middleware for any websocket route (channels' ``AllowedHostsOriginValidator``, whole).

    A foreign ``Origin`` is refused at the handshake (HTTP 403); without one, the cookies are
    dropped, so only a token can authenticate. ``StateChannel`` routes (typed ``auth.error``)
    and ``rxcdc.api`` consumers check the same by themselves; it is for other consumers.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            if origin_of(scope) is None:
                headers = [(k, v) for k, v in scope.get("headers") or () if k.lower() != b"cookie"]
                scope = {**scope, "headers": headers}
            elif foreign_origin(scope):
                from channels.security.websocket import WebsocketDenier

                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

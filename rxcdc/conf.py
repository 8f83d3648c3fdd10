"""rxcdc settings: defaults, checks and typed access (``rx_settings``); docs/settings.md."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _integer(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


@dataclass(frozen=True)
class Kind:
    """What a setting's value must be: ``ok(value)``, said as ``what``; ``coerce`` once ok."""

    what: str
    ok: Callable[[Any], bool]
    coerce: Callable[[Any], Any] = lambda value: value


SECONDS = Kind("a positive number of seconds", lambda v: _number(v) and v > 0, float)
RATE = Kind("a positive number (per second)", lambda v: _number(v) and v > 0, float)
COUNT = Kind("a positive integer", lambda v: _integer(v) and v >= 1)
TEXT = Kind("a non-empty string", lambda v: isinstance(v, str) and bool(v))
OPTIONAL_TEXT = Kind("a string or None", lambda v: v is None or isinstance(v, str))
FLAG = Kind("True or False", lambda v: isinstance(v, bool))
# A folder, as text or a pathlib.Path (settings.py files build paths from BASE_DIR).
OPTIONAL_PATH = Kind(
    "a path (text or pathlib.Path) or None",
    lambda v: v is None or isinstance(v, str | os.PathLike),
    lambda v: None if v is None else os.fspath(v),
)
# Postgres accepts only these in a replication slot's name.
SLOT = Kind(
    "1-63 lower-case letters, digits or underscores (a slot name)",
    lambda v: isinstance(v, str) and re.fullmatch(r"[a-z0-9_]{1,63}", v) is not None,
)
PORT = Kind(
    "a TCP port (0-65535; 0: any free one) or None",
    lambda v: v is None or (_integer(v) and 0 <= v <= 65535),
)
ANY = Kind("anything", lambda v: True)


@dataclass(frozen=True)
class Setting:
    """One ``RX_`` setting: its default, its ``Kind`` and the id of the check that reports it."""

    default: Any
    kind: Kind = ANY
    check_id: str = "rxcdc.E010"

    def problem(self, name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for setting ``name`` (None: nothing)."""
        if self.kind.ok(value):
            return None
        return f"{name} must be {self.kind.what}, not {value!r}"


SETTINGS: dict[str, Setting] = {
    "RX_DATABASE": Setting("default", TEXT),
    "RX_SCHEMA": Setting("public", TEXT),
    "RX_SLOT_NAME": Setting("rxcdc", SLOT),
    "RX_MONGO_URL": Setting(None, OPTIONAL_TEXT),  # else MONGO_URL, then mongodb://localhost
    "RX_MONGO_DB": Setting("rxcdc", TEXT),
    "RX_REDIS_URL": Setting(None, OPTIONAL_TEXT),  # else REDIS_URL, then redis://localhost
    "RX_CACHE_TTL": Setting(300.0, SECONDS),
    "RX_HEAT_TIMEOUT": Setting(10.0, SECONDS),
    "RX_CHUNK_SIZE": Setting(2000, COUNT, "rxcdc.E011"),
    "RX_HEARTBEAT_INTERVAL": Setting(5.0, SECONDS),
    "RX_LOG_INTERVAL": Setting(10.0, SECONDS),
    "RX_AUTH_TIMEOUT": Setting(10.0, SECONDS),
    "RX_MAX_FRAME_BYTES": Setting(65536, COUNT, "rxcdc.E011"),
    "RX_RATE_LIMIT": Setting(50.0, RATE),  # frames per second per connection
    "RX_RATE_BURST": Setting(200, COUNT, "rxcdc.E011"),
    "RX_MAX_ANCHORS": Setting(1000, COUNT, "rxcdc.E011"),
    "RX_RESYNC_INTERVAL": Setting(30.0, SECONDS),  # between a connection's checks for losses
    "RX_REAUTH_INTERVAL": Setting(30.0, SECONDS, "rxcdc.E030"),
    "RX_WORKER_CHECK_INTERVAL": Setting(2.0, SECONDS, "rxcdc.E030"),
    # Full origins; None: the socket's own plus CSRF_TRUSTED_ORIGINS (checked by rxcdc.E031).
    "RX_ALLOWED_ORIGINS": Setting(None),
    "RX_LEASE_TIMEOUT": Setting(10.0, SECONDS),
    "RX_METRICS_PORT": Setting(None, PORT, "rxcdc.E011"),  # the worker's /metrics
    "RX_METRICS_ADDRESS": Setting("0.0.0.0", TEXT),
    "RX_CHECK_DATABASE": Setting(True, FLAG),
    "RX_FRONTEND_DIR": Setting(None, OPTIONAL_PATH),
    "RX_WEBSOCKET_URL": Setting("", OPTIONAL_TEXT),
    "RX_WEBSOCKET_URLCONF": Setting(None),  # a module path or a list of them
    "RX_TS_TYPES": Setting({}),
    "RX_FRONTEND_REACT": Setting(True, FLAG),
}


class RxSettings:
    """rxcdc's settings as typed attributes without the ``RX_`` prefix: ``rx_settings.CACHE_TTL``.

    Read from Django's settings at each access (tests override them) and coerced (seconds are
    floats); a value of the wrong kind raises ``ImproperlyConfigured`` naming the setting.
    ``manage.py check`` reports every such value at start (``problems()``).
    """

    DATABASE: str
    SCHEMA: str
    SLOT_NAME: str
    MONGO_URL: str | None
    MONGO_DB: str
    REDIS_URL: str | None
    CACHE_TTL: float
    HEAT_TIMEOUT: float
    CHUNK_SIZE: int
    HEARTBEAT_INTERVAL: float
    LOG_INTERVAL: float
    AUTH_TIMEOUT: float
    MAX_FRAME_BYTES: int
    RATE_LIMIT: float
    RATE_BURST: int
    MAX_ANCHORS: int
    RESYNC_INTERVAL: float
    REAUTH_INTERVAL: float
    WORKER_CHECK_INTERVAL: float
    ALLOWED_ORIGINS: Any
    LEASE_TIMEOUT: float
    METRICS_PORT: int | None
    METRICS_ADDRESS: str
    CHECK_DATABASE: bool
    FRONTEND_DIR: str | None
    WEBSOCKET_URL: str
    WEBSOCKET_URLCONF: Any
    TS_TYPES: dict[str, str]
    FRONTEND_REACT: bool

    def __getattr__(self, attr: str) -> Any:
        name = f"RX_{attr}"
        spec = SETTINGS.get(name)
        if spec is None:
            raise AttributeError(f"no rxcdc setting {name}")
        value = getattr(settings, name, spec.default)
        problem = spec.problem(name, value)
        if problem is not None:
            raise ImproperlyConfigured(f"{problem} (docs/settings.md)")
        return spec.kind.coerce(value)


rx_settings = RxSettings()


def problems() -> list[tuple[str, str, str]]:
    """(setting, what is wrong, check id) for every ``RX_`` setting of the wrong kind."""
    out = []
    for name, spec in SETTINGS.items():
        problem = spec.problem(name, getattr(settings, name, spec.default))
        if problem is not None:
            out.append((name, problem, spec.check_id))
    return out


def mongo_url() -> str:
    """The MongoDB URL: ``RX_MONGO_URL``, ``MONGO_URL`` or a local default."""
    return str(
        rx_settings.MONGO_URL or getattr(settings, "MONGO_URL", None) or "mongodb://localhost:27017"
    )


def redis_url() -> str:
    """The Redis URL for heat requests and liveness keys."""
    return str(
        rx_settings.REDIS_URL or getattr(settings, "REDIS_URL", None) or "redis://localhost:6379/0"
    )


def ensure_channel_layers() -> None:
    """Without ``CHANNEL_LAYERS``, use the recommended one on ``redis_url()``.

    A project that names its Redis (``REDIS_URL``) needs no layer configuration of its own:
    channels_redis's pub/sub layer is what rxcdc recommends (docs/settings.md).
    """
    if not getattr(settings, "CHANNEL_LAYERS", None):
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [redis_url()]},
            }
        }


def replication_dsn() -> str:
    """libpq DSN of the database whose WAL the worker reads (``RX_DATABASE``)."""
    from django.db import connections

    params = connections[rx_settings.DATABASE].get_connection_params()
    keys = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "dbname": "dbname",
        "sslmode": "sslmode",
    }
    if "database" in params and "dbname" not in params:
        params["dbname"] = params["database"]
    parts = [f"{k}={_quote(params[p])}" for p, k in keys.items() if params.get(p)]
    return " ".join(parts)


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in " '\\"):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text

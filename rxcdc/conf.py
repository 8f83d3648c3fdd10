"""rxcdc settings: defaults, checks and typed access (``rx_settings``); docs/settings.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _seconds(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return "must be a positive number of seconds"
    return None


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a positive integer"
    return None


def _rate(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return "must be a positive number (frames per second)"
    return None


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _optional_text(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a string or None"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _slot(value: Any) -> str | None:
    # Postgres accepts only these in a replication slot's name.
    if isinstance(value, str) and re.fullmatch(r"[a-z0-9_]{1,63}", value):
        return None
    return "must be 1-63 lower-case letters, digits or underscores (a slot name)"


def _optional_port(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= 65535:
        return None
    return "must be a TCP port (0-65535; 0: any free one) or None"


def _anything(value: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Setting:
    """One ``RX_`` setting: its default, the check of its value (a problem text or None), its id."""

    default: Any
    problem: Callable[[Any], str | None] = _anything
    check_id: str = "rxcdc.E010"


SETTINGS: dict[str, Setting] = {
    "RX_DATABASE": Setting("default", _text),
    "RX_SCHEMA": Setting("public", _text),
    "RX_SLOT_NAME": Setting("rxcdc", _slot),
    "RX_MONGO_URL": Setting(None, _optional_text),  # else MONGO_URL, then mongodb://localhost
    "RX_MONGO_DB": Setting("rxcdc", _text),
    "RX_REDIS_URL": Setting(None, _optional_text),  # else REDIS_URL, then redis://localhost
    "RX_CACHE_TTL": Setting(300.0, _seconds),
    "RX_HEAT_TIMEOUT": Setting(10.0, _seconds),
    "RX_CHUNK_SIZE": Setting(2000, _count, "rxcdc.E011"),
    "RX_HEARTBEAT_INTERVAL": Setting(5.0, _seconds),
    "RX_LOG_INTERVAL": Setting(10.0, _seconds),
    "RX_AUTH_TIMEOUT": Setting(10.0, _seconds),
    "RX_MAX_FRAME_BYTES": Setting(65536, _count, "rxcdc.E011"),
    "RX_RATE_LIMIT": Setting(50.0, _rate),  # frames per second per connection
    "RX_RATE_BURST": Setting(200, _count, "rxcdc.E011"),
    "RX_MAX_ANCHORS": Setting(1000, _count, "rxcdc.E011"),
    "RX_RESYNC_INTERVAL": Setting(30.0, _seconds),  # between a connection's checks for losses
    "RX_REAUTH_INTERVAL": Setting(30.0, _seconds, "rxcdc.E030"),
    "RX_WORKER_CHECK_INTERVAL": Setting(2.0, _seconds, "rxcdc.E030"),
    # Full origins; None: the socket's own plus CSRF_TRUSTED_ORIGINS (checked by rxcdc.E031).
    "RX_ALLOWED_ORIGINS": Setting(None),
    "RX_LEASE_TIMEOUT": Setting(10.0, _seconds),
    "RX_METRICS_PORT": Setting(None, _optional_port, "rxcdc.E011"),  # the worker's /metrics
    "RX_METRICS_ADDRESS": Setting("0.0.0.0", _text),
    "RX_CHECK_DATABASE": Setting(True, _flag),
    "RX_FRONTEND_DIR": Setting(None, _optional_text),
    "RX_WEBSOCKET_URL": Setting("", _optional_text),
    "RX_WEBSOCKET_URLCONF": Setting(None),  # a module path or a list of them
    "RX_TS_TYPES": Setting({}),
    "RX_FRONTEND_REACT": Setting(True, _flag),
}


class RxSettings:
    """rxcdc's settings as attributes without the ``RX_`` prefix: ``rx_settings.CACHE_TTL``.

    Read from Django's settings at each access (tests override them); a value that fails its
    check raises ``ImproperlyConfigured`` naming the setting (``manage.py check`` lists them all).
    """

    def __getattr__(self, attr: str) -> Any:
        name = f"RX_{attr}"
        spec = SETTINGS.get(name)
        if spec is None:
            raise AttributeError(f"no rxcdc setting {name}")
        value = getattr(settings, name, spec.default)
        problem = spec.problem(value)
        if problem is not None:
            raise ImproperlyConfigured(f"{name} {problem}, not {value!r} (docs/settings.md)")
        return value


rx_settings = RxSettings()


def problems() -> list[tuple[str, str, str]]:
    """(setting, what is wrong, check id) for every ``RX_`` setting whose value is invalid."""
    out = []
    for name, spec in SETTINGS.items():
        value = getattr(settings, name, spec.default)
        problem = spec.problem(value)
        if problem is not None:
            out.append((name, f"{name} {problem}, not {value!r}", spec.check_id))
    return out


def get(name: str) -> Any:
    """Return setting ``name`` or its default."""
    return getattr(settings, name, SETTINGS[name].default)


def mongo_url() -> str:
    """The MongoDB URL: ``RX_MONGO_URL``, ``MONGO_URL`` or a local default."""
    return str(
        get("RX_MONGO_URL") or getattr(settings, "MONGO_URL", None) or "mongodb://localhost:27017"
    )


def redis_url() -> str:
    """The Redis URL for heat requests and liveness keys."""
    return str(
        get("RX_REDIS_URL") or getattr(settings, "REDIS_URL", None) or "redis://localhost:6379/0"
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

    params = connections[get("RX_DATABASE")].get_connection_params()
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

"""rxcdc settings with their defaults (documented in docs/settings.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "RX_DATABASE": "default",
    "RX_SCHEMA": "public",
    "RX_SLOT_NAME": "rxcdc",
    "RX_MONGO_URL": None,  # falls back to MONGO_URL, then mongodb://localhost:27017
    "RX_MONGO_DB": "rxcdc",
    "RX_REDIS_URL": None,  # falls back to REDIS_URL, then redis://localhost:6379/0
    "RX_CACHE_TTL": 300.0,
    "RX_HEAT_TIMEOUT": 10.0,
    "RX_CHUNK_SIZE": 2000,
    "RX_HEARTBEAT_INTERVAL": 5.0,
    "RX_LOG_INTERVAL": 10.0,
    "RX_AUTH_TIMEOUT": 10.0,
    "RX_MAX_FRAME_BYTES": 65536,
    "RX_RATE_LIMIT": 50.0,  # frames per second per connection
    "RX_RATE_BURST": 200,
    "RX_MAX_ANCHORS": 1000,
    "RX_RESYNC_INTERVAL": 30.0,  # seconds between a connection's checks for lost updates
    "RX_REAUTH_INTERVAL": 30.0,  # seconds between checks that a socket's credentials still hold
    "RX_ALLOWED_ORIGINS": None,  # full origins; None: the socket's own plus CSRF_TRUSTED_ORIGINS
    "RX_WORKER_CHECK_INTERVAL": 2.0,  # seconds between a process's reads of the worker's key
}


def get(name: str) -> Any:
    """Return setting ``name`` or its default."""
    return getattr(settings, name, DEFAULTS[name])


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

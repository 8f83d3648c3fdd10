"""Django system checks: configuration mistakes fail at startup with a hint."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from rxcdc import conf

PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"
_NO_TIMEOUT_HINT = 'Use {"address": REDIS_URL, "socket_timeout": None} in CHANNEL_LAYERS hosts.'


@checks.register("rxcdc")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings rxcdc needs are present and well-formed."""
    errors: list[checks.CheckMessage] = []
    for name in ("RX_CACHE_TTL", "RX_HEAT_TIMEOUT", "RX_HEARTBEAT_INTERVAL"):
        value = conf.get(name)
        if not isinstance(value, int | float) or value <= 0:
            errors.append(
                checks.Error(
                    f"{name} must be a positive number of seconds, not {value!r}", id="rxcdc.E010"
                )
            )
    chunk = conf.get("RX_CHUNK_SIZE")
    if not isinstance(chunk, int) or chunk < 1:
        errors.append(
            checks.Error(
                f"RX_CHUNK_SIZE must be a positive integer, not {chunk!r}", id="rxcdc.E011"
            )
        )
    layers = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    backend = str((layers or {}).get("BACKEND", ""))
    if not layers:
        errors.append(
            checks.Error(
                "CHANNEL_LAYERS has no 'default' layer",
                id="rxcdc.E012",
                hint=f"Configure {PUBSUB_LAYER}; rxcdc pushes through it.",
            )
        )
    elif "InMemory" in backend:
        errors.append(
            checks.Error(
                "the in-memory channel layer cannot reach consumers from the rx_replicate process",
                id="rxcdc.E013",
                hint=f"Use {PUBSUB_LAYER}.",
            )
        )
    elif backend == "channels_redis.core.RedisChannelLayer":
        errors.append(
            checks.Warning(
                "RedisChannelLayer stores a copy of every group message per member, and each "
                "consumer pops its own: an update to many clients queues behind those round trips",
                id="rxcdc.W004",
                hint=f"Use {PUBSUB_LAYER}: one PUBLISH per update, one message per server process "
                "(docs/settings.md).",
            )
        )
        errors += _socket_timeout_warnings(layers)
    alias = conf.get("RX_DATABASE")
    db = settings.DATABASES.get(alias)
    if db is None or "postgresql" not in db.get("ENGINE", ""):
        errors.append(
            checks.Error(f"RX_DATABASE {alias!r} must be a PostgreSQL database", id="rxcdc.E014")
        )
    for url, name, schemes in (
        (conf.mongo_url(), "RX_MONGO_URL/MONGO_URL", ("mongodb",)),
        (conf.redis_url(), "RX_REDIS_URL/REDIS_URL", ("redis", "rediss", "unix")),
    ):
        if url.split(":", 1)[0].split("+", 1)[0] not in schemes:
            errors.append(
                checks.Error(f"{name} is not a {schemes[0]} URL: {url!r}", id="rxcdc.E015")
            )
    return errors


def _socket_timeout_warnings(layer: dict[str, Any]) -> list[checks.CheckMessage]:
    """Warn about Redis socket timeouts that break RedisChannelLayer consumers."""
    import redis

    redis_default = 5.0 if int(redis.__version__.split(".")[0]) >= 8 else None
    timeouts = [
        h.get("socket_timeout", redis_default) if isinstance(h, dict) else redis_default
        for h in layer.get("CONFIG", {}).get("hosts", [])
    ]
    if any(t is not None and t <= 5 for t in timeouts):
        return [
            checks.Warning(
                "the channel layer's Redis socket timeout is not above channels_redis's 5 s "
                "blocking read (redis-py 8 defaults to 5 s): idle consumers fail with "
                "'Timeout reading from ...'",
                id="rxcdc.W002",
                hint=_NO_TIMEOUT_HINT,
            )
        ]
    if sys.version_info < (3, 12) and any(t is not None for t in timeouts):
        return [
            checks.Warning(
                "with a Redis socket timeout, redis-py sends through asyncio.wait_for, which "
                "before Python 3.12 can swallow a cancellation (bpo-42130): a consumer that "
                "disconnects can leave its channel-layer receive() polling Redis forever",
                id="rxcdc.W003",
                hint=_NO_TIMEOUT_HINT,
            )
        ]
    return []


@checks.register("rxcdc")
def check_channels(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every channel's serializer tree can be tracked from the WAL."""
    from rxcdc.channels import all_channels

    errors: list[checks.CheckMessage] = []
    for channel in all_channels():
        try:
            channel.state()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), obj=channel, id="rxcdc.E020"))
    return errors


@checks.register("rxcdc")
def check_database(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The database can stream to rx_replicate: wal_level, privileges, wal2json, primary keys."""
    from replication.errors import ConfigurationError, ReplicationError, SlotInUse
    from replication.slot import preflight

    if not getattr(settings, "RX_CHECK_DATABASE", True) or check_settings():
        return []
    try:
        preflight(conf.replication_dsn(), conf.get("RX_SLOT_NAME"))
    except SlotInUse:
        pass  # a worker is running: that is what we want
    except ConfigurationError as exc:
        return [checks.Error(str(exc), id="rxcdc.E001")]
    except (ReplicationError, Exception) as exc:  # unreachable: say so, do not block startup
        return [checks.Warning(f"could not check the database for rxcdc: {exc}", id="rxcdc.W001")]
    return _tables_without_identity()


def _tables_without_identity() -> list[checks.CheckMessage]:
    """Tracked tables whose UPDATE/DELETE the WAL would carry without a key."""
    from django.db import connections

    from rxcdc.channels import all_channels

    tables = sorted({t for c in all_channels() for t in c.state().tables()})
    if not tables:
        return []
    with connections[conf.get("RX_DATABASE")].cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relreplident = 'd'"
            " AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid"
            " AND i.indisprimary)",
            [conf.get("RX_SCHEMA"), tables],
        )
        missing = [row[0] for row in cur.fetchall()]
    return [
        checks.Error(
            f"table {t!r} is tracked by rxcdc but has no primary key: its UPDATEs and DELETEs "
            "reach the WAL without a row identity",
            id="rxcdc.E002",
            hint=f"Add a primary key, or ALTER TABLE {t} REPLICA IDENTITY FULL.",
        )
        for t in missing
    ]


@checks.register("rxcdc")
def check_method_fields(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SerializerMethodFields say which rows they read (``Meta.depends``), or are warned about."""
    from rxcdc.channels import all_channels

    warnings: list[checks.CheckMessage] = []
    seen: set[tuple[type, str]] = set()
    for channel in all_channels():
        try:
            layers = channel.state().layers
        except ImproperlyConfigured:
            continue  # check_channels reports it
        for layer in layers:
            for name in layer.undeclared:
                if (layer.serializer_class, name) in seen:
                    continue
                seen.add((layer.serializer_class, name))
                cls = layer.serializer_class.__name__
                warnings.append(
                    checks.Warning(
                        f"{cls}.{name} is a SerializerMethodField: rxcdc recomputes it when its "
                        f"{layer.model.__name__} row changes, not when other rows it reads do",
                        obj=channel,
                        id="rxcdc.W020",
                        hint=f"Declare what it reads in {cls}.Meta.depends, e.g. "
                        f'depends = {{"{name}": ["items"]}} (relation paths from '
                        f'{layer.model.__name__}), or {{"{name}": []}} if it reads only its row.',
                    )
                )
    return warnings

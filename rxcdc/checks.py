"""Django system checks: configuration mistakes fail at startup with a hint."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from rxcdc import conf
from rxcdc.conf import rx_settings

PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"
_NO_TIMEOUT_HINT = 'Use {"address": REDIS_URL, "socket_timeout": None} in CHANNEL_LAYERS hosts.'


@checks.register("rxcdc")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings rxcdc needs are present and well-formed."""
    wrong = conf.problems()
    errors: list[checks.CheckMessage] = [
        checks.Error(problem, id=check_id, hint="See docs/settings.md.")
        for _name, problem, check_id in wrong
    ]
    wrong_names = {name for name, _, _ in wrong}
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
    if "RX_DATABASE" not in wrong_names:
        alias = rx_settings.DATABASE
        db = settings.DATABASES.get(alias)
        if db is None or "postgresql" not in db.get("ENGINE", ""):
            errors.append(
                checks.Error(
                    f"RX_DATABASE {alias!r} must be a PostgreSQL database", id="rxcdc.E014"
                )
            )
    if not wrong_names & {"RX_MONGO_URL", "RX_REDIS_URL"}:
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
def check_hooks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every channel's hooks can be called with the URL arguments of each of its routes."""
    from rxcdc import hooks
    from rxcdc.channels import all_channels
    from rxcdc.codegen.routes import every_route

    channels = all_channels()
    try:
        routes = every_route(channels, rx_settings.WEBSOCKET_URLCONF)
    except Exception:
        # Finding routes may import ASGI_APPLICATION: whatever fails there is makefrontend's to
        # report (it names the cause); it must not stop `migrate` or `runserver`.
        return []
    errors: list[checks.CheckMessage] = []
    for channel in channels:
        for route in routes.get(channel, []):
            try:
                found = hooks.problems(channel, [name for name, _ in route.params], route.pattern)
            except ImproperlyConfigured:
                continue  # check_channels reports it
            errors += [
                checks.Error(
                    f"{channel.label()}: {problem}",
                    obj=channel,
                    id="rxcdc.E021",
                    hint="The consumer calls has_permission(user, **url_kwargs), or "
                    "has_permission(user, anchor_row) when its second parameter is named after "
                    "no URL argument; get_anchor(**url_kwargs) returns the anchor's primary key "
                    "(docs/quickstart.md).",
                )
                for problem in found
            ]
    return errors


# How long `check` may wait for the transactions open now while it checks for wal2json.
PREFLIGHT_WAIT = 2.0


# Replication is the worker's business: web processes (migrate, runserver, manage.py test) need
# neither the REPLICATION privilege nor a slot, so these run with `check --deploy` and when
# rx_replicate starts (it runs them itself), not with every command.
@checks.register("rxcdc", deploy=True)
def check_database(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The database can stream to rx_replicate: wal_level, privileges, wal2json, row identities.

    Never waits on other sessions for more than ``PREFLIGHT_WAIT`` seconds.
    """
    from replication.errors import (
        ConfigurationError,
        PluginUnverified,
        ReplicationError,
        SlotInUse,
    )
    from replication.slot import preflight

    if not rx_settings.CHECK_DATABASE or check_settings():
        return []
    found: list[checks.CheckMessage] = []
    try:
        preflight(conf.replication_dsn(), rx_settings.SLOT_NAME, wait=PREFLIGHT_WAIT)
    except SlotInUse:
        pass  # a worker is running: that is what we want
    except PluginUnverified as exc:
        found.append(checks.Warning(str(exc), id="rxcdc.W005"))
    except ConfigurationError as exc:
        return [checks.Error(str(exc), id="rxcdc.E001")]
    except (ReplicationError, Exception) as exc:  # unreachable: say so, do not block startup
        return [checks.Warning(f"could not check the database for rxcdc: {exc}", id="rxcdc.W001")]
    return found + _tables_without_identity()


def _tables_without_identity() -> list[checks.CheckMessage]:
    """Tracked tables whose UPDATEs and DELETEs the WAL carries without a key rxcdc can route.

    Replica identity is per relation that holds rows: each leaf of a partitioned table is
    checked. Also refused: key columns that compare case-insensitively (citext,
    nondeterministic collations), whose WAL values need not equal the keys rxcdc holds.
    """
    from rxcdc.channels import all_channels
    from rxcdc.tables import identities, key_types, resolve

    keys = _key_columns(all_channels())
    if not keys.pk:
        return []
    found = resolve(keys.pk)
    errors: list[checks.CheckMessage] = []
    kinds = {"v": "a view", "m": "a materialized view", "f": "a foreign table"}
    for table in sorted(found.values(), key=lambda t: t.db_table):
        if not table.logged:
            errors.append(
                checks.Error(
                    f"{table.db_table!r} is tracked by rxcdc but is "
                    f"{kinds.get(table.kind, 'not a table')}: its rows change without row "
                    "changes of its own in the WAL",
                    id="rxcdc.E007",
                    hint="Track the tables it reads (nest their serializers), or a table "
                    "your code keeps up to date from them.",
                )
            )
    found = {name: table for name, table in found.items() if table.logged}
    for db_table, relations in sorted(identities(found.values()).items()):
        pk_column = keys.pk[db_table]
        partitioned = found[db_table].partitioned
        for rel in relations:
            name = f"{rel.schema}.{rel.name}" if rel.schema != "public" else rel.name
            part = f"partition {name!r} of table {db_table!r}" if partitioned else f"table {name!r}"
            if rel.kind == "d" and not rel.columns:
                errors.append(
                    checks.Error(
                        f"{part} is tracked by rxcdc but has no primary key: its UPDATEs and "
                        "DELETEs reach the WAL without a row identity",
                        id="rxcdc.E002",
                        hint=f"Add a primary key, or ALTER TABLE {name} REPLICA IDENTITY FULL.",
                    )
                )
            elif rel.kind == "n":
                errors.append(
                    checks.Error(
                        f"{part} has REPLICA IDENTITY NOTHING: wal2json skips its UPDATEs and "
                        "DELETEs, so rxcdc would never see them",
                        id="rxcdc.E003",
                        hint=f"ALTER TABLE {name} REPLICA IDENTITY DEFAULT (or FULL).",
                    )
                )
            elif not rel.carries(pk_column) and not _routable(keys, db_table, rel, partitioned):
                columns = ", ".join(rel.columns or ())
                how = f"USING INDEX on {columns}" if rel.kind == "i" else f"DEFAULT ({columns})"
                errors.append(
                    checks.Error(
                        f"{part} has REPLICA IDENTITY {how}: its DELETEs do not carry "
                        f"{keys.need(db_table)}, so rxcdc cannot tell which row went",
                        id="rxcdc.E004",
                        hint=f"ALTER TABLE {name} REPLICA IDENTITY DEFAULT (or FULL, or USING "
                        f"INDEX on a unique index that includes {keys.need(db_table)}).",
                    )
                )
    types = key_types(found.values())
    for (db_table, column), where in sorted(keys.compared.items()):
        type_name, deterministic = types.get((db_table, column), ("", True))
        if type_name == "citext" or not deterministic:
            how = "is citext" if type_name == "citext" else "has a nondeterministic collation"
            errors.append(
                checks.Error(
                    f"{where} (column {db_table}.{column}) {how}: Postgres calls keys equal "
                    "that differ in case, and the WAL value of one need not equal the key "
                    "rxcdc holds for the other",
                    id="rxcdc.E005",
                    hint="Use a key compared byte for byte (text or varchar with a "
                    "deterministic collation, e.g. stored lower-cased), or a surrogate "
                    "integer or UUID key.",
                )
            )
    return errors


class _Keys:
    """What the router compares, per tracked table: its pk column, the columns it routes by."""

    def __init__(self) -> None:
        self.pk: dict[str, str] = {}  # db_table → pk column
        self.through_parents: dict[str, set[str]] = {}  # through table → parent columns
        self.layer_tables: set[str] = set()
        self.compared: dict[tuple[str, str], str] = {}  # (db_table, column) → "Model.field"

    def need(self, db_table: str) -> str:
        """The columns a DELETE of ``db_table`` must carry (one of them)."""
        wanted = [self.pk[db_table]]
        if db_table not in self.layer_tables:
            wanted += sorted(self.through_parents.get(db_table, ()))
        return " or ".join(wanted)

    def add(self, model: Any, column: str) -> None:
        for f in model._meta.concrete_fields:
            if f.column == column:
                self.compared[(model._meta.db_table, column)] = f"{model.__name__}.{f.name}"


def _key_columns(channels: list[Any]) -> _Keys:
    from rxcdc.layers import Relation

    keys = _Keys()
    for channel in channels:
        try:
            state = channel.state()
        except ImproperlyConfigured:
            continue  # check_channels reports it
        for layer in getattr(state, "tracked", state.layers):
            models = [(layer.model, False)]
            if layer.through_model is not None:
                models.append((layer.through_model, True))
            for model, through in models:
                column = model._meta.pk.column
                if column is None:
                    continue  # check_keys reports it
                table = model._meta.db_table
                keys.pk[table] = column
                keys.add(model, column)
                if not through:
                    keys.layer_tables.add(table)
            if layer.through_table and layer.through_parent_column:
                keys.through_parents.setdefault(layer.through_table, set()).add(
                    layer.through_parent_column
                )
                keys.add(layer.through_model, layer.through_parent_column)
            if layer.fk_column and layer.parent is not None:
                holder = layer.model if layer.relation is Relation.REVERSE else layer.parent.model
                keys.add(holder, layer.fk_column)
    return keys


def _routable(keys: _Keys, db_table: str, rel: Any, partitioned: bool) -> bool:
    """Can a DELETE carrying only this identity be routed? (It lacks the pk column.)"""
    if db_table in keys.layer_tables:
        # rxcdc.identity maps identity values to member pks, for one relation per table.
        return not partitioned and bool(rel.columns)
    # A through row: its parent column is enough to re-read the parent's list.
    return any(rel.carries(c) for c in keys.through_parents.get(db_table, ()))


@checks.register("rxcdc")
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every tracked model has a single-column primary key: the WAL is routed by it."""
    from rxcdc.channels import all_channels

    errors: list[checks.CheckMessage] = []
    seen: set[Any] = set()
    for channel in all_channels():
        try:
            state = channel.state()
        except ImproperlyConfigured:
            continue  # check_channels reports it
        for layer in getattr(state, "tracked", state.layers):
            for model in (layer.model, layer.through_model):
                if model is None or model in seen or model._meta.pk.column is not None:
                    continue
                seen.add(model)
                pk = model._meta.pk
                columns = ", ".join(f.column for f in getattr(pk, "fields", ())) or pk.name
                errors.append(
                    checks.Error(
                        f"{model._meta.label} ({model._meta.db_table}) has a composite primary "
                        f"key ({columns}): rxcdc routes WAL changes by one key column, so its "
                        "UPDATEs and DELETEs would be lost",
                        obj=channel,
                        id="rxcdc.E006",
                        hint=f"Give {model.__name__} a single-column primary key (e.g. id = "
                        "models.BigAutoField(primary_key=True)) and keep the composite unique "
                        "with Meta.constraints = [models.UniqueConstraint(fields=[...], "
                        "name=...)].",
                    )
                )
    return errors


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


@checks.register("rxcdc")
def check_socket_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Re-authentication interval and allowed origins of the websocket side."""
    from rxcdc.origin import normalize

    errors: list[checks.CheckMessage] = []
    # A value of the wrong kind is check_settings' to report (rxcdc.E030).
    wrong = {name for name, _, _ in conf.problems()}
    reauth = None if "RX_REAUTH_INTERVAL" in wrong else rx_settings.REAUTH_INTERVAL
    if reauth is not None and reauth > 60:
        errors.append(
            checks.Warning(
                f"RX_REAUTH_INTERVAL is {reauth} s: a revoked user keeps their open sockets "
                "that long unless the change went through the ORM",
                id="rxcdc.W030",
                hint="Keep it at 60 s or less.",
            )
        )
    origins = rx_settings.ALLOWED_ORIGINS
    if origins is not None:
        entries = [origins] if isinstance(origins, str) else origins
        bad = [
            o
            for o in (entries if isinstance(entries, list | tuple) else [entries])
            if not isinstance(o, str)
            or (normalize(o.replace("://*.", "://")) is None)
            or _has_path(o)
        ]
        if isinstance(origins, str) or bad:
            errors.append(
                checks.Error(
                    f"RX_ALLOWED_ORIGINS must be a list of origins, not {bad or origins!r}",
                    id="rxcdc.E031",
                    hint='Full origins with scheme, e.g. ["https://app.example.com", '
                    '"http://localhost:5173", "https://*.example.com"]; no paths.',
                )
            )
    return errors


def _has_path(origin: str) -> bool:
    """Whether an origin carries more than scheme, host and port (a path, query or fragment)."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    return bool(parts.path.strip("/") or parts.query or parts.fragment)

"""System checks of ``rxcdc.api``: observed tables that need ``REPLICA IDENTITY FULL``.

Database checks: ``manage.py check --database default`` (and ``migrate``) run them.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import connections

from rxcdc.api.replica_identity import needed_tables, replica_identities
from rxcdc.conf import rx_settings

__all__ = ["check_replica_identity"]

HINT = (
    "Run `manage.py rx_api_replica_identity`, or add the migration operation "
    "rxcdc.api.operations.ReplicaIdentity(...) for it (docs/dcrf-migration.md)."
)


@register(Tags.database)
def check_replica_identity(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: an observed table whose deletes (or M2M unlinks) the WAL carries by key only."""
    alias = rx_settings.DATABASE
    if not databases or alias not in databases or connections[alias].vendor != "postgresql":
        return []
    needed = needed_tables()
    current = replica_identities(needed, using=alias)
    return [
        Warning(
            f"table {table} has REPLICA IDENTITY {current[table].upper()}: the WAL gives "
            f"deleted rows by key only, so {why} "
            + ("carry only {'pk'}." if why.startswith("delete") else "miss links removed."),
            hint=HINT,
            id="rxcdc_api.W001",
        )
        for table, why in sorted(needed.items())
        if current.get(table, "full") != "full"
    ]

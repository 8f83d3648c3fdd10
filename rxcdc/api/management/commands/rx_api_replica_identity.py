"""``manage.py rx_api_replica_identity``: REPLICA IDENTITY FULL on the tables observers need."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rxcdc.api.replica_identity import needed_tables, replica_identities, set_replica_identity
from rxcdc.conf import rx_settings


class Command(BaseCommand):
    """Sets FULL where it is missing (``--check``: only say where; exit status 1 if anywhere)."""

    help = (
        "Set REPLICA IDENTITY FULL on observed tables whose deletes are serialized and on the "
        "through tables of observed M2M fields."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="change nothing; list only")
        parser.add_argument("--database", default=None, help="default: RX_DATABASE")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"] or rx_settings.DATABASE
        needed = needed_tables()
        current = replica_identities(needed, using=alias)
        missing = sorted(t for t in needed if current.get(t, "full") != "full")
        if options["check"]:
            for table in missing:
                self.stdout.write(f"{table}: {current[table]} ({needed[table]})")
            if missing:
                raise CommandError(f"{len(missing)} table(s) need REPLICA IDENTITY FULL")
            return
        for table in set_replica_identity(missing, "full", using=alias):
            self.stdout.write(f"{table}: full ({needed[table]})")

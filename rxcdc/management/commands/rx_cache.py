"""``manage.py rx_cache status|clear [channel] [anchor]``: inspect or empty the cache."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rxcdc import conf
from rxcdc.cache import Cache


class Command(BaseCommand):
    """Show hot anchors, or remove them from the cache (the worker re-heats on demand)."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "clear"])
        parser.add_argument("channel", nargs="?", help="channel label, e.g. chat.ChatRoomChannel")
        parser.add_argument("anchor", nargs="?", help="anchor primary key")

    def handle(self, *args: Any, **options: Any) -> None:
        cache = Cache(conf.mongo_url(), conf.get("RX_MONGO_DB"))
        if options["action"] == "clear":
            n = cache.clear(options["channel"], options["anchor"])
            self.stdout.write(f"cleared {n} anchors")
            return
        rows = [m for m in cache.status()
                if options["channel"] in (None, m["channel"])
                and options["anchor"] in (None, str(m["anchor"]))]  # fmt: skip
        for m in rows:
            self.stdout.write(f"{m['channel']}\t{m['anchor']}\tlsn={m['lsn']}\t"
                              f"documents={m['documents']}")  # fmt: skip
        self.stdout.write(f"{len(rows)} hot anchors")

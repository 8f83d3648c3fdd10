"""``manage.py rx_cache status|clear [channel] [anchor]``: inspect or empty the cache."""

from __future__ import annotations

from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandParser

from rxcdc import conf
from rxcdc.cache import Cache
from rxcdc.channels import get_channel
from rxcdc.conf import rx_settings
from rxcdc.heat import Heater
from rxcdc.serialize import jsonable


def _pk(label: str, anchor: str) -> Any:
    """The anchor as its primary-key type (the command line gives strings)."""
    return jsonable(get_channel(label).state().root.model._meta.pk.to_python(anchor))


class Command(BaseCommand):
    """Show hot anchors, or remove them from the cache (the worker re-heats on demand)."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "clear"])
        parser.add_argument("channel", nargs="?", help="channel label, e.g. chat.ChatRoomChannel")
        parser.add_argument("anchor", nargs="?", help="anchor primary key")

    def handle(self, *args: Any, **options: Any) -> None:
        cache = Cache(conf.mongo_url(), rx_settings.MONGO_DB)
        label, anchor = options["channel"], options["anchor"]
        if label is not None:
            get_channel(label)  # fail early on a typo
        if options["action"] == "clear":
            heater = Heater(redis.Redis.from_url(conf.redis_url()))
            if heater.worker_alive():
                # The worker is the cache's only writer: it clears and resets its clients.
                heater.request_cool(label, anchor and _pk(label, anchor))
                self.stdout.write("asked the running worker to clear the matching anchors")
            else:
                n = cache.clear(label, anchor and _pk(label, anchor))
                self.stdout.write(f"cleared {n} anchors")
            return
        rows = [
            m
            for m in cache.status()
            if options["channel"] in (None, m["channel"])
            and options["anchor"] in (None, str(m["anchor"]))
        ]
        for m in rows:
            self.stdout.write(
                f"{m['channel']}\t{m['anchor']}\tlsn={m['lsn']}\tdocuments={m['documents']}"
            )
        self.stdout.write(f"{len(rows)} hot anchors")
        for m in cache.meta.find({"state": "broken"}):
            if options["channel"] in (None, m["channel"]):
                self.stdout.write(
                    f"{m['channel']}\t{m['anchor']}\tquarantined: {m.get('reason')}"
                    f" (table {m.get('table')}, pk {m.get('pk')})"
                )

"""``manage.py rx_replicate``: run the replication worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from replication.errors import ReplicationError
from replication.stream import stop_on_signals
from rxcdc.runner import open_stream, start_worker


class Command(BaseCommand):
    """Stream the WAL into the cache of hot anchors and push every change to their consumers."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--standby",
            action="store_true",
            help="wait for the active worker of this slot to stop, then take over",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options.get("skip_checks"):
            # The database checks are deploy checks (web processes skip them): the worker needs
            # them, with every other rxcdc check.
            self.check(tags=["rxcdc"], include_deployment_checks=True)
        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
            )
        worker = start_worker()
        if options["standby"]:
            self.stdout.write("rx_replicate: standby, waiting for the slot's active worker to stop")
        try:
            stream = open_stream(worker, standby=options["standby"])
        except ReplicationError as exc:
            worker.publisher.close()
            raise CommandError(str(exc)) from exc
        restore = stop_on_signals(stream)
        self.stdout.write(
            f"rx_replicate: streaming {len(worker.tables())} tables "
            f"for {len(worker.channels)} channels"
        )
        try:
            with stream:
                for event in stream:
                    worker.handle(event, stream.ack)
        except ReplicationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            restore()
            with contextlib.suppress(Exception):  # Redis may be what is down: exit anyway
                worker.heater.retract_worker(os.getpid())
            worker.publisher.close()
            if worker.slot_lock is not None:
                worker.slot_lock.release()
        self.stdout.write("rx_replicate: stopped")

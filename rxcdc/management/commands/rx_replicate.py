"""``manage.py rx_replicate``: run the replication worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from replication.errors import ReplicationError
from replication.stream import stop_on_signals
from rxcdc import conf, metrics, status
from rxcdc.collector import Collector
from rxcdc.conf import rx_settings
from rxcdc.replicator import Replicator


class Command(BaseCommand):
    """Stream the WAL into the cache of hot anchors and push every change to their consumers."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--standby",
            action="store_true",
            help="wait for the active worker of this slot to stop, then take over",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="serve Prometheus metrics on this port (0: any free one; default RX_METRICS_PORT)",
        )
        parser.add_argument(
            "--status",
            action="store_true",
            help="print the slot, its lag, the lease, the worker's presence and the cache, then "
            "exit: 0 a worker streams, 1 none does (or the slot is lost), 2 a service is down",
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        """Run the command; ``--status`` without system checks (it only reads the services)."""
        if options.get("status"):
            # A project's failing check must not hide the replication's status from an operator.
            options["skip_checks"] = True
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status()
            return
        if not options.get("skip_checks"):
            # The database checks are deploy checks (web processes skip them): the worker needs
            # them, with every other rxcdc check.
            self.check(tags=["rxcdc"], include_deployment_checks=True)
        wrong = conf.problems()  # also with --skip-checks: never stream on a wrong setting
        if wrong:
            raise CommandError("; ".join(problem for _name, problem, _id in wrong))
        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
            )
        probe = metrics.WorkerMetrics(conf.replication_dsn(), rx_settings.SLOT_NAME)
        try:
            port = options["metrics_port"]
            port = metrics.port_setting() if port is None else port
            address = metrics.address_setting()
            # Up before the worker waits for its services: an operator sees what it waits for.
            server = None if port is None else metrics.serve(probe, port, address)
        except (ImproperlyConfigured, OSError) as exc:
            raise CommandError(f"cannot serve metrics: {exc}") from exc
        if server is not None:
            bound = server.server_address[1]  # the port chosen, for --metrics-port 0
            self.stdout.write(f"rx_replicate: metrics on http://{address}:{bound}/metrics")
        try:
            self._run(probe, options["standby"])
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
        self.stdout.write("rx_replicate: stopped")

    def _run(self, probe: metrics.WorkerMetrics, standby: bool) -> None:
        if standby:
            self.stdout.write("rx_replicate: standby, waiting for the slot's active worker to stop")
        try:
            # This process is the worker's own: it runs the worker's collector policy.
            replicator = Replicator(
                standby=standby, on_outage=[probe.outage], collector=Collector()
            )
        except ReplicationError as exc:
            raise CommandError(str(exc)) from exc
        with replicator:
            restore = stop_on_signals(replicator)
            probe.attach(replicator.worker, replicator.stream)
            worker = replicator.worker
            self.stdout.write(
                f"rx_replicate: streaming {len(worker.tables())} tables "
                f"for {len(worker.channels)} channels"
            )
            try:
                replicator.run(observer=probe)
            except ReplicationError as exc:
                raise CommandError(str(exc)) from exc
            finally:
                restore()

    def _status(self) -> None:
        found = status.report()
        for line in found.lines:
            self.stdout.write(line)
        if found.code != status.STREAMING:
            raise CommandError(found.verdict, returncode=found.code)
        self.stdout.write(found.verdict)

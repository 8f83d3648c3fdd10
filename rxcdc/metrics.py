"""Prometheus metrics: the worker's on a port of its own, the websocket processes' through a view.

The worker (``rx_replicate --metrics-port``, ``RX_METRICS_PORT``) counts around its loop and
reads everything else at scrape time: its hot and quarantined anchors from memory, the slot from
``pg_replication_slots``. Websocket processes count connections and frames in
``prometheus_client``'s default registry, served by ``metrics_view`` (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from replication.changes import Chunk, Heartbeat
from replication.slot import slot_status
from rxcdc.conf import rx_settings
from rxcdc.isolation import service

if TYPE_CHECKING:
    from replication.stream import ReplicationStream
    from rxcdc.worker import Worker

__all__ = [
    "WorkerMetrics",
    "connection",
    "frame_received",
    "frame_sent",
    "metrics_view",
    "refused",
    "serve",
]

SERVICES = {"PostgreSQL": "postgres", "Redis": "redis", "MongoDB": "mongodb"}
WAL_STATUSES = ("reserved", "extended", "unreserved", "lost")


def port_setting() -> int | None:
    """``RX_METRICS_PORT``: the worker's metrics port (None: no endpoint).

    Raises ``ImproperlyConfigured`` for a value that is no port.
    """
    port = rx_settings.METRICS_PORT
    return None if port is None else int(port)


def address_setting() -> str:
    """``RX_METRICS_ADDRESS``: the interface the worker's endpoint listens on (all by default)."""
    return str(rx_settings.METRICS_ADDRESS)


# -- the worker -------------------------------------------------------------------------------


class WorkerMetrics(Collector):
    """The replication worker's metrics (docs/deployment.md, "Metrics, status and alerts").

    The loop calls ``begin`` and ``end`` around each event (two clock reads, a few integer
    additions, no lock); a scrape reads the counters and the worker's anchors as they are and
    runs one query on a new Postgres connection for the slot's lag and retained WAL.
    """

    def __init__(self, dsn: str, slot: str) -> None:
        # A scrape must not hang on an unreachable server: Prometheus gives up after 10 s.
        self.dsn, self.slot = f"{dsn} connect_timeout=3", slot
        self.worker: Worker | None = None
        self.stream: ReplicationStream | None = None
        self.transactions = 0
        self.changes = 0
        # Pre-filled: the scrape thread copies these while the loop adds to them.
        self.retries = dict.fromkeys([*SERVICES.values(), "other"], 0)
        self.outages = dict(self.retries)
        self._down: set[str] = set()  # services failing since the last event handled
        self.lag = 0.0  # seconds from commit (or heartbeat) to handled, of the last event
        self.last_event = 0.0  # Unix time the last transaction or heartbeat was handled
        self._oldest: datetime | None = None  # commit time of the oldest change in hand
        self._measured = False  # whether handling it measures the lag (not housekeeping)

    def attach(self, worker: Worker, stream: ReplicationStream) -> None:
        """Start reporting this worker and its stream (the slot is streamed from now on)."""
        self.worker, self.stream = worker, stream

    def outage(self, exc: BaseException) -> None:
        """A failed attempt to reach a service (a ``Worker.on_outage`` hook)."""
        name = SERVICES.get(service(exc), "other")
        self.retries[name] += 1
        if name not in self._down:  # the first failure since the service last answered
            self._down.add(name)
            self.outages[name] += 1

    def begin(self, event: Any) -> None:
        """The worker is about to handle ``event``: what it holds is that old from now on."""
        chunks = _chunks(event)
        if chunks:
            self._oldest, self._measured = chunks[0].transaction.commit_time, True
        elif isinstance(event, Heartbeat):
            self._oldest, self._measured = event.emitted_at, True
        else:
            # Housekeeping (a Tick): whatever commits meanwhile waits until it is done.
            self._oldest, self._measured = datetime.now(UTC), False

    def end(self, event: Any) -> None:
        """The worker handled ``event`` (every service it needed answered)."""
        for chunk in _chunks(event):
            self.changes += len(chunk.changes)
            self.transactions += chunk.last
        if self._measured and self._oldest is not None:
            self.lag = max(0.0, (datetime.now(UTC) - self._oldest).total_seconds())
            self.last_event = time.time()
        self._oldest = None
        self._down.clear()

    def lag_seconds(self) -> float:
        """How far behind the worker is: the age of what it handles now, else of what it last did.

        Grows while the worker is stuck on a step (waiting for a service): on a transaction
        from its commit (the database's clock), on housekeeping from when it began.
        """
        oldest = self._oldest
        if oldest is not None:
            return max(self.lag, (datetime.now(UTC) - oldest).total_seconds())
        return self.lag

    def collect(self) -> Iterable[Metric]:
        """Every metric of the worker (called by the scrape's thread)."""
        streaming = self.worker is not None
        yield _gauge("rxcdc_worker_streaming", "1 once the worker streams its slot", streaming)
        yield _counter("rxcdc_transactions", "Transactions handled", self.transactions)
        yield _counter(
            "rxcdc_changes", "Row changes streamed (in handled transactions)", self.changes
        )
        yield _gauge(
            "rxcdc_replication_lag_seconds",
            "Commit (database clock) to handled, of the oldest change in hand or the last event",
            self.lag_seconds(),
        )
        yield _gauge(
            "rxcdc_worker_last_event_timestamp_seconds",
            "Unix time the worker last handled a transaction or heartbeat",
            self.last_event,
        )
        yield _by(
            CounterMetricFamily,
            "rxcdc_service_retries",
            "Failed attempts to reach a service",
            "service",
            dict(self.retries),
        )
        yield _by(
            CounterMetricFamily,
            "rxcdc_service_outages",
            "Outages: failures after success",
            "service",
            dict(self.outages),
        )
        if self.stream is not None:
            yield _counter(
                "rxcdc_stream_reconnects",
                "Replication connections re-opened after a loss",
                self.stream.reconnects,
            )
        worker = self.worker
        if worker is not None:
            yield from _worker_state(worker)
        yield from self._slot()

    def _slot(self) -> Iterator[Metric]:
        try:
            status = slot_status(self.dsn, self.slot)
        except Exception:  # Postgres away: the rest of the scrape still answers
            yield _gauge("rxcdc_slot_readable", "1 when the scrape could read the slot", 0)
            return
        yield _gauge("rxcdc_slot_readable", "1 when the scrape could read the slot", 1)
        yield _gauge("rxcdc_slot_exists", "1 when the replication slot exists", status.exists)
        yield _gauge("rxcdc_slot_active", "1 while a walsender streams the slot", status.active)
        if not status.exists:
            return
        yield _gauge(
            "rxcdc_replication_lag_bytes",
            "WAL written after the slot's confirmed flush position (bytes)",
            status.lag_bytes or 0,
        )
        yield _gauge(
            "rxcdc_slot_retained_wal_bytes",
            "WAL the server keeps for the slot: current position minus restart_lsn (bytes)",
            status.retained_bytes or 0,
        )
        yield _gauge(
            "rxcdc_slot_confirmed_flush_lsn",
            "The slot's confirmed flush position, as a byte offset",
            status.confirmed_flush_lsn or 0,
        )
        if status.safe_wal_size is not None:  # None: max_slot_wal_keep_size is unlimited
            yield _gauge(
                "rxcdc_slot_safe_wal_bytes",
                "WAL that may still be written before the slot is lost (bytes)",
                status.safe_wal_size,
            )
        yield _by(
            GaugeMetricFamily,
            "rxcdc_slot_wal_status",
            "1 for the slot's wal_status",
            "status",
            {s: int(s == status.wal_status) for s in WAL_STATUSES},
        )


def _worker_state(worker: Worker) -> Iterator[Metric]:
    """Anchors and stage timings, read from the worker's memory without stopping it."""
    # list() of a dict is one step under the GIL: safe while the loop's thread changes it.
    hot = list(worker.state.anchors)
    quarantined = list(worker.quarantine.anchors)
    labels = list(worker.channels)
    yield _by(
        GaugeMetricFamily,
        "rxcdc_hot_anchors",
        "Anchors cached and kept up to date",
        "channel",
        _count(labels, hot),
    )
    yield _by(
        GaugeMetricFamily,
        "rxcdc_quarantined_anchors",
        "Anchors whose state could not be produced (clients got anchor_failed)",
        "channel",
        _count(labels, quarantined),
    )
    yield _counter(
        "rxcdc_faults", "Faults isolated to an anchor or sink since start", worker.quarantine.count
    )
    yield _by(
        CounterMetricFamily,
        "rxcdc_worker_stage_seconds",
        "Seconds spent per stage",
        "stage",
        dict(worker.timings),
    )
    yield _gauge(
        "rxcdc_worker_position_lsn",
        "Commit LSN of the last transaction handled, as a byte offset",
        worker.position,
    )


def _count(labels: list[str], keys: list[tuple[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(labels, 0)
    for label, _anchor in keys:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _chunks(event: Any) -> tuple[Chunk, ...]:
    """The chunks an event carries: one, a run of whole transactions (``.chunks``), or none."""
    if isinstance(event, Chunk):
        return (event,)
    return tuple(getattr(event, "chunks", ()))


def _gauge(name: str, doc: str, value: Any) -> Metric:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=float(value))


def _by(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    doc: str,
    label: str,
    values: dict[str, Any],
) -> Metric:
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


def serve(metrics: WorkerMetrics, port: int, address: str = "0.0.0.0") -> WSGIServer:
    """Serve ``metrics`` (and the process's CPU, memory and GC) on ``address:port``/metrics.

    Port 0 picks a free one (``server.server_address``). Runs in a daemon thread; stop it with
    ``server.shutdown()``. Raises ``OSError`` when the port is taken.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(metrics)
    server, _thread = start_http_server(port, address, registry)
    return server


# -- websocket processes ----------------------------------------------------------------------

# Multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the open connections of live processes add up.
CONNECTIONS = Gauge(
    "rxcdc_ws_connections",
    "Open websocket connections, by channel",
    ["channel"],
    multiprocess_mode="livesum",
)
FRAMES_SENT = Counter("rxcdc_ws_frames_sent", "Frames sent to clients, by type", ["type"])
FRAMES_RECEIVED = Counter(
    "rxcdc_ws_frames_received", "Frames received and accepted, by type", ["type"]
)
ERRORS = Counter("rxcdc_ws_errors", "error frames sent, by code (docs/protocol.md)", ["code"])
REFUSED = Counter(
    "rxcdc_ws_refused", "Connections refused (auth.error, then close), by reason", ["reason"]
)

# Frame type → its counter, so that a frame costs a dict lookup and one increment.
_SENT: dict[str, Any] = {}
_TYPE_PREFIX = '{"type":"'


@contextlib.contextmanager
def connection(channel: str) -> Iterator[None]:
    """Count a websocket connection of ``channel`` as open while the block runs."""
    gauge = CONNECTIONS.labels(channel)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def frame_sent(text: str) -> None:
    """Count one frame sent (encoded, as ``protocol.dumps`` writes it: its type comes first)."""
    kind = "other"
    if text.startswith(_TYPE_PREFIX):
        end = text.find('"', len(_TYPE_PREFIX))
        kind = text[len(_TYPE_PREFIX) : end] if end > 0 else kind
    child = _SENT.get(kind)
    if child is None:
        child = _SENT[kind] = FRAMES_SENT.labels(kind)
    child.inc()
    if kind == "error":  # rare and small: decoding it for its code costs nothing that matters
        ERRORS.labels(str(json.loads(text).get("code"))).inc()


def frame_received(kind: str) -> None:
    """Count one inbound frame the protocol accepted (``protocol.INBOUND`` types)."""
    FRAMES_RECEIVED.labels(kind).inc()


def refused(reason: str) -> None:
    """Count a connection refused with ``auth.error`` (``bad_origin``, ``forbidden``...)."""
    REFUSED.labels(reason).inc()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """This process's metrics in Prometheus' text format (mount it on an internal URL).

    With ``PROMETHEUS_MULTIPROC_DIR`` set, every process's that shares the directory.
    """
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

"""The replication worker on its stream, from the slot's lock to a clean stop.

``rx_replicate``, the test drivers and the benchmarks all run the worker through a
``Replicator``: it owns the worker, the slot's lock and the stream, runs the event loop, and
releases everything once, whichever way the run ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from django.db import connections

from replication import HEARTBEAT_PREFIX, Chunk, Heartbeat, ReplicationStream, Run, parse_lsn
from rxcdc.channels import StateChannel
from rxcdc.collector import Collector
from rxcdc.conf import rx_settings
from rxcdc.isolation import Stopped
from rxcdc.runner import open_stream, start_worker
from rxcdc.worker import Worker

__all__ = ["Observer", "Replicator"]

log = logging.getLogger("rxcdc.worker")


class Observer(Protocol):
    """Told of each event around its handling (``rxcdc.metrics.WorkerMetrics`` is one)."""

    def begin(self, event: Any) -> None: ...

    def end(self, event: Any) -> None: ...


class Replicator:
    """A worker streaming its slot: ``run()`` until ``stop()``, then ``close()`` (or ``with``).

    Starting waits for MongoDB and Redis, takes the slot's lock (``standby``: waits for the
    active worker to stop), restores the hot anchors and opens the stream. Raises
    ``replication.errors.ReplicationError`` saying what to do when streaming cannot start.
    """

    def __init__(
        self,
        channels: Iterable[type[StateChannel]] | None = None,
        *,
        standby: bool = False,
        idle_tick: float = 0.05,
        on_outage: Iterable[Callable[[BaseException], None]] = (),
        collector: Collector | None = None,
    ) -> None:
        # A process that is the worker's own runs its collector policy (rx_replicate does); one
        # that runs other code too, such as a test suite, keeps Python's. Installed before the
        # worker announces itself: its first collection is not a pause a stop signal waits on.
        self.collector = collector
        if collector is not None:
            collector.install()
        try:
            self.worker: Worker = start_worker(channels, on_outage=list(on_outage))
        except BaseException:
            if collector is not None:
                collector.uninstall()
            raise
        try:
            self.stream: ReplicationStream
            self.stream, self.lock = open_stream(self.worker, standby=standby, idle_tick=idle_tick)
        except BaseException:
            try:
                self.worker.publisher.close()
            finally:
                if collector is not None:
                    collector.uninstall()
            raise
        self._closed = False

    def handle(self, event: Any) -> None:
        """Apply one stream event (a chunk, a run of transactions, a heartbeat or a tick)."""
        self.worker.handle(event, self.stream.ack)
        if self.collector is not None:
            self.collector.after(event)

    def run(self, observer: Observer | None = None) -> None:
        """Handle events until ``stop()``; ``observer`` is told of each one.

        Raises what the stream raises when it cannot go on (``ReplicationError``).
        """
        try:
            for event in self.stream:
                if observer is None:
                    self.handle(event)
                else:
                    observer.begin(event)
                    self.handle(event)
                    observer.end(event)
        except Stopped as exc:
            # The transaction being applied was not acknowledged: the next worker gets it.
            log.warning("%s; its transaction comes again to the next worker", exc)

    def pump(self, timeout: float = 30.0) -> list[Chunk]:
        """Handle everything committed before this call (a WAL barrier); returns its chunks.

        For tests and benchmarks driving the worker from their own thread. Raises
        ``AssertionError`` when the barrier is not reached within ``timeout`` seconds.
        """
        with connections[rx_settings.DATABASE].cursor() as cur:
            # The WAL sender decodes flushed WAL only, and a message without an xid is not
            # flushed on its own: taking an xid makes the statement's commit flush it.
            cur.execute(
                "SELECT pg_logical_emit_message(false, %s, %s)::text, pg_current_xact_id()",
                [HEARTBEAT_PREFIX, json.dumps({"emitted_at": datetime.now(UTC).isoformat()})],
            )
            (barrier, _xid) = cur.fetchone()
        target = parse_lsn(barrier)
        deadline = time.monotonic() + timeout
        seen: list[Chunk] = []
        for event in self.stream:
            if isinstance(event, Chunk):
                seen.append(event)
            elif isinstance(event, Run):
                seen += event.chunks
            self.handle(event)
            if isinstance(event, Heartbeat) and event.lsn >= target:
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not reach the WAL barrier in {timeout:g} s")
        raise AssertionError("the stream ended before the WAL barrier")

    def stop(self) -> None:
        """Make ``run()`` return at the next event boundary; safe from threads and signals.

        A wait for a service that is down ends at once (``isolation.Stopped``, unacknowledged).
        """
        self.worker.stopping.set()
        self.stream.stop()

    def close(self) -> None:
        """Close the stream, withdraw the worker's presence, release the slot (once)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stream.close()
        finally:
            try:
                with contextlib.suppress(Exception):  # Redis may be what is down: stop anyway
                    self.worker.heater.retract_worker(os.getpid())
                self.worker.publisher.close()
                self.lock.release()
            finally:
                if self.collector is not None:  # whatever failed: the process's gc as it was
                    self.collector.uninstall()

    def __enter__(self) -> Replicator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

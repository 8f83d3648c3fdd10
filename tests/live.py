"""``rx_replicate`` in a thread of the test process, for tests that talk to a live worker."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db import connection, connections

from rxcdc.conf import rx_settings
from rxcdc.runner import open_stream, start_worker
from rxcdc.testing.waiting import wait_until


class LiveWorker:
    """Runs the worker with a real stream until ``stop()``."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.stream: Any = None
        self._gate = threading.Lock()  # held by paused(): the worker waits before each event
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "worker did not start"
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            self.worker = start_worker()
            self.stream = open_stream(self.worker)
            self.ready.set()
            with self.stream:
                for event in self.stream:
                    with self._gate:
                        self.worker.handle(event, self.stream.ack)
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            self.worker.publisher.close()
            if self.worker.slot_lock is not None:
                self.worker.slot_lock.release()
            connections.close_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the worker between events: what commits meanwhile is read only afterwards."""
        with self._gate:
            yield

    def wait_applied(self, timeout: float = 20.0) -> None:
        """Wait until the worker acknowledged every commit so far (it publishes before that)."""
        slot = rx_settings.SLOT_NAME
        with connection.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()")
            (now,) = cur.fetchone()

            def caught_up() -> bool:
                cur.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots"
                    " WHERE slot_name = %s",
                    [now, slot],
                )
                row = cur.fetchone()
                return bool(row and row[0])

            wait_until(caught_up, "the worker acknowledged the last commit", timeout)

    def stop(self) -> None:
        """Stop the stream and wait for the thread."""
        if self.stream is not None:
            self.stream.stop()
        self.thread.join(30)

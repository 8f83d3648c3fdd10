"""``rx_replicate`` in a thread of the test process, for tests that talk to a live worker."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db import connection, connections

from rxcdc.conf import rx_settings
from rxcdc.isolation import Stopped
from rxcdc.replicator import Replicator
from rxcdc.testing.waiting import wait_until

__all__ = ["LiveWorker"]


class LiveWorker:
    """A ``Replicator`` running in a thread until ``stop()``; ``paused()`` holds it.

    Raises what starting the worker raised (``ReplicationError``, a service that never came
    up) from ``__init__``, or ``AssertionError`` when it did not start within 30 s.
    """

    def __init__(self, **options: Any) -> None:
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.replicator: Replicator | None = None
        self._gate = threading.Lock()  # held by paused(): the worker waits before each event
        self.thread = threading.Thread(target=self._run, args=(options,), daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "worker did not start"
        if self.error:
            raise self.error

    @property
    def worker(self) -> Any:
        """The running ``rxcdc.worker.Worker``."""
        assert self.replicator is not None
        return self.replicator.worker

    @property
    def stream(self) -> Any:
        """Its ``ReplicationStream``."""
        assert self.replicator is not None
        return self.replicator.stream

    def _run(self, options: dict[str, Any]) -> None:
        try:
            with Replicator(**options) as replicator:
                self.replicator = replicator
                self.ready.set()
                for event in replicator.stream:
                    with self._gate:
                        replicator.handle(event)
        except Stopped:
            pass  # stopped while waiting for a service: nothing was acknowledged
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            connections.close_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the worker between events: what commits meanwhile is read only afterwards."""
        with self._gate:
            yield

    def wait_applied(self, timeout: float = 20.0) -> None:
        """Wait until the worker acknowledged every commit so far (it publishes before that).

        Raises ``rxcdc.testing.waiting.WaitFailed`` after ``timeout`` seconds.
        """
        with connection.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()")
            (now,) = cur.fetchone()

            def caught_up() -> bool:
                cur.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots"
                    " WHERE slot_name = %s",
                    [now, rx_settings.SLOT_NAME],
                )
                row = cur.fetchone()
                return bool(row and row[0])

            wait_until(caught_up, "the worker acknowledged the last commit", timeout)

    def stop(self) -> None:
        """Stop the stream and wait for the thread (it releases everything)."""
        if self.replicator is not None:
            self.replicator.stop()
        self.thread.join(30)

"""One bad row never stops the stream: transient outages are waited out, faults are isolated.

Two kinds of failure reach the worker. A service that is down (MongoDB, Redis, PostgreSQL) is
*transient*: the worker retries with backoff and acknowledges nothing meanwhile. Anything else
(a value Django cannot load, a serializer method that raises, a document the cache refuses) is a
*fault* of one row: it is pinned to the anchors that hold the row, which are quarantined (their
clients get an ``error``) until the row changes again, while every other anchor goes on.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rxcdc.layers import Layer
from rxcdc.state import AnchorKey, Loader

__all__ = [
    "TRANSIENT",
    "Failure",
    "Quarantine",
    "RowError",
    "Stopped",
    "isolating",
    "retrying",
    "service",
]

log = logging.getLogger("rxcdc.worker")


def _transient() -> tuple[type[BaseException], ...]:
    import pymongo.errors
    import redis
    from django.db import InterfaceError, OperationalError

    return (
        pymongo.errors.ConnectionFailure,
        pymongo.errors.ServerSelectionTimeoutError,
        redis.ConnectionError,
        redis.TimeoutError,
        OperationalError,
        InterfaceError,
        ConnectionError,
        TimeoutError,
    )


TRANSIENT = _transient()


def service(exc: BaseException) -> str:
    """Which service an outage exception comes from, for the log."""
    module = type(exc).__module__
    return {"pymongo": "MongoDB", "redis": "Redis", "django": "PostgreSQL"}.get(
        module.split(".")[0], "a service"
    )


class Stopped(Exception):
    """The worker was told to stop while it waited for a service (nothing was acknowledged)."""


def retrying(
    step: Callable[[], None],
    on_outage: Callable[[BaseException], None],
    *,
    cap: float = 10.0,
    stop: threading.Event | None = None,
) -> None:
    """Run ``step`` until it succeeds; a service that is down is waited for, never skipped.

    Only ``TRANSIENT`` exceptions are retried (backoff from 0.1 s to ``cap`` seconds, with
    jitter); anything else propagates. Raises ``Stopped`` when ``stop`` is set meanwhile.
    """
    delay = 0.1
    stop = stop or threading.Event()
    while True:
        try:
            step()
            return
        except TRANSIENT as exc:
            on_outage(exc)
            log.warning(
                "%s unavailable (%s); retrying in %.1fs, not acknowledging",
                service(exc),
                exc,
                delay,
            )
            # Jitter: restarts do not stampede. A stop (SIGTERM) ends the wait at once.
            if stop.wait(delay * (0.5 + random.random())):
                raise Stopped(f"stopped while {service(exc)} was unavailable") from exc
            delay = min(cap, delay * 2)


class RowError(Exception):
    """Loading (or encoding) one row failed for a reason other than an outage."""

    def __init__(self, layer: Layer, pk: Any, cause: BaseException) -> None:
        where = f"{layer.table} pk {pk!r}" if pk is not None else layer.table
        super().__init__(f"{where}: {type(cause).__name__}: {cause}")
        self.layer, self.pk, self.cause = layer, pk, cause


def isolating(loader: Loader) -> Loader:
    """Wrap a loader so that a fault names its row: raises ``RowError(layer, pk)``.

    A batch that fails is retried one pk at a time to find the row (outages propagate as
    they are, to be waited out).
    """

    def load(layer: Layer, pks: Iterable[Any]) -> dict[Any, Any]:
        wanted = list(pks)
        try:
            return loader(layer, wanted)
        except TRANSIENT:
            raise
        except Exception as exc:
            batch_error: BaseException = exc
        for pk in wanted if len(wanted) > 1 else ():
            try:
                loader(layer, [pk])
            except TRANSIENT:
                raise
            except Exception as exc:
                raise RowError(layer, pk, exc) from exc
        pk = wanted[0] if len(wanted) == 1 else None
        raise RowError(layer, pk, batch_error) from batch_error

    return load


@dataclass
class Failure:
    """Why an anchor is quarantined: the row that failed, when known."""

    table: str | None
    pk: Any
    reason: str


class Quarantine:
    """Anchors whose state could not be produced, and the rows whose change may heal them."""

    def __init__(self) -> None:
        self.anchors: dict[AnchorKey, Failure] = {}
        self.count = 0  # faults isolated since start (for the status and tests)
        self._due: set[AnchorKey] = set()

    def add(self, key: AnchorKey, exc: BaseException) -> Failure:
        """Record a fault of ``key``; returns what was recorded."""
        if isinstance(exc, RowError):
            failure = Failure(exc.layer.table, exc.pk, str(exc))
        else:
            failure = Failure(None, None, f"{type(exc).__name__}: {exc}")
        self.anchors[key] = failure
        self.count += 1
        self._due.discard(key)
        return failure

    def notice(self, rows: Iterable[tuple[str, Any]], tables: Callable[[str], set[str]]) -> None:
        """Mark anchors due for another try when their failed row (or, unknown, table) changed."""
        changed = set(rows)
        changed_tables = {table for table, _pk in changed}
        for key, failure in self.anchors.items():
            if failure.table is None:
                if changed_tables & tables(key[0]):
                    self._due.add(key)
            elif (failure.table, failure.pk) in changed or (
                failure.pk is None and failure.table in changed_tables
            ):
                self._due.add(key)

    def due(self) -> list[AnchorKey]:
        """Anchors to try again now (each returned once per ``notice``)."""
        out = [key for key in self._due if key in self.anchors]
        self._due.clear()
        return out

    def heal(self, key: AnchorKey) -> bool:
        """Forget ``key``'s fault; returns whether it had one."""
        self._due.discard(key)
        return self.anchors.pop(key, None) is not None

"""Whether the replication worker is alive and Redis kept its state, watched once per process.

The worker refreshes ``rx:worker`` (``heat.WORKER_KEY``) with a TTL while it runs; once the key
is gone, updates have stopped and connections say so (``status`` frames) instead of going stale.
A Redis restart (its ``run_id`` changes) loses what was published meanwhile, and without
persistence the groups and liveness keys too: connections rejoin and check what they missed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from rxcdc.clients import heater
from rxcdc.conf import rx_settings
from rxcdc.heat import Heater

__all__ = ["WorkerWatch", "watch"]

log = logging.getLogger("rxcdc.liveness")

Listener = Callable[[bool], Awaitable[None]]
Restarted = Callable[[], Awaitable[None]]


class WorkerWatch:
    """Polls the worker's key and Redis's ``run_id`` every ``RX_WORKER_CHECK_INTERVAL`` s.

    Polls only while anyone listens. ``heater``: where to read them (the process's by default).
    """

    def __init__(self, heater: Callable[[], Heater] = heater) -> None:
        self.heater = heater
        self.up: bool | None = None  # None: not known yet
        self.run_id: str | None = None  # the Redis server's, as last read
        self.listeners: dict[Any, tuple[Listener, Restarted | None]] = {}
        self.task: asyncio.Task[None] | None = None

    def subscribe(self, key: Any, listener: Listener, restarted: Restarted | None = None) -> None:
        """Call ``listener(up)`` whenever the worker goes down or comes back.

        ``restarted()`` is called when Redis restarted since the previous reading.
        """
        self.listeners[key] = (listener, restarted)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def unsubscribe(self, key: Any) -> None:
        """Stop telling ``key``; the last one out stops the polling."""
        self.listeners.pop(key, None)
        if not self.listeners and self.task is not None:
            self.task.cancel()
            self.task = None
            # Unwatched, both go stale: the next listener gets fresh readings.
            self.up = self.run_id = None

    async def check(self) -> bool:
        """Read the key and the ``run_id`` now; tell the listeners what changed.

        Raises what Redis raises when it cannot be reached.
        """
        up, run_id = await sync_to_async(self.heater().watch, thread_sensitive=False)()
        restarted = self.run_id is not None and run_id != self.run_id
        self.run_id = run_id
        if restarted:
            log.warning(
                "Redis restarted: what was published meanwhile is lost; every connection "
                "rejoins its groups and checks its anchors against the cache"
            )
            for _listener, on_restart in list(self.listeners.values()):
                if on_restart is not None:
                    await self._tell(on_restart())
        if up != self.up:
            if self.up is not None:
                log.warning("replication worker %s", "is back" if up else "is gone")
            self.up = up
            for listener, _on_restart in list(self.listeners.values()):
                await self._tell(listener(up))
        return up

    @staticmethod
    async def _tell(call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:
            log.exception("telling a connection about the worker or Redis failed")

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: say nothing until it answers again
                log.warning("cannot read the worker's liveness key: %s", exc)
            await asyncio.sleep(rx_settings.WORKER_CHECK_INTERVAL)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WorkerWatch] = (
    weakref.WeakKeyDictionary()
)


def watch() -> WorkerWatch:
    """The watch of the running event loop (one per process under daphne)."""
    loop = asyncio.get_running_loop()
    found = _WATCHES.get(loop)
    if found is None:
        found = _WATCHES[loop] = WorkerWatch()
    return found

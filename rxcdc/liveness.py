"""Whether the replication worker is alive, watched once per process for every connection.

The worker refreshes ``rx:worker`` (``heat.WORKER_KEY``) with a TTL while it runs; once the key
is gone, updates have stopped and connections say so (``status`` frames) instead of going stale.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from rxcdc import conf
from rxcdc.clients import heater

__all__ = ["WorkerWatch", "watch"]

log = logging.getLogger("rxcdc.liveness")

Listener = Callable[[bool], Awaitable[None]]


class WorkerWatch:
    """Polls the worker's key every ``RX_WORKER_CHECK_INTERVAL`` s while anyone listens."""

    def __init__(self) -> None:
        self.up: bool | None = None  # None: not known yet
        self.listeners: dict[Any, Listener] = {}
        self.task: asyncio.Task[None] | None = None

    def subscribe(self, key: Any, listener: Listener) -> None:
        """Call ``listener(up)`` whenever the worker goes down or comes back."""
        self.listeners[key] = listener
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def unsubscribe(self, key: Any) -> None:
        """Stop telling ``key``; the last one out stops the polling."""
        self.listeners.pop(key, None)
        if not self.listeners and self.task is not None:
            self.task.cancel()
            self.task = None
            self.up = None  # unwatched, it goes stale: the next listener gets a fresh reading

    async def check(self) -> bool:
        """Read the key now; tell the listeners when the answer changed."""
        up = await sync_to_async(heater().worker_alive, thread_sensitive=False)()
        if up != self.up:
            if self.up is not None:
                log.warning("replication worker %s", "is back" if up else "is gone")
            self.up = up
            for listener in list(self.listeners.values()):
                try:
                    await listener(up)
                except Exception:
                    log.exception("telling a connection the worker status failed")
        return up

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: say nothing until it answers again
                log.warning("cannot read the worker's liveness key: %s", exc)
            await asyncio.sleep(float(conf.get("RX_WORKER_CHECK_INTERVAL")))


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

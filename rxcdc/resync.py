"""Connections' checks against the cache, spread out in time and batched per process.

Each connection checks its anchors every ``RX_RESYNC_INTERVAL``, and once more when the worker
comes back or Redis restarted. Unspread, connections opened together check together, and an
event makes every connection of the process check at once: a burst of cache queries and
reloads. So a periodic check starts at a random point of its interval, an event's check after a
random pause that grows with the process's connections (at most ``SPREAD_MAX``), and the checks
that fall within ``BATCH_WINDOW`` of each other share one query per channel.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from typing import Any

from asgiref.sync import sync_to_async

from rxcdc.clients import cache

__all__ = ["BATCH_WINDOW", "SPREAD_MAX", "Resyncs", "resyncs"]

BATCH_WINDOW = 0.05  # seconds a check waits for others to share its query
MAX_BATCH = 1000  # anchors per query
SPREAD_PER_CONNECTION = 0.002  # seconds: an event's checks run at about 500 connections a second
SPREAD_MAX = 2.0  # seconds: the longest pause before an event's check (recovery stays quick)

_RNG = random.Random()

Request = tuple[dict[Any, int], "asyncio.Future[set[Any]]"]


class Resyncs:
    """The checks of one event loop's connections (one per process under daphne)."""

    def __init__(self) -> None:
        self.connections = 0  # connections whose periodic check runs
        self.pending: dict[str, list[Request]] = {}  # channel label → waiting checks
        self.flusher: asyncio.Task[None] | None = None

    def first_delay(self, interval: float) -> float:
        """Seconds before a new connection's first periodic check: anywhere in the interval."""
        return _RNG.uniform(0.0, interval)

    def event_delay(self) -> float:
        """Seconds before a check an event asked for (0 … ``SPREAD_MAX``, by connections)."""
        return _RNG.uniform(0.0, min(SPREAD_MAX, self.connections * SPREAD_PER_CONNECTION))

    async def behind(self, label: str, sent: dict[Any, int]) -> set[Any]:
        """Anchors of ``sent`` (JSON form → LSN sent) the cache is ahead of, or no longer hot.

        Raises what the cache raises.
        """
        if not sent:
            return set()
        waiter: asyncio.Future[set[Any]] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(label, []).append((sent, waiter))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.ensure_future(self._flush())
        return await waiter

    async def _flush(self) -> None:
        # Runs while checks wait; a check that arrives during a query waits for the next round.
        while self.pending:
            await asyncio.sleep(BATCH_WINDOW)
            pending, self.pending = self.pending, {}
            for label, requests in pending.items():
                for merged, members in _rounds(requests):
                    await self._query(label, merged, members)

    async def _query(self, label: str, merged: dict[Any, int], members: list[Request]) -> None:
        try:
            found = await sync_to_async(cache().anchors_behind, thread_sensitive=False)(
                label, merged
            )
        except Exception as exc:  # each connection logs it and checks again next round
            for _sent, waiter in members:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for sent, waiter in members:
            if not waiter.done():
                waiter.set_result(found & set(sent))


def _rounds(requests: list[Request]) -> list[tuple[dict[Any, int], list[Request]]]:
    """Requests grouped so that no anchor appears with two LSNs in one query."""
    rounds: list[tuple[dict[Any, int], list[Request]]] = []
    for sent, waiter in requests:
        for merged, members in rounds:
            fits = len(merged) + len(sent) <= MAX_BATCH
            if fits and all(merged.get(a, lsn) == lsn for a, lsn in sent.items()):
                merged.update(sent)
                members.append((sent, waiter))
                break
        else:
            rounds.append((dict(sent), [(sent, waiter)]))
    return rounds


_RESYNCS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Resyncs] = (
    weakref.WeakKeyDictionary()
)


def resyncs() -> Resyncs:
    """The checks of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _RESYNCS.get(loop)
    if found is None:
        found = _RESYNCS[loop] = Resyncs()
    return found

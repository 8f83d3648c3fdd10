"""Group names and the publisher that pushes one message per (channel, anchor) per transaction."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from channels.layers import get_channel_layer

from rxcdc import frames
from rxcdc.isolation import TRANSIENT
from rxcdc.serialize import Row, jsonable
from rxcdc.state import Delta

__all__ = ["SYSTEM_GROUP", "Publisher", "anchor_group", "channel_group", "update_message"]

PUBLISH_CONCURRENCY = 32
SYSTEM_GROUP = "rx.system"  # every connection: system messages (rx_broadcast)
_GROUP_OK = re.compile(r"^[A-Za-z0-9._-]{1,90}$")
Failure = tuple[int, BaseException]  # (index of the message, why the layer refused it)
T = TypeVar("T")


def channel_group(label: str) -> str:
    """Group of every consumer of a channel (list-channel anchor announcements)."""
    return _safe(f"rx.{label}")


def anchor_group(label: str, anchor: Any) -> str:
    """Group of every consumer watching one anchor."""
    return _safe(f"rx.{label}.{jsonable(anchor)}")


def _safe(name: str) -> str:
    # Channels accepts only short ASCII group names; hash anything else (string pks, long labels).
    if _GROUP_OK.match(name):
        return name
    return "rx.h." + hashlib.sha1(name.encode()).hexdigest()


def instance(type_key: str, pk: Any, lsn: int, row: Row) -> dict[str, Any]:
    """A flat instance as it travels: its fields as JSON text, ``_type``, ``_pk``, ``_lsn``.

    ``_user`` (the row's owner), ``_owners`` (the owners of the children its lists name) and
    ``_viewers`` (who may see a row under a ``user_key`` row) are for consumers to filter
    private rows; they never reach a client.
    """
    out = {
        "json": row.text,
        "_type": type_key,
        "_pk": jsonable(pk),
        "_lsn": lsn,
        "_user": jsonable(row.user),
    }
    if row.owners:
        out["_owners"] = jsonable(row.owners)
    if row.former:
        out["_former"] = jsonable(row.former)
    if row.viewers is not None:
        out["_viewers"] = jsonable(row.viewers)
    return out


def update_message(
    label: str, anchor: Any, lsn: int, delta: Delta, *, part: int = 0, last: bool = True
) -> frames.UpdateMessage:
    """The group message for one anchor and one transaction (or one part of a large one)."""
    return frames.rx_update(
        label,
        jsonable(anchor),
        lsn,
        part,
        last,
        [instance(t, pk, lsn, row) for (t, pk), row in delta.upserts.items()],
        [
            {"_type": t, "_pk": jsonable(pk), "_lsn": lsn, "_user": jsonable(user)}
            for (t, pk), user in delta.tombstones.items()
        ],
    )


class Publisher:
    """Sends channel-layer messages from synchronous code on one long-lived event loop.

    ``async_to_sync`` would build a loop (and new Redis connections) per call. The loop runs in
    the calling thread, one call at a time: handing each send to a loop thread and waiting for
    it cost two thread wake-ups per transaction, on the path of every update's latency.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()  # callers on several threads take turns on the loop

    def group_send(
        self, messages: Sequence[tuple[str, Mapping[str, Any]]], *, ordered: bool = False
    ) -> list[tuple[int, BaseException]]:
        """Send ``(group, message)`` pairs; returns once the layer took or refused each one.

        Concurrent unless ``ordered`` (a consumer in two of the groups then sees list order).
        Returns the messages the layer refused, as (index, exception): one message (too big,
        not encodable) must not stop the others. An outage (``rxcdc.isolation.TRANSIENT``) is
        raised instead, to be retried.
        """
        if not messages:
            return []
        coro = self._in_order(messages) if ordered else self._group_send(messages)
        failures: list[tuple[int, BaseException]] = self.run(coro)
        for _index, exc in failures:
            if isinstance(exc, TRANSIENT):
                raise exc
        return failures

    def send_many(self, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Send ``(channel name, message)`` pairs (heat replies); raises the first failure."""
        if messages:
            for _index, exc in self.run(self._bounded(get_channel_layer().send, messages)):
                raise exc

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the publisher's loop from a thread that runs no loop; its result.

        Raises ``TimeoutError`` (the coroutine cancelled) after ``timeout`` seconds.
        """
        with self._lock:
            return self.loop.run_until_complete(self._within(coro, self.timeout))

    @staticmethod
    async def _within(coro: Coroutine[Any, Any, T], timeout: float) -> T:
        async with asyncio.timeout(timeout):
            return await coro

    @staticmethod
    async def _in_order(messages: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Failure]:
        layer = get_channel_layer()
        failures: list[Failure] = []
        for index, (group, message) in enumerate(messages):
            try:
                await layer.group_send(group, message)
            except Exception as exc:
                failures.append((index, exc))
                if isinstance(exc, TRANSIENT):
                    break
        return failures

    async def _group_send(self, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Failure]:
        return await self._bounded(get_channel_layer().group_send, messages)

    @staticmethod
    async def _bounded(
        send: Any, messages: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Failure]:
        # Concurrent, but within the channel layer's Redis pool (100 connections by default):
        # one send per hot anchor of a large transaction would exhaust it.
        limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def one(target: str, message: Mapping[str, Any]) -> None:
            async with limit:
                await send(target, message)

        results = await asyncio.gather(*(one(t, m) for t, m in messages), return_exceptions=True)
        return [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]

    @staticmethod
    async def _close_layer() -> None:
        # RedisChannelLayer keeps a connection pool per loop; the pub/sub layer closes its own
        # when the loop closes (and only answers attribute lookups inside a running loop).
        close_pools = getattr(get_channel_layer(), "close_pools", None)
        if close_pools is not None:
            await close_pools()

    def close(self) -> None:
        """Close the layer's connections on this loop, then the loop."""
        try:
            self.run(self._close_layer())
        finally:
            with self._lock:
                self.loop.close()  # a loop left to the garbage collector fails in unrelated code

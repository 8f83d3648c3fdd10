"""A connection's anchors: heat through the worker, snapshot from the cache, then live updates.

Updates lost in the channel layer are noticed (the ``prev_lsn`` chain, and a periodic check
against the cache) and repaired by resuming the anchor from the cache. ``ConnectionAnchors``
reaches its socket only through ``Connection``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from rxcdc import frames, protocol
from rxcdc.clients import cache, heater
from rxcdc.conf import rx_settings
from rxcdc.fanout import anchor_group
from rxcdc.heat import HeatRequest
from rxcdc.privacy import PrivacyFilter
from rxcdc.resync import resyncs
from rxcdc.serialize import jsonable

__all__ = ["Connection", "ConnectionAnchors", "Feed", "listed_anchors"]

log = logging.getLogger("rxcdc.anchors")

SNAPSHOT_BATCH = 500
HEAT_RETRY = 2.0  # seconds without an answer before a heat request is sent again


class Connection(Protocol):
    """What a connection's anchors need of their socket (``StateConsumer`` provides it)."""

    channel_name: str  # the channel-layer address the worker sends ``rx.hot`` to

    async def send_frame(self, frame: Mapping[str, Any]) -> None:
        """Send one frame (nothing once the socket is closed)."""

    async def send_text(self, text: str) -> None:
        """Send one frame already encoded as JSON text."""

    async def join(self, group: str) -> None:
        """Join a channel-layer group until the connection ends."""

    async def leave(self, group: str) -> None:
        """Leave a group joined with ``join``."""

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """Send ``auth.error`` and close; the anchors are stopped with the rest."""


@dataclass
class Feed:
    """One anchor of one connection: buffering while its snapshot loads, then live."""

    pk: Any
    live: bool = False
    last_lsn: int = 0  # the newest update (or snapshot) LSN relayed
    buffer: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class ConnectionAnchors:
    """The anchors one authenticated connection shows: one ``Feed`` each, and their upkeep.

    ``channel``: the connection's ``StateChannel`` instance; ``privacy``: its user's filter.
    """

    def __init__(self, connection: Connection, channel: Any, privacy: PrivacyFilter) -> None:
        self.connection = connection
        self.channel = channel
        self.channel_class = type(channel)
        self.label = str(self.channel_class.label())
        self.privacy = privacy
        self.feeds: dict[Any, Feed] = {}  # by the anchor's JSON key
        self.heat_waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()  # upkeep (feeds' loads are in their Feed)

    # -- the connection's side ------------------------------------------------------------------

    def start(self, pks: list[Any], since: Mapping[str, int]) -> None:
        """Load ``pks`` (resumed after ``since[str(key)]`` where given) and start the upkeep."""
        for pk in pks:
            self._open(pk, since.get(str(jsonable(pk))))
        self._spawn(self._keep_alive())
        self._spawn(self._resync())

    def stop(self) -> None:
        """Cancel every load and upkeep task (but the caller's own)."""
        current = asyncio.current_task()
        for task in list(self.tasks) + [f.task for f in self.feeds.values() if f.task]:
            if task is not current:
                task.cancel()

    def pks(self) -> list[Any]:
        """The anchors this connection shows."""
        return [feed.pk for feed in self.feeds.values()]

    async def add(self, pk: Any) -> None:
        """List channels: start showing an anchor."""
        if jsonable(pk) not in self.feeds:
            self._open(pk, None, added=True)

    async def remove(self, pk: Any) -> None:
        """List channels: stop showing an anchor."""
        feed = self.feeds.pop(jsonable(pk), None)
        if feed is None:
            return
        if feed.task is not None and feed.task is not asyncio.current_task():
            feed.task.cancel()
        await self.connection.leave(anchor_group(self.label, pk))
        await self.connection.send_frame(frames.anchor_removed(jsonable(pk)))

    def worker_back(self) -> None:
        """The worker came back: load what gave up meanwhile, then check the rest soon."""
        # Anchors whose load gave up meanwhile (worker_unavailable) load now; live ones go on
        # (a restarted worker replays what it had not acknowledged, chained by prev_lsn) unless
        # the cache is ahead of what they were sent (a new slot, a repaired cache).
        for feed in list(self.feeds.values()):
            if not feed.live and (feed.task is None or feed.task.done()):
                self._open(feed.pk, feed.last_lsn or None)
        self._spawn(self._resync_once(1.0))

    async def redis_restarted(self) -> None:
        """Redis restarted (the groups are rejoined): renew the keys, look for what was missed."""
        await self._touch()
        if self.channel_class.is_list() and self.channel_class.auto_update():
            self._spawn(self._relist())
        self._spawn(self._resync_once(1.0))

    # -- channel-layer messages (the consumer's rx_* handlers) ----------------------------------

    async def on_hot(self, message: dict[str, Any]) -> None:
        """The worker's answer to a heat request."""
        waiter = self.heat_waiters.get(message["anchor"])
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def on_update(self, message: dict[str, Any]) -> None:
        """One transaction's changes to an anchor: buffered while it loads, else relayed."""
        feed = self.feeds.get(message["anchor"])
        if feed is None:
            return
        if not feed.live:
            feed.buffer.append(message)
            return
        if not self._gap(feed, message):
            await self._relay(message)

    async def on_reset(self, message: dict[str, Any]) -> None:
        """Drop and reload an anchor (TRUNCATE, cache clear, anchor row reborn)."""
        feed = self.feeds.get(message["anchor"])
        if feed is not None:
            await self.connection.send_frame(frames.reset(message["anchor"], message["lsn"]))
            self._open(feed.pk, None)

    async def on_error(self, message: dict[str, Any]) -> None:
        """The worker quarantined an anchor: tell the client; a reset follows once it heals."""
        feed = self.feeds.get(message["anchor"])
        if feed is None:
            return
        if feed.task is not None and feed.task is not asyncio.current_task():
            feed.task.cancel()
        feed.live, feed.buffer = False, []  # updates stop; the resync leaves it alone
        await self.connection.send_frame(
            frames.error(message["code"], message["message"], anchor=message["anchor"])
        )

    async def on_anchor_created(self, message: dict[str, Any]) -> None:
        """List channels: a new anchor row; shown if ``is_visible`` says so."""
        if not self.channel_class.auto_update():
            return
        visible = await database_sync_to_async(_visible)(self.channel, message["anchor"])
        if visible:
            await self.add(visible.pk)

    # -- heat, snapshot, live -------------------------------------------------------------------

    def _open(self, pk: Any, since: int | None, *, added: bool = False) -> None:
        key = jsonable(pk)
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = Feed(pk)
        elif feed.task is not None:
            feed.task.cancel()
        feed.live, feed.buffer = False, []
        feed.task = asyncio.ensure_future(self._load(feed, since, added))

    async def _load(self, feed: Feed, since: int | None, added: bool) -> None:
        key = jsonable(feed.pk)
        send_frame, send_text = self.connection.send_frame, self.connection.send_text
        try:
            await self.connection.join(anchor_group(self.label, feed.pk))
            reply = await self._heat(feed.pk)
            if reply is None:
                return
            if not reply.get("exists", True):
                if self.channel_class.is_list():
                    await self.remove(feed.pk)
                else:
                    reason = f"no such anchor {key}"
                    await self.connection.refuse("not_found", reason, protocol.CLOSE_NOT_FOUND)
                return
            lsn = int(reply["lsn"])
            mode, instances, tombstones = await sync_to_async(
                cache().snapshot, thread_sensitive=False
            )(self.label, feed.pk, since)
            instances, tombstones = self.privacy.filter(instances, tombstones)
            if added:
                await send_frame(frames.anchor_added(key))
            await send_frame(frames.snapshot_begin(key, lsn, cast(frames.SnapshotMode, mode)))
            head = frames.snapshot_instances_head(key)
            for i in range(0, len(instances), SNAPSHOT_BATCH):
                await send_text(protocol.frame_text(head, instances[i : i + SNAPSHOT_BATCH]))
            if tombstones:
                await send_text(protocol.frame_text({**head, "tombstones": tombstones}, []))
            await send_frame(frames.snapshot_end(key, lsn))
            # Updates that arrived meanwhile: those at or below the heat LSN are in the cache.
            feed.last_lsn, buffered = lsn, feed.buffer
            feed.buffer, feed.live = [], True
            for message in buffered:
                if message["lsn"] > lsn and not self._gap(feed, message):
                    await self._relay(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loading %s:%s failed", self.label, key)
            await send_frame(protocol.error("snapshot_failed", f"could not load {key}", anchor=key))

    async def _heat(self, pk: Any) -> dict[str, Any] | None:
        key = jsonable(pk)
        waiter = asyncio.get_running_loop().create_future()
        self.heat_waiters[key] = waiter
        ttl = self._ttl()
        request = HeatRequest(self.label, key, self.connection.channel_name)
        deadline = asyncio.get_running_loop().time() + rx_settings.HEAT_TIMEOUT
        try:
            # Asked again until answered: a worker killed after taking the request, or a reply
            # lost in the channel layer, must not leave the anchor unloaded. Answering twice is
            # harmless (the second finds the anchor hot).
            while True:
                await sync_to_async(heater().request, thread_sensitive=False)(request, ttl)
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    reply = await asyncio.wait_for(
                        asyncio.shield(waiter), min(HEAT_RETRY, max(remaining, 0.0))
                    )
                    break
                except TimeoutError:
                    if asyncio.get_running_loop().time() >= deadline:
                        raise
        except TimeoutError:
            log.error(
                "no replication worker answered a heat request for %s:%s within %ss: "
                "is `manage.py rx_replicate` running?",
                self.label,
                key,
                rx_settings.HEAT_TIMEOUT,
            )
            await self.connection.send_frame(
                protocol.error(
                    "worker_unavailable",
                    "the replication worker is not running (no answer to a snapshot request)",
                    anchor=key,
                )
            )
            return None
        finally:
            # Only our own: a reset may have started a newer load of this anchor whose waiter
            # registered while this (cancelled) one unwound.
            if self.heat_waiters.get(key) is waiter:
                del self.heat_waiters[key]
        if "error" in reply:
            error = protocol.error("snapshot_failed", reply["error"], anchor=key)
            await self.connection.send_frame(error)
            return None
        return dict(reply)

    def _gap(self, feed: Feed, message: dict[str, Any]) -> bool:
        """Did a message before this one never arrive? Then resume the anchor from the cache.

        Channel layers drop messages (a Redis disconnect, a consumer over capacity); the worker
        chains its updates (``prev_lsn``) so that a loss is noticed here instead of going unseen.
        """
        prev = message.get("prev_lsn")
        if prev is not None and prev > feed.last_lsn:
            log.warning(
                "%s:%s: updates after %s were lost in the channel layer; resuming",
                self.label,
                message["anchor"],
                feed.last_lsn,
            )
            self._open(feed.pk, feed.last_lsn)
            return True
        if message["last"]:  # a transaction counts once its last part was relayed
            feed.last_lsn = max(feed.last_lsn, message["lsn"])
        return False

    async def _relay(self, message: dict[str, Any]) -> None:
        if not self.privacy.affects(message):
            # Every connection of this anchor gets the same bytes: encode them once per process.
            await self.connection.send_text(protocol.shared_update_text(message))
            return
        instances, tombstones = self.privacy.filter(message["instances"], message["tombstones"])
        if not instances and not tombstones and message["part"] == 0 and message["last"]:
            return  # nothing this user may see
        await self.connection.send_text(protocol.update_text(message, instances, tombstones))

    # -- upkeep: keep-alive, resync, relist -----------------------------------------------------

    def _ttl(self) -> float:
        ttl = self.channel_class.cache_ttl()
        return float(ttl if ttl is not None else rx_settings.CACHE_TTL)

    async def _keep_alive(self) -> None:
        # A crashed server stops refreshing: the worker cools its anchors after the TTL.
        ttl = self._ttl()
        await _every(max(ttl / 3, 0.5), self._touch, "keeping anchors alive")

    async def _touch(self) -> None:
        pks = [jsonable(feed.pk) for feed in self.feeds.values()]
        await sync_to_async(_touch_all, thread_sensitive=False)(self.label, pks, self._ttl())

    async def _resync(self) -> None:
        # The prev_lsn chain notices a lost update at the anchor's next one; when nothing
        # follows (or the lost message was the reset of a cooled anchor), only the cache can
        # tell that the client is behind: the worker writes it after every publish.
        interval = rx_settings.RESYNC_INTERVAL
        checks = resyncs()
        checks.connections += 1
        try:
            # Connections opened together must not check together (rxcdc/resync.py).
            await asyncio.sleep(checks.first_delay(interval))
            await _every(interval, lambda: self._check(min(1.0, interval)), "resyncing", now=True)
        finally:
            checks.connections -= 1

    async def _resync_once(self, grace: float) -> None:
        """Check the anchors against the cache soon: the worker came back or Redis restarted.

        Every connection of the process is told at once; each waits a random part of a spread
        that grows with their number (at most ``resync.SPREAD_MAX`` s) and checks are batched.
        """
        await asyncio.sleep(resyncs().event_delay())
        await self._check(grace)

    async def _check(self, grace: float) -> None:
        sent = {key: feed.last_lsn for key, feed in self.feeds.items() if feed.live}
        behind = await resyncs().behind(self.label, sent)
        if not behind:
            return
        await asyncio.sleep(grace)  # an update may be on its way (published before the write)
        for key in behind:
            feed = self.feeds.get(key)
            if feed is not None and feed.live and feed.last_lsn == sent[key]:
                log.warning(
                    "%s:%s: the cache is ahead of %s or the anchor was cooled (a message was "
                    "lost); resuming",
                    self.label,
                    key,
                    feed.last_lsn,
                )
                self._open(feed.pk, feed.last_lsn)

    async def _relist(self) -> None:
        """List channels: show anchors created while their ``anchor_created`` could be lost."""
        await asyncio.sleep(resyncs().event_delay())  # every list socket of the process relists
        listed, _cut = await database_sync_to_async(listed_anchors)(self.channel)
        limit = rx_settings.MAX_ANCHORS
        for pk in listed:
            if len(self.feeds) >= limit:
                break
            await self.add(pk)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def listed_anchors(channel: Any) -> tuple[list[Any], bool]:
    """A list channel's anchors to show, and whether ``RX_MAX_ANCHORS`` cut the list.

    Raises what the channel's ``list_instances`` (or its queryset) raises.
    """
    limit = rx_settings.MAX_ANCHORS
    qs = channel.list_instances(channel.user, **channel.url_kwargs)
    pks = list(qs.values_list("pk", flat=True)[: limit + 1])
    return pks[:limit], len(pks) > limit


async def _every(
    interval: float, step: Callable[[], Awaitable[None]], what: str, *, now: bool = False
) -> None:
    """Run ``step()`` every ``interval`` seconds (``now``: first at once); failures retry.

    Redis or MongoDB being away for a while must not end a connection's upkeep for good.
    """
    if not now:
        await asyncio.sleep(interval)
    while True:
        try:
            await step()
        except Exception as exc:
            log.warning("%s failed (retrying in %ss): %s", what, interval, exc)
        await asyncio.sleep(interval)


def _touch_all(label: str, pks: list[Any], ttl: float) -> None:
    h = heater()
    for pk in pks:
        h.touch(label, pk, ttl)


def _visible(channel: Any, anchor: Any) -> Any:
    model = type(channel).state().root.model
    instance = model._default_manager.filter(pk=anchor).first()
    if instance is not None and channel.is_visible(channel.user, instance, **channel.url_kwargs):
        return instance
    return None

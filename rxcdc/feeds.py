"""A connection's anchors: heat through the worker, snapshot from the cache, then live updates.

Updates lost in the channel layer are noticed (the ``prev_lsn`` chain, and a periodic check
against the cache) and repaired by resuming the anchor from the cache.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

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

__all__ = ["AnchorFeeds", "Feed"]

log = logging.getLogger("rxcdc.feeds")

SNAPSHOT_BATCH = 500
HEAT_RETRY = 2.0  # seconds without an answer before a heat request is sent again


@dataclass
class Feed:
    """One anchor of one connection: buffering while its snapshot loads, then live."""

    pk: Any
    live: bool = False
    last_lsn: int = 0  # the newest update (or snapshot) LSN relayed
    buffer: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class AnchorFeeds:
    """The anchors half of ``StateConsumer``: one ``Feed`` per anchor the connection shows."""

    channel_class: Any
    state_channel: Any
    feeds: dict[Any, Feed]
    heat_waiters: dict[Any, asyncio.Future[dict[str, Any]]]
    privacy: PrivacyFilter | None
    if TYPE_CHECKING:  # provided by StateConsumer and channels' consumer
        channel_layer: Any
        channel_name: str
        send_frame: Callable[[Mapping[str, Any]], Awaitable[None]]
        send_text: Callable[[str], Awaitable[None]]
        send: Callable[..., Awaitable[None]]
        _refuse: Callable[[str, str, int], Awaitable[None]]
        join: Callable[[str], Awaitable[None]]
        leave: Callable[[str], Awaitable[None]]

    @property
    def label(self) -> str:
        """The channel's label."""
        return str(self.channel_class.label())

    # -- anchors: heat, snapshot, live ----------------------------------------------------------

    def anchor_pks(self) -> list[Any]:
        """The anchors this connection shows."""
        return [feed.pk for feed in self.feeds.values()]

    def _open_feed(self, pk: Any, since: int | None, *, added: bool = False) -> None:
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
        try:
            await self.join(anchor_group(self.label, feed.pk))
            reply = await self._heat(feed.pk)
            if reply is None:
                return
            if not reply.get("exists", True):
                if self.channel_class.is_list():
                    await self.remove_anchor(feed.pk)
                else:
                    await self._refuse(
                        "not_found", f"no such anchor {key}", protocol.CLOSE_NOT_FOUND
                    )
                return
            lsn = int(reply["lsn"])
            mode, instances, tombstones = await sync_to_async(
                cache().snapshot, thread_sensitive=False
            )(self.label, feed.pk, since)
            assert self.privacy is not None
            instances, tombstones = self.privacy.filter(instances, tombstones)
            if added:
                await self.send_frame(frames.anchor_added(key))
            await self.send_frame(frames.snapshot_begin(key, lsn, cast(frames.SnapshotMode, mode)))
            head = frames.snapshot_instances_head(key)
            for i in range(0, len(instances), SNAPSHOT_BATCH):
                await self.send_text(protocol.frame_text(head, instances[i : i + SNAPSHOT_BATCH]))
            if tombstones:
                await self.send_text(protocol.frame_text({**head, "tombstones": tombstones}, []))
            await self.send_frame(frames.snapshot_end(key, lsn))
            # Updates that arrived meanwhile: those at or below the heat LSN are in the cache.
            feed.last_lsn, buffered = lsn, feed.buffer
            feed.buffer, feed.live = [], True
            for message in buffered:
                if message["lsn"] > lsn and not await self._gap(feed, message):
                    await self._relay(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loading %s:%s failed", self.label, key)
            await self.send_frame(
                protocol.error("snapshot_failed", f"could not load {key}", anchor=key)
            )

    async def _heat(self, pk: Any) -> dict[str, Any] | None:
        key = jsonable(pk)
        waiter = asyncio.get_running_loop().create_future()
        self.heat_waiters[key] = waiter
        ttl = self._ttl()
        request = HeatRequest(self.label, key, self.channel_name)
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
            await self.send_frame(
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
            await self.send_frame(protocol.error("snapshot_failed", reply["error"], anchor=key))
            return None
        return dict(reply)

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
                self._open_feed(feed.pk, feed.last_lsn)

    async def add_anchor(self, pk: Any) -> None:
        """List channels: start showing an anchor."""
        if jsonable(pk) not in self.feeds:
            self._open_feed(pk, None, added=True)

    async def remove_anchor(self, pk: Any) -> None:
        """List channels: stop showing an anchor."""
        feed = self.feeds.pop(jsonable(pk), None)
        if feed is None:
            return
        if feed.task is not None and feed.task is not asyncio.current_task():
            feed.task.cancel()
        await self.leave(anchor_group(self.label, pk))
        await self.send_frame(frames.anchor_removed(jsonable(pk)))

    # -- channel-layer messages -----------------------------------------------------------------

    async def rx_hot(self, message: dict[str, Any]) -> None:
        """The worker's answer to a heat request."""
        waiter = self.heat_waiters.get(message["anchor"])
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def rx_update(self, message: dict[str, Any]) -> None:
        """One transaction's changes to an anchor: buffered while it loads, else relayed."""
        feed = self.feeds.get(message["anchor"])
        if feed is None:
            return
        if not feed.live:
            feed.buffer.append(message)
            return
        if not await self._gap(feed, message):
            await self._relay(message)

    async def _gap(self, feed: Feed, message: dict[str, Any]) -> bool:
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
            self._open_feed(feed.pk, feed.last_lsn)
            return True
        if message["last"]:  # a transaction counts once its last part was relayed
            feed.last_lsn = max(feed.last_lsn, message["lsn"])
        return False

    async def _relay(self, message: dict[str, Any]) -> None:
        assert self.privacy is not None
        if not self.privacy.affects(message):
            # Every connection of this anchor gets the same bytes: encode them once per process.
            await self.send_text(_shared_frame(message))
            return
        instances, tombstones = self.privacy.filter(message["instances"], message["tombstones"])
        if not instances and not tombstones and message["part"] == 0 and message["last"]:
            return  # nothing this user may see
        await self.send_text(_update_text(message, instances, tombstones))

    async def rx_reset(self, message: dict[str, Any]) -> None:
        """Drop and reload an anchor (TRUNCATE, cache clear, anchor row reborn)."""
        feed = self.feeds.get(message["anchor"])
        if feed is not None:
            await self.send_frame(frames.reset(message["anchor"], message["lsn"]))
            self._open_feed(feed.pk, None)

    async def rx_error(self, message: dict[str, Any]) -> None:
        """The worker quarantined an anchor: tell the client; a reset follows once it heals."""
        feed = self.feeds.get(message["anchor"])
        if feed is None:
            return
        if feed.task is not None and feed.task is not asyncio.current_task():
            feed.task.cancel()
        feed.live, feed.buffer = False, []  # updates stop; the resync leaves it alone
        await self.send_frame(
            frames.error(message["code"], message["message"], anchor=message["anchor"])
        )

    async def rx_anchor_created(self, message: dict[str, Any]) -> None:
        """List channels: a new anchor row; shown if ``is_visible`` says so."""
        if self.state_channel is None or not self.channel_class.auto_update():
            return
        visible = await database_sync_to_async(_visible)(self.state_channel, message["anchor"])
        if visible:
            await self.add_anchor(visible.pk)


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


def _update_text(
    message: dict[str, Any], instances: list[dict[str, Any]], tombstones: list[dict[str, Any]]
) -> str:
    head = frames.update_head(
        message["anchor"], message["lsn"], tombstones, message["part"], message["last"]
    )
    return protocol.frame_text(head, instances)


_SHARED: collections.OrderedDict[tuple[Any, ...], str] = collections.OrderedDict()


def _shared_frame(message: dict[str, Any]) -> str:
    """The encoded frame of an update for channels without ``user_key`` layers (LRU-cached)."""
    key = (message["channel"], message["anchor"], message["lsn"], message["part"])
    text = _SHARED.get(key)
    if text is None:
        tombs = [{k: v for k, v in t.items() if k != "_user"} for t in message["tombstones"]]
        text = _update_text(message, message["instances"], tombs)
        _SHARED[key] = text
        if len(_SHARED) > 256:
            _SHARED.popitem(last=False)
    return text


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

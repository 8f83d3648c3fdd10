"""The websocket consumer behind ``StateChannel.as_asgi()`` (protocol: docs/protocol.md)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist

from rxcdc import conf, protocol
from rxcdc.actions import ActionError, run_action
from rxcdc.clients import cache, heater
from rxcdc.fanout import SYSTEM_GROUP, anchor_group, channel_group
from rxcdc.heat import HeatRequest
from rxcdc.scope import UserScope
from rxcdc.serialize import jsonable
from rxcdc.writes import apply_write

__all__ = ["StateConsumer"]

log = logging.getLogger("rxcdc.consumer")
SNAPSHOT_BATCH = 500


@dataclass
class Feed:
    """One anchor of one connection: buffering while its snapshot loads, then live."""

    pk: Any
    live: bool = False
    last_lsn: int = 0  # the newest update (or snapshot) LSN relayed
    buffer: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class StateConsumer(AsyncWebsocketConsumer):
    """Authenticates, loads snapshots through the worker, relays updates, runs actions/writes."""

    channel_class: Any = None
    channel: Any = None  # the StateChannel instance, once authenticated

    def __init__(self, *args: Any, channel_class: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Channels passes as_asgi() keywords to __init__ but does not store them.
        self.channel_class = channel_class or self.channel_class

    async def connect(self) -> None:
        """Accept, then wait for the auth frame (closed after RX_AUTH_TIMEOUT)."""
        self.channel = None
        self.user: Any = None
        self.scope_filter: UserScope | None = None
        self.feeds: dict[Any, Feed] = {}
        self.heat_waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.custom_groups: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.tokens, self.refilled = float(conf.get("RX_RATE_BURST")), time.monotonic()
        await self.accept()
        self._spawn(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        """Stop loads and actions, leave every group, run the channel's hook."""
        for task in list(self.tasks):
            task.cancel()
        for feed in self.feeds.values():
            if feed.task:
                feed.task.cancel()
        groups = [anchor_group(self.label, pk) for pk in self.feeds] + list(self.custom_groups)
        if self.channel is not None:
            groups += [SYSTEM_GROUP, channel_group(self.label)]
            with contextlib.suppress(Exception):
                await self.channel.on_disconnect()
        for group in groups:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)

    @property
    def label(self) -> str:
        """The channel's label."""
        return str(self.channel_class.label())

    # -- inbound frames -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """One inbound frame: rate limit, validation, then auth or dispatch."""
        if not self._take_token():
            await self.send_frame(protocol.error("rate_limited", "too many frames; slow down"))
            return
        try:
            frame = protocol.parse(text_data, bytes_data, int(conf.get("RX_MAX_FRAME_BYTES")))
        except protocol.FrameError as exc:
            await self.send_frame(protocol.error(exc.code, exc.message, exc.request_id))
            return
        kind = frame["type"]
        if self.channel is None:
            if kind != "auth":
                await self.send_frame(protocol.error("unauthenticated", "send an auth frame first"))
                return
            await self._authenticate(frame)
        elif kind == "auth":
            await self.send_frame(protocol.error("malformed", "already authenticated"))
        elif kind == "ping":
            await self.send_frame({"type": "pong"})
        elif kind == "action":
            self._spawn(self._action(frame))
        elif kind == "write":
            self._spawn(self._write(frame))

    def _take_token(self) -> bool:
        """Token bucket: ``RX_RATE_LIMIT`` frames/s with bursts of ``RX_RATE_BURST``."""
        now = time.monotonic()
        rate, burst = float(conf.get("RX_RATE_LIMIT")), float(conf.get("RX_RATE_BURST"))
        self.tokens = min(burst, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(float(conf.get("RX_AUTH_TIMEOUT")))
        if self.channel is None:
            await self._refuse("timeout", "no auth frame in time", protocol.CLOSE_TIMEOUT)

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        await self.send_frame({"type": "auth.error", "code": code, "message": message})
        await self.close(close_code)

    async def _authenticate(self, frame: dict[str, Any]) -> None:
        user = self.scope.get("user")
        if frame.get("token"):
            user = await _token_user(frame["token"])
            if user is None:
                await self._refuse(
                    "unauthenticated", "invalid token", protocol.CLOSE_UNAUTHENTICATED
                )
                return
        kwargs = dict(self.scope.get("url_route", {}).get("kwargs", {}))
        channel = self.channel_class()
        channel.user, channel.url_kwargs, channel.consumer = user, kwargs, self
        allowed = user is not None and await database_sync_to_async(channel.has_permission)(
            user, **kwargs
        )
        if not allowed:
            if user is None or not user.is_authenticated:
                await self._refuse(
                    "unauthenticated", "log in first", protocol.CLOSE_UNAUTHENTICATED
                )
            else:
                await self._refuse("forbidden", "permission denied", protocol.CLOSE_FORBIDDEN)
            return
        try:
            anchors, cut = await database_sync_to_async(self._initial_anchors)(channel, kwargs)
        except (ValueError, TypeError, LookupError, ObjectDoesNotExist) as exc:
            await self._refuse("not_found", str(exc) or "no such anchor", protocol.CLOSE_NOT_FOUND)
            return
        self.channel, self.user = channel, user
        model = self.channel_class.state()
        self.scope_filter = UserScope(model, jsonable(user.pk) if user.is_authenticated else None)
        await self.channel_layer.group_add(SYSTEM_GROUP, self.channel_name)
        if self.channel_class.is_list():
            await self.channel_layer.group_add(channel_group(self.label), self.channel_name)
        await self.send_frame(
            {
                "type": "auth.ok",
                "protocol": protocol.PROTOCOL_VERSION,
                "channel": self.label,
                "list": self.channel_class.is_list(),
                "anchors": [jsonable(a) for a in anchors],
                "user": jsonable(user.pk) if user.is_authenticated else None,
            }
        )
        if cut:
            limit = conf.get("RX_MAX_ANCHORS")
            await self.send_frame(
                protocol.error(
                    "too_many_anchors", f"only the first {limit} anchors are shown (RX_MAX_ANCHORS)"
                )
            )
        await channel.on_connect()
        since = frame.get("since") or {}
        for pk in anchors:
            self._open_feed(pk, since.get(str(jsonable(pk))))
        self._spawn(self._keep_alive())
        self._spawn(self._resync())

    def _initial_anchors(self, channel: Any, kwargs: dict[str, Any]) -> tuple[list[Any], bool]:
        """The anchors to show, and whether ``RX_MAX_ANCHORS`` cut the list short."""
        if not self.channel_class.is_list():
            return [channel.get_anchor(**kwargs)], False
        limit = int(conf.get("RX_MAX_ANCHORS"))
        qs = channel.list_instances(channel.user, **kwargs)
        pks = list(qs.values_list("pk", flat=True)[: limit + 1])
        return pks[:limit], len(pks) > limit

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
            await self.channel_layer.group_add(anchor_group(self.label, feed.pk), self.channel_name)
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
                _read_snapshot, thread_sensitive=False
            )(self.label, feed.pk, since)
            assert self.scope_filter is not None
            instances, tombstones = self.scope_filter.filter(instances, tombstones)
            if added:
                await self.send_frame({"type": "anchor.added", "anchor": key})
            await self.send_frame(
                {"type": "snapshot.begin", "anchor": key, "lsn": lsn, "mode": mode}
            )
            for i in range(0, len(instances), SNAPSHOT_BATCH):
                await self.send_frame(
                    {
                        "type": "snapshot.instances",
                        "anchor": key,
                        "instances": instances[i : i + SNAPSHOT_BATCH],
                    }
                )
            if tombstones:
                await self.send_frame(
                    {
                        "type": "snapshot.instances",
                        "anchor": key,
                        "instances": [],
                        "tombstones": tombstones,
                    }
                )
            await self.send_frame({"type": "snapshot.end", "anchor": key, "lsn": lsn})
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
        await sync_to_async(heater().request, thread_sensitive=False)(
            HeatRequest(self.label, key, self.channel_name), ttl
        )
        try:
            reply = await asyncio.wait_for(waiter, float(conf.get("RX_HEAT_TIMEOUT")))
        except TimeoutError:
            log.error(
                "no replication worker answered a heat request for %s:%s within %ss: "
                "is `manage.py rx_replicate` running?",
                self.label,
                key,
                conf.get("RX_HEAT_TIMEOUT"),
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
            self.heat_waiters.pop(key, None)
        if "error" in reply:
            await self.send_frame(protocol.error("snapshot_failed", reply["error"], anchor=key))
            return None
        return dict(reply)

    def _ttl(self) -> float:
        ttl = self.channel_class.cache_ttl()
        return float(ttl if ttl is not None else conf.get("RX_CACHE_TTL"))

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
        interval = float(conf.get("RX_RESYNC_INTERVAL"))
        await _every(interval, lambda: self._resync_once(min(1.0, interval)), "resyncing")

    async def _resync_once(self, grace: float) -> None:
        sent = {key: feed.last_lsn for key, feed in self.feeds.items() if feed.live}
        behind = await sync_to_async(cache().anchors_behind, thread_sensitive=False)(
            self.label, sent
        )
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
        await self.channel_layer.group_discard(anchor_group(self.label, pk), self.channel_name)
        await self.send_frame({"type": "anchor.removed", "anchor": jsonable(pk)})

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
        feed.last_lsn = max(feed.last_lsn, message["lsn"])
        return False

    async def _relay(self, message: dict[str, Any]) -> None:
        assert self.scope_filter is not None
        if not self.scope_filter.affects(message):
            # Every connection of this anchor gets the same bytes: encode them once per process.
            with contextlib.suppress(Exception):  # the socket may be closing
                await self.send(text_data=_shared_frame(message))
            return
        instances, tombstones = self.scope_filter.filter(
            [dict(i) for i in message["instances"]], [dict(t) for t in message["tombstones"]]
        )
        if not instances and not tombstones and message["part"] == 0 and message["last"]:
            return  # nothing this user may see
        await self.send_frame(_update_frame(message, instances, tombstones))

    async def rx_reset(self, message: dict[str, Any]) -> None:
        """Drop and reload an anchor (TRUNCATE, cache clear, anchor row reborn)."""
        feed = self.feeds.get(message["anchor"])
        if feed is not None:
            await self.send_frame(
                {"type": "reset", "anchor": message["anchor"], "lsn": message["lsn"]}
            )
            self._open_feed(feed.pk, None)

    async def rx_anchor_created(self, message: dict[str, Any]) -> None:
        """List channels: a new anchor row; shown if ``is_visible`` says so."""
        if self.channel is None or not self.channel_class.auto_update():
            return
        visible = await database_sync_to_async(_visible)(self.channel, message["anchor"])
        if visible:
            await self.add_anchor(visible.pk)

    async def rx_notification(self, message: dict[str, Any]) -> None:
        """Forward a notification for this anchor (and user, when it names one)."""
        if message.get("user") in (None, self.scope_filter and self.scope_filter.user_id):
            await self.send_frame(
                {"type": "notification", "anchor": message["anchor"], "payload": message["payload"]}
            )

    async def rx_system(self, message: dict[str, Any]) -> None:
        """Forward a system message."""
        await self.send_frame(
            {"type": "system", "source": message["source"], "message": message["message"]}
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Route ``@consumer`` event types to the channel, ``rx.*`` to ours, the rest as usual."""
        kind = message.get("type", "")
        # ``@consumer`` handlers of the channel get their event types first.
        if self.channel is not None and kind in self.channel_class.consumer_handlers():
            await self.channel_class.consumer_handlers()[kind](self.channel, message)
            return
        if kind.startswith("rx."):
            # Channels' dispatch first closes stale database connections through a hop to the
            # shared sync thread: one per connection per update, which made fan-out to many
            # clients queue behind that thread. Our rx.* handlers reach the database only
            # through database_sync_to_async, which closes them itself.
            handler = getattr(self, get_handler_name(message), None)
            if handler is not None:
                await handler(message)
                return
        await super().dispatch(message)

    async def join_custom(self, group: str) -> None:
        """Join a group for ``@consumer`` handlers; left on disconnect."""
        self.custom_groups.add(group)
        await self.channel_layer.group_add(group, self.channel_name)

    # -- actions, writes, runtime variables ------------------------------------------------------

    async def _action(self, frame: dict[str, Any]) -> None:
        try:
            result = await run_action(self.channel, frame["action"], frame.get("params") or {})
        except ActionError as exc:
            await self.send_frame(
                {"type": "action.error", "id": frame["id"], "code": exc.code, "message": str(exc)}
            )
            return
        reply = {"type": "action.result", "id": frame["id"], "result": result}
        try:
            protocol.dumps(reply)
        except (TypeError, ValueError) as exc:
            log.error("action %s returned what JSON cannot encode: %s", frame["action"], exc)
            reply = {
                "type": "action.error",
                "id": frame["id"],
                "code": "failed",
                "message": f"action {frame['action']} returned a value that cannot be sent",
            }
        await self.send_frame(reply)

    async def _write(self, frame: dict[str, Any]) -> None:
        anchors = self.anchor_pks()
        try:
            result = await database_sync_to_async(apply_write)(
                self.channel, cache(), anchors, self.user, frame
            )
        except ActionError as exc:
            await self.send_frame(
                {"type": "write.error", "id": frame["id"], "code": exc.code, "message": str(exc)}
            )
            return
        except Exception:
            log.exception("write %s failed", frame.get("id"))
            await self.send_frame(
                {
                    "type": "write.error",
                    "id": frame["id"],
                    "code": "failed",
                    "message": "write failed",
                }
            )
            return
        await self.send_frame({"type": "write.result", "id": frame["id"], **result})

    async def set_runtime_var(self, name: str, value: Any) -> None:
        """Send a runtime variable of this connection."""
        await self.send_frame({"type": "runtime", "name": name, "value": value})

    # -- helpers --------------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame."""
        with contextlib.suppress(Exception):  # the socket may be closing
            await self.send(text_data=protocol.dumps(frame))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def _every(interval: float, step: Any, what: str) -> None:
    """Run ``step()`` every ``interval`` seconds; a failure is logged and retried next round.

    Redis or MongoDB being away for a while must not end a connection's upkeep for good.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await step()
        except Exception as exc:
            log.warning("%s failed (retrying in %ss): %s", what, interval, exc)


def _update_frame(
    message: dict[str, Any], instances: list[dict[str, Any]], tombstones: list[dict[str, Any]]
) -> dict[str, Any]:
    frame = {
        "type": "update",
        "anchor": message["anchor"],
        "lsn": message["lsn"],
        "instances": instances,
        "tombstones": tombstones,
    }
    if not (message["part"] == 0 and message["last"]):
        frame.update(part=message["part"], last=message["last"])
    return frame


_SHARED: collections.OrderedDict[tuple[Any, ...], str] = collections.OrderedDict()


def _shared_frame(message: dict[str, Any]) -> str:
    """The encoded frame of an update for channels without ``user_key`` layers (LRU-cached)."""
    key = (message["channel"], message["anchor"], message["lsn"], message["part"])
    text = _SHARED.get(key)
    if text is None:
        strip = [{k: v for k, v in i.items() if k != "_user"} for i in message["instances"]]
        tombs = [{k: v for k, v in t.items() if k != "_user"} for t in message["tombstones"]]
        text = protocol.dumps(_update_frame(message, strip, tombs))
        _SHARED[key] = text
        if len(_SHARED) > 256:
            _SHARED.popitem(last=False)
    return text


def _read_snapshot(
    label: str, pk: Any, since: int | None
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Instances (and, when resuming, tombstones) of an anchor from the cache.

    Resuming sends only what changed after ``since``, which the cache can do when the anchor has
    been hot since before then; otherwise the client gets everything (``mode: full``).
    """
    c = cache()
    meta = c.meta.find_one({"_id": f"{label}:{jsonable(pk)}"})
    docs: Iterable[dict[str, Any]]
    if since is not None and meta is not None and meta["lsn"] <= since:
        docs = c.collection(label).find({"a": jsonable(pk), "_lsn": {"$gt": since}})
        mode = "delta"
    else:
        docs = c.anchor_docs(label, pk)
        mode = "full"
    instances, tombstones = [], []
    for doc in docs:
        if doc.get("del"):
            tombstones.append({**protocol.tombstone(doc), "_user": doc.get("u")})
        else:
            instances.append({**protocol.instance(doc), "_user": doc.get("u")})
    return mode, instances, tombstones


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


async def _token_user(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    def lookup() -> Any:
        token = Token.objects.select_related("user").filter(key=key).first()
        return token.user if token is not None and token.user.is_active else None

    return await database_sync_to_async(lookup)()

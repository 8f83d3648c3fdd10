"""The websocket consumer behind ``StateChannel.as_asgi()`` (protocol: docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import InterfaceError, OperationalError

from rxcdc import actions, frames, liveness, metrics, protocol, reauth, writes
from rxcdc.admission import Refused, admit, hook_failed
from rxcdc.anchors import ConnectionAnchors
from rxcdc.conf import rx_settings
from rxcdc.fanout import SYSTEM_GROUP, channel_group
from rxcdc.origin import is_allowed, origin_of
from rxcdc.privacy import PrivacyFilter
from rxcdc.serialize import jsonable

__all__ = ["StateConsumer"]

log = logging.getLogger("rxcdc.consumer")


class StateConsumer(AsyncWebsocketConsumer):
    """Authenticates, runs actions and writes; its ``anchors`` load snapshots and relay updates."""

    channel_class: Any = None
    state_channel: Any = None  # the StateChannel instance, once authenticated

    def __init__(self, *args: Any, channel_class: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Channels passes as_asgi() keywords to __init__ but does not store them.
        self.channel_class = channel_class or self.channel_class
        self.user: Any = None
        self.privacy: PrivacyFilter | None = None
        self.anchors: ConnectionAnchors | None = None  # once authenticated
        self.groups: set[str] = set()  # every group joined, anchors' included; left at the end
        self.tasks: set[asyncio.Task[Any]] = set()
        self.credentials: dict[str, Any] = {}
        self.closing = False  # refused or revoked: frames still in flight are ignored
        self.closed = False  # close sent: nothing more goes out (updates may still arrive)
        self.ended = False
        self.worker_up = True  # until the worker's key says otherwise

    @property
    def label(self) -> str:
        """The channel's label."""
        return str(self.channel_class.label())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the connection; however it ends (close, crash, cancellation), stop all it started."""
        try:
            with metrics.connection(self.label):
                await super().__call__(scope, receive, send)
        finally:
            await self._end()

    async def connect(self) -> None:
        """Accept, check the Origin, then wait for the auth frame (closed after RX_AUTH_TIMEOUT)."""
        self.state_channel = None
        self.tokens, self.refilled = float(rx_settings.RATE_BURST), time.monotonic()
        await self.accept()
        origin = origin_of(self.scope)
        if origin is not None and not is_allowed(origin, self.scope):
            # Accepted first so that the client learns why (a refused handshake is just 1006).
            message = f"origin {origin} is not allowed (RX_ALLOWED_ORIGINS)"
            await self.refuse("bad_origin", message, protocol.CLOSE_FORBIDDEN)
            return
        self._spawn(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        """Stop loads and actions, leave every group, run the channel's hook."""
        await self._end()

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._stop_tasks()
        if self.state_channel is not None:
            with contextlib.suppress(Exception):
                await self.state_channel.on_disconnect()
        for group in list(self.groups):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)

    def _stop_tasks(self) -> None:
        """Cancel every task of this connection (but the caller's own) and stop its watches."""
        with contextlib.suppress(RuntimeError):  # no running loop: nothing was started
            liveness.watch().unsubscribe(self)
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
        if self.anchors is not None:
            self.anchors.stop()

    # -- inbound frames -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """One inbound frame; whatever goes wrong is answered, never the end of the socket."""
        if self.closing:
            return
        try:
            await self._receive(text_data, bytes_data)
        except Exception:
            log.exception("%s: handling a frame failed", self.label)
            await self.send_frame(protocol.error("server_error", "the server failed on this frame"))

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if not self._take_token():
            await self.send_frame(protocol.error("rate_limited", "too many frames; slow down"))
            return
        limit = rx_settings.MAX_FRAME_BYTES
        size = frame_bytes(text_data, bytes_data)
        if size > limit:
            message = f"frame of {size} bytes exceeds {limit}"
            await self.send_frame(protocol.error("too_large", message))
            return
        try:
            frame = protocol.parse(text_data, bytes_data, limit)
        except protocol.FrameError as exc:
            await self.send_frame(protocol.error(exc.code, exc.message, exc.request_id))
            return
        kind = frame["type"]
        metrics.frame_received(kind)
        if self.state_channel is None:
            if kind != "auth":
                await self.send_frame(protocol.error("unauthenticated", "send an auth frame first"))
                return
            await self._authenticate(frame)
        elif kind == "auth":
            await self.send_frame(protocol.error("malformed", "already authenticated"))
        elif kind == "ping":
            await self.send_frame(frames.pong())
        elif kind == "action":
            self._spawn(self._action(frame))
        elif kind == "write":
            self._spawn(self._write(frame))

    def _take_token(self) -> bool:
        """Token bucket: ``RX_RATE_LIMIT`` frames/s with bursts of ``RX_RATE_BURST``."""
        now = time.monotonic()
        rate, burst = rx_settings.RATE_LIMIT, rx_settings.RATE_BURST
        self.tokens = min(burst, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(rx_settings.AUTH_TIMEOUT)
        if self.state_channel is None:
            await self.refuse("timeout", "no auth frame in time", protocol.CLOSE_TIMEOUT)

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """``auth.error`` then close; nothing of this connection runs or arrives afterwards."""
        if self.closing:
            return
        self.closing = True
        metrics.refused(code)
        await self.send_frame(frames.auth_error(code, message))
        await self.close(close_code)
        self.closed = True
        self._stop_tasks()

    async def _hook_failed(self, what: str) -> None:
        await self._refused(hook_failed(self.channel_class, what))

    async def _refused(self, refused: Refused) -> None:
        await self.refuse(refused.code, refused.message, refused.close_code)

    async def _authenticate(self, frame: dict[str, Any]) -> None:
        try:
            admission = await admit(self.channel_class, self.scope, frame, self)
        except Refused as refused:
            await self._refused(refused)
            return
        if self.closing:  # refused meanwhile (the auth deadline)
            return
        channel, user, pks = admission.channel, admission.user, admission.pks
        self.state_channel, self.user = channel, user
        self.credentials = reauth.credentials(self.scope, admission.token)
        model = self.channel_class.state()
        self.privacy = PrivacyFilter(model, jsonable(user.pk) if user.is_authenticated else None)
        self.anchors = ConnectionAnchors(self, channel, self.privacy)
        await self.join(SYSTEM_GROUP)
        if user.is_authenticated:
            await self.join(reauth.user_group(user.pk))
        if self.channel_class.is_list():
            await self.join(channel_group(self.label))
        await self.send_frame(
            frames.auth_ok(
                self.label,
                self.channel_class.is_list(),
                [jsonable(pk) for pk in pks],
                jsonable(user.pk) if user.is_authenticated else None,
                protocol.PROTOCOL_VERSION,
            )
        )
        if admission.cut:
            limit = rx_settings.MAX_ANCHORS
            await self.send_frame(
                protocol.error(
                    "too_many_anchors", f"only the first {limit} anchors are shown (RX_MAX_ANCHORS)"
                )
            )
        try:
            await channel.on_connect()
        except Exception:
            await self._hook_failed("on_connect")
            return
        watch = liveness.watch()
        watch.subscribe(self, self._worker_status, self._redis_restarted)
        if watch.up is False:
            await self._worker_status(False)
        self.anchors.start(pks, frame.get("since") or {})
        self._spawn(self._reauth_loop())

    # -- revocation and worker status ------------------------------------------------------------

    async def _reauth_loop(self) -> None:
        interval = rx_settings.REAUTH_INTERVAL
        # The first check falls anywhere in the interval: sockets opened together (a deploy, a
        # Redis restart) would otherwise query the database together, every interval.
        await asyncio.sleep(random.uniform(0, interval))
        while not self.closing:
            await self.reauthenticate()
            await asyncio.sleep(interval)

    async def reauthenticate(self) -> None:
        """Check the credentials and ``has_permission`` again; close with 4401/4403 if gone."""
        if self.state_channel is None or self.closing:
            return
        try:
            verdict = await reauth.verdict(self.state_channel, self.credentials)
        except (OperationalError, InterfaceError) as exc:
            # The database is away: keep the socket, ask again next round.
            log.warning("%s: re-authentication postponed: %s", self.label, exc)
            return
        except Exception:
            await self._hook_failed("has_permission")
            return
        if verdict is not None:
            await self.refuse(*verdict)
        elif self.state_channel.user is not None:
            self.user = self.state_channel.user

    async def rx_reauth(self, message: dict[str, Any]) -> None:
        """The user's token or row changed, or a session logged out: check at once.

        A logout names its session: Django flushes it only after telling us, so a check now
        could still find it valid.
        """
        ended = message.get("ended_session")
        if (
            ended
            and not self.credentials.get("token")
            and ended == self.credentials.get("session_key")
        ):
            await self.refuse("unauthenticated", "logged out", protocol.CLOSE_UNAUTHENTICATED)
            return
        await self.reauthenticate()

    async def _worker_status(self, up: bool) -> None:
        """Tell the client the worker went down or came back; resume the anchors once back."""
        if up == self.worker_up or self.closing:
            return
        self.worker_up = up
        await self.send_frame(frames.status(up))
        if up and self.anchors is not None:
            self.anchors.worker_back()

    async def _redis_restarted(self) -> None:
        """Redis restarted: rejoin every group, renew the anchors' keys, check what was missed.

        Without persistence Redis forgot the groups (channels_redis's core layer keeps them
        there) and the liveness keys; either way, updates published meanwhile are gone.
        """
        if self.closing:
            return
        for group in list(self.groups):
            await self.channel_layer.group_add(group, self.channel_name)
        if self.anchors is not None:
            await self.anchors.redis_restarted()

    # -- channel-layer messages ------------------------------------------------------------------

    # Channels finds a message's handler on the consumer; the anchors' handle them once they
    # exist (before authentication, no anchor's group is joined and no heat was requested).

    async def rx_hot(self, message: dict[str, Any]) -> None:
        """The worker's answer to a heat request (``ConnectionAnchors.on_hot``)."""
        if self.anchors is not None:
            await self.anchors.on_hot(message)

    async def rx_update(self, message: dict[str, Any]) -> None:
        """One transaction's changes to an anchor (``ConnectionAnchors.on_update``)."""
        if self.anchors is not None:
            await self.anchors.on_update(message)

    async def rx_reset(self, message: dict[str, Any]) -> None:
        """Drop and reload an anchor (``ConnectionAnchors.on_reset``)."""
        if self.anchors is not None:
            await self.anchors.on_reset(message)

    async def rx_error(self, message: dict[str, Any]) -> None:
        """The worker quarantined an anchor (``ConnectionAnchors.on_error``)."""
        if self.anchors is not None:
            await self.anchors.on_error(message)

    async def rx_anchor_created(self, message: dict[str, Any]) -> None:
        """List channels: a new anchor row (``ConnectionAnchors.on_anchor_created``)."""
        if self.anchors is not None:
            await self.anchors.on_anchor_created(message)

    async def rx_notification(self, message: dict[str, Any]) -> None:
        """Forward a notification for this anchor (and user, when it names one)."""
        if message.get("user") in (None, self.privacy and self.privacy.user_id):
            await self.send_frame(frames.notification(message["anchor"], message["payload"]))

    async def rx_system(self, message: dict[str, Any]) -> None:
        """Forward a system message."""
        await self.send_frame(frames.system(message["source"], message["message"]))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Route ``@consumer`` event types to the channel, ``rx.*`` to ours, the rest as usual."""
        kind = message.get("type", "")
        # ``@consumer`` handlers of the channel get their event types first.
        if self.state_channel is not None and kind in self.channel_class.consumer_handlers():
            await self.channel_class.consumer_handlers()[kind](self.state_channel, message)
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

    async def join(self, group: str) -> None:
        """Join a channel-layer group until the connection ends (rejoined if Redis restarts)."""
        self.groups.add(group)
        await self.channel_layer.group_add(group, self.channel_name)

    async def leave(self, group: str) -> None:
        """Leave a group joined with ``join``."""
        self.groups.discard(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    # -- actions, writes, runtime variables ------------------------------------------------------

    async def _action(self, frame: dict[str, Any]) -> None:
        await self.send_frame(await actions.answer(self.state_channel, frame))

    async def _write(self, frame: dict[str, Any]) -> None:
        assert self.anchors is not None  # writes are taken once authenticated
        pks = self.anchors.pks()
        await self.send_frame(await writes.answer(self.state_channel, pks, self.user, frame))

    async def set_runtime_var(self, name: str, value: Any) -> None:
        """Send a runtime variable of this connection."""
        await self.send_frame(frames.runtime(name, value))

    # -- helpers --------------------------------------------------------------------------------

    async def send_frame(self, frame: Mapping[str, Any]) -> None:
        """Send one JSON frame."""
        await self.send_text(protocol.dumps(frame))

    async def send_text(self, text: str) -> None:
        """Send one frame already encoded as JSON text."""
        if self.closed:
            return
        with contextlib.suppress(Exception):  # the socket may be closing
            await self.send(text_data=text)
            metrics.frame_sent(text)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def frame_bytes(text: str | None, binary: bytes | None) -> int:
    """The size of an inbound frame in UTF-8 bytes, as it crossed the wire.

    Daphne hands text frames over decoded: ``len()`` would count characters, up to four times
    fewer than the bytes.
    """
    if binary is not None:
        return len(binary)
    if text is None:
        return 0
    # surrogatepass: a str that never came off a wire (a test) may hold a lone surrogate
    return len(text.encode("utf-8", "surrogatepass"))

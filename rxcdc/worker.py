"""The replication worker: stream → route → serialize → cache → publish → acknowledge."""

from __future__ import annotations

import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import close_old_connections

from replication.changes import Chunk, Heartbeat, Transaction
from rxcdc import conf
from rxcdc.cache import Cache, doc_id, restore_loader
from rxcdc.channels import StateChannel, all_channels
from rxcdc.fanout import Publisher, anchor_group, channel_group, update_message
from rxcdc.heat import Heater, HeatRequest
from rxcdc.routing import Batch, Router, Tracked
from rxcdc.serialize import jsonable, load_rows
from rxcdc.sinks import Sink
from rxcdc.state import AnchorKey, Delta, HotState
from rxcdc.visibility import wait_until_visible

__all__ = ["Worker"]

# What a refresh hands to delivery: deltas, anchors to reset, anchors created, sink messages.
Refreshed = tuple[
    dict[AnchorKey, Delta], set[AnchorKey], set[AnchorKey], list[tuple[str, dict[str, Any]]]
]

log = logging.getLogger("rxcdc.worker")


class Worker:
    """Applies committed transactions to hot anchors; the cache's only writer."""

    def __init__(
        self,
        cache: Cache,
        heater: Heater,
        publisher: Publisher,
        channels: Iterable[type[StateChannel]] | None = None,
        *,
        cache_ttl: float | None = None,
        sinks: Iterable[Sink] = (),
    ) -> None:
        self.channels = {
            c.label(): c for c in (channels if channels is not None else all_channels())
        }
        self.cache, self.heater, self.publisher = cache, heater, publisher
        self.cache_ttl = float(cache_ttl if cache_ttl is not None else conf.get("RX_CACHE_TTL"))
        self.state = HotState()
        self.sinks = list(sinks)
        self.router = Router(
            [
                Tracked(label, c.state().layers, c.is_list() and c.auto_update())
                for label, c in self.channels.items()
            ],
            self.state,
        )
        self.position = 0  # commit LSN of the last transaction fully handled
        self._open: set[AnchorKey] = set()  # anchors sent a part of the current transaction
        self._in_transaction = False
        self._published: dict[AnchorKey, int] = {}  # last update LSN sent per anchor
        self._visible: set[int] = set()  # the transaction already checked by wait_until_visible
        self._next_cool = 0.0
        self._next_poll = 0.0
        self._next_announce = 0.0
        self._next_log = 0.0
        self._stats = {"transactions": 0, "changes": 0, "since": time.monotonic()}
        self.slot_lock: Any = None  # replication.leader.SlotLock, set by rxcdc.runner
        self.lag = 0.0  # seconds from the last transaction's commit to its acknowledgement
        self.outages = 0  # failed attempts to reach a service, for monitoring and tests
        # Seconds spent per stage since start (route, serialize, cache, publish): see make bench.
        self.timings: dict[str, float] = defaultdict(float)

    def tables(self) -> list[str]:
        """Tables whose changes this worker needs (for the stream's table filter)."""
        extra = {t for sink in self.sinks for t in sink.tables()}
        return sorted(set(self.router.tables()) | extra)

    # -- startup ------------------------------------------------------------------------------

    def restore(self, position: int) -> None:
        """Rebuild the in-memory state of hot anchors from the cache (after a restart)."""
        self.position = position
        self.state = self.router.state = HotState()
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for meta in self.cache.hot_anchors():
            if meta["channel"] in self.channels:
                by_channel[meta["channel"]].append(meta["anchor"])
            else:
                self.cache.cool(meta["channel"], meta["anchor"])
        for label, anchors in by_channel.items():
            model = self.channels[label].state()
            docs_by_anchor = self.cache.live_docs(label, anchors)
            for raw in anchors:
                self._restore_anchor(label, model, raw, docs_by_anchor[raw], position)
        log.info("restored %d hot anchors at %s", len(self.state.anchors), _fmt(position))

    def _restore_anchor(
        self, label: str, model: Any, raw: Any, docs: list[dict[str, Any]], position: int
    ) -> None:
        anchor = model.root.model._meta.pk.to_python(raw)
        key = (label, anchor)
        delta = self.state.heat(key, model, restore_loader(model, docs))
        reached = {doc_id(anchor, t, pk) for (t, pk) in delta.upserts}
        if delta.missing or len(reached) != len(docs):
            # A crash cut a transaction's writes short (a link to a missing document, or a
            # document nothing links to): re-read the anchor and stamp it with the newest
            # LSN it holds, so replayed transactions up to there change nothing more.
            every = self.cache.anchor_docs(label, anchor, live_only=False)
            newest = max((d["_lsn"] for d in every), default=position)
            self.state.cool(key)
            fresh = self.state.heat(key, model, load_rows)
            self.cache.rewrite(label, anchor, newest, fresh)
            log.info("repaired %s:%s from the database", label, anchor)

    # -- the loop ------------------------------------------------------------------------------

    def handle(self, event: Any, ack: Callable[[Transaction], None]) -> None:
        """Apply one stream event; acknowledges a transaction once its last chunk is durable."""
        if isinstance(event, Chunk):
            self._in_transaction = not event.last
            self.apply_chunk(event)
            if event.last:
                ack(event.transaction)
                self.position = event.transaction.commit_lsn
                self._stats["transactions"] += 1
                # Commit → acknowledged, on the database's clock: how far behind we run.
                self.lag = (datetime.now(UTC) - event.transaction.commit_time).total_seconds()
        elif isinstance(event, Heartbeat):
            self.position = max(self.position, event.lsn)
        if not self._in_transaction:
            self._retrying(self.housekeeping)

    def apply_chunk(self, chunk: Chunk) -> None:
        """Route, refresh, write and publish one chunk of a transaction."""
        if chunk.index == 0:
            self._open.clear()
        broken = False
        result: Refreshed | None = None

        def refresh() -> None:
            nonlocal broken, result
            if broken:
                # A failed refresh leaves the state half-updated; the cache holds every
                # transaction delivered before this chunk, so rebuild from it and start over.
                self.restore(self.position)
            broken = True
            result = self._refresh(chunk)
            broken = False

        self._retrying(refresh)
        assert result is not None
        deltas, resets, created, extra = result
        lsn = chunk.transaction.commit_lsn
        # State is updated: delivery is idempotent (LSN-guarded writes), so retry it as a unit.
        self._retrying(lambda: self._deliver(deltas, lsn, chunk, resets, created, extra))

    def _refresh(self, chunk: Chunk) -> Refreshed:
        started = time.perf_counter()
        batch = Batch()
        for change in chunk.changes:
            self.router.route(change, batch)
        self._stats["changes"] += batch.changes
        routed = time.perf_counter()
        lsn = chunk.transaction.commit_lsn
        # (Announced new anchors count too: consumers read the new row when they hear of it.)
        touched = batch.dirty or batch.reload or batch.created
        if touched and chunk.transaction.xid not in self._visible:
            # Re-reading rows before the commit is visible would return their old values.
            wait_until_visible(chunk.transaction.xid)
            self._visible = {chunk.transaction.xid}
        deltas = self.state.refresh(batch.dirty, load_rows)
        for key in batch.reload:
            deltas[key] = self._reload(key, lsn)
        extra = [m for sink in self.sinks for m in sink.messages(chunk)]
        self.timings["route"] += routed - started
        self.timings["serialize"] += time.perf_counter() - routed
        return deltas, batch.reload, batch.created, extra

    def _deliver(
        self,
        deltas: dict[AnchorKey, Delta],
        lsn: int,
        chunk: Chunk,
        resets: set[AnchorKey],
        created: set[AnchorKey],
        extra: list[tuple[str, dict[str, Any]]],
    ) -> None:
        started = time.perf_counter()
        messages: list[tuple[str, dict[str, Any]]] = []
        writes: dict[str, dict[Any, Delta]] = {}
        for key, delta in deltas.items():
            if not delta and key not in resets and not (chunk.last and key in self._open):
                continue
            label, anchor = key
            writes.setdefault(label, {})[anchor] = delta
            msg = update_message(label, anchor, lsn, delta, part=chunk.index, last=chunk.last)
            msg["prev_lsn"] = self._chain(key, lsn)
            if key in resets:
                msg = {"type": "rx.reset", "channel": label, "anchor": jsonable(anchor), "lsn": lsn}
            messages.append((anchor_group(label, anchor), msg))
            self._open.add(key)
        if chunk.last:
            for key in self._open - set(deltas):
                closing = update_message(*key, lsn, Delta(), part=chunk.index, last=True)
                closing["prev_lsn"] = self._chain(key, lsn)
                messages.append((anchor_group(*key), closing))
        for label, anchor in created:
            messages.append(
                (
                    channel_group(label),
                    {
                        "type": "rx.anchor_created",
                        "channel": label,
                        "anchor": jsonable(anchor),
                        "lsn": lsn,
                    },
                )
            )
        # Publishing first saves the client the cache's round trips. It is safe: heat replies
        # are only given between transactions, so no snapshot can miss what was published, and
        # the transaction is acknowledged only after both steps.
        self.publisher.group_send(messages)
        self.publisher.group_send(extra, ordered=True)  # sinks' order matters (group moves)
        published = time.perf_counter()
        for label, by_anchor in writes.items():
            self.cache.write_many(label, by_anchor, lsn)
        self.timings["publish"] += published - started
        self.timings["cache"] += time.perf_counter() - published

    def _chain(self, key: AnchorKey, lsn: int) -> int | None:
        """The LSN of the previous update sent to an anchor (None after a heat or restart).

        Consumers notice a lost message by the gap (channel layers drop messages: the pub/sub
        layer during a Redis disconnect, RedisChannelLayer over a consumer's capacity).
        """
        prev = self._published.get(key)
        self._published[key] = lsn
        return prev

    def _reload(self, key: AnchorKey, lsn: int) -> Delta:
        """Re-read a whole anchor (after TRUNCATE, or when its row appears again)."""
        label, anchor = key
        model = self.channels[label].state()
        self.state.cool(key)
        delta = self.state.heat(key, model, load_rows)
        keep = {doc_id(anchor, t, pk) for (t, pk) in delta.upserts}
        self.cache.tombstone_missing(label, anchor, keep, lsn)
        return delta

    # -- heat, cool, progress ------------------------------------------------------------------

    def housekeeping(self, *, force: bool = False) -> None:
        """Answer heat requests, cool anchors nobody watches, log progress."""
        now = time.monotonic()
        # Under load this runs after every transaction: one Redis round trip per 50 ms at most.
        if now < self._next_poll and not force:
            return
        self._next_poll = now + 0.05
        if now >= self._next_announce:
            self.heater.announce_worker(os.getpid(), ttl=15.0)
            self._next_announce = now + 5.0
        requests, cooling = self.heater.pop()
        if requests:
            self.heat(requests)
        for label, anchor in cooling:
            self._cool_on_request(label, anchor)
        if now >= self._next_cool:
            self._next_cool = now + min(5.0, self.cache_ttl / 4)
            for key in self.heater.expired(list(self.state.anchors)):
                self.cool(key)
        if now >= self._next_log:
            self._log_progress(now)

    def heat(self, requests: list[HeatRequest]) -> None:
        """Make anchors hot (those that are not, together) and tell each requester the LSN."""
        replies: list[tuple[str, dict[str, Any]]] = []
        wanted: dict[AnchorKey, Any] = {}
        keys: list[tuple[HeatRequest, AnchorKey]] = []
        for req in requests:
            reply = {"type": "rx.hot", "channel": req.label, "anchor": req.anchor}
            channel = self.channels.get(req.label)
            try:
                if channel is None:
                    raise LookupError(f"unknown channel {req.label!r}")
                model = channel.state()
                key = (req.label, model.root.model._meta.pk.to_python(req.anchor))
            except (LookupError, ValueError, TypeError, ValidationError) as exc:
                replies.append((req.reply, {**reply, "error": str(exc)}))
                continue
            if key not in self.state.anchors:
                wanted[key] = model
            keys.append((req, key))
        try:
            if wanted:
                self._heat_new(wanted)
        except Exception as exc:  # never leave half-loaded anchors hot; answer, do not hang
            for key in wanted:
                self.state.cool(key)
            log.warning("heating %d anchors failed: %s", len(wanted), exc)
            replies += [
                (
                    req.reply,
                    {
                        "type": "rx.hot",
                        "channel": req.label,
                        "anchor": req.anchor,
                        "error": f"heat failed: {exc}",
                    },
                )
                for req, _ in keys
            ]
            keys = []
        for req, key in keys:
            replies.append(
                (
                    req.reply,
                    {
                        "type": "rx.hot",
                        "channel": req.label,
                        "anchor": req.anchor,
                        "lsn": self.position,
                        "exists": self.state.anchors[key].exists,
                    },
                )
            )
        self.publisher.send_many(replies)

    def _heat_new(self, wanted: dict[AnchorKey, Any]) -> None:
        deltas = self.state.heat_many(list(wanted.items()), load_rows)
        by_channel: dict[str, dict[Any, Delta]] = defaultdict(dict)
        for (label, anchor), delta in deltas.items():
            by_channel[label][anchor] = delta
        for label, by_anchor in by_channel.items():
            self.cache.write_many(label, by_anchor, self.position)
            self.cache.mark_hot(label, list(by_anchor), self.position)
        log.debug("heated %d anchors", len(deltas))

    def _cool_on_request(self, label: str | None, anchor: Any) -> None:
        """``rx_cache clear``: drop matching anchors; connected clients get a reset."""
        keys = [
            k
            for k in self.state.anchors
            if label in (None, k[0]) and anchor in (None, jsonable(k[1]))
        ]
        for key in keys:
            self.cool(key)
        self.publisher.group_send(
            [
                (
                    anchor_group(*k),
                    {
                        "type": "rx.reset",
                        "channel": k[0],
                        "anchor": jsonable(k[1]),
                        "lsn": self.position,
                    },
                )
                for k in keys
            ]
        )
        log.info("cleared %d anchors on request", len(keys))

    def cool(self, key: AnchorKey) -> None:
        """Forget an anchor and remove its documents."""
        self.state.cool(key)
        self._published.pop(key, None)
        self.cache.cool(*key)
        log.debug("cooled %s:%s", *key)

    def _log_progress(self, now: float) -> None:
        interval = float(conf.get("RX_LOG_INTERVAL"))
        elapsed = max(now - self._stats["since"], 1e-9)
        if self._stats["transactions"] or now >= self._next_log + interval:
            log.info(
                "at %s, lag %.3fs: %.1f tx/s, %.0f changes/s, %d hot anchors",
                _fmt(self.position),
                self.lag,
                self._stats["transactions"] / elapsed,
                self._stats["changes"] / elapsed,
                len(self.state.anchors),
            )
        self._stats = {"transactions": 0, "changes": 0, "since": now}
        self._next_log = now + interval

    # -- resilience ------------------------------------------------------------------------------

    def _retrying(self, step: Callable[[], None], *, cap: float = 10.0) -> None:
        """Run ``step`` until it succeeds; services that are down are waited for, not skipped."""
        delay = 0.1
        while True:
            try:
                step()
                return
            except _TRANSIENT as exc:
                self.outages += 1
                log.warning(
                    "%s unavailable (%s); retrying in %.1fs, not acknowledging",
                    _service(exc),
                    exc,
                    delay,
                )
                close_old_connections()
                time.sleep(delay * (0.5 + random.random()))  # jitter
                delay = min(cap, delay * 2)


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


_TRANSIENT = _transient()


def _service(exc: BaseException) -> str:
    module = type(exc).__module__
    return {"pymongo": "MongoDB", "redis": "Redis", "django": "PostgreSQL"}.get(
        module.split(".")[0], "a service"
    )


def _fmt(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"

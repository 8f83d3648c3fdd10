"""The replication worker: stream → route → serialize → cache → publish → acknowledge."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import close_old_connections, connections

from replication.changes import (
    Chunk,
    Delete,
    Heartbeat,
    Insert,
    Run,
    Transaction,
    Truncate,
    Update,
    format_lsn,
)
from rxcdc import frames
from rxcdc.cache import Cache, doc_id, restore_loader
from rxcdc.channels import StateChannel, all_channels
from rxcdc.conf import rx_settings
from rxcdc.delivery import Delivery
from rxcdc.fanout import Publisher, anchor_group
from rxcdc.heat import Heater, HeatRequest
from rxcdc.isolation import TRANSIENT, Quarantine, isolating, retrying
from rxcdc.routing import Batch, Router, Tracked
from rxcdc.serialize import jsonable, load_rows
from rxcdc.sinks import Sink, sink_messages
from rxcdc.state import AnchorKey, Delta, HotState
from rxcdc.visibility import VisibilityGate

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
        self.cache_ttl = cache_ttl if cache_ttl is not None else rx_settings.CACHE_TTL
        self.state = HotState()
        self.sinks = list(sinks)
        self.router = Router(
            [
                Tracked(label, c.state().tracked, c.is_list() and c.auto_update())
                for label, c in self.channels.items()
            ],
            self.state,
        )
        self.position = 0  # commit LSN of the last transaction fully handled
        self._in_transaction = False
        self._visible: set[int] = set()  # transactions already proved visible
        self._next_cool = 0.0
        self._next_poll = 0.0
        self._next_generation = 0.0
        self._next_announce = 0.0
        self._next_log = 0.0
        self._stats = {"transactions": 0, "changes": 0, "since": time.monotonic()}
        # rxcdc.lease.Lease, set by rxcdc.runner: checked before anything is written or acked.
        self.lease: Any = None
        self.on_outage: list[Callable[[BaseException], None]] = []  # runner: let Postgres go
        # The cache generation this worker wrote (rxcdc.runner); another one means rebuild.
        self.generation: str | None = None
        self.lag = 0.0  # seconds from the last transaction's commit to its acknowledgement
        self.outages = 0  # failed attempts to reach a service, for monitoring and tests
        # Set by Replicator.stop (SIGTERM): a wait for a service ends with isolation.Stopped.
        self.stopping = threading.Event()
        # Seconds spent per stage since start (route, serialize, cache, publish): see make bench.
        self.timings: dict[str, float] = defaultdict(float)
        self.quarantine = Quarantine()  # anchors whose state could not be produced
        # A fault raises RowError naming its row; tables whose DELETEs lack the pk note the
        # identities of the rows loaded (rxcdc.identity).
        self.visibility = VisibilityGate()
        self._load = isolating(self.router.identity.loading(self.visibility.loader(load_rows)))
        # (schema, relation) → db_table, for tracked tables whose relation name is not their
        # db_table (another schema); set by rxcdc.runner. Changes are renamed before routing.
        self.table_names: dict[tuple[str, str], str] = {}
        self.on_clear: list[Callable[[], None]] = []  # run on rx_cache clear (runner: stream)
        self.delivery = Delivery(cache, publisher, self._quarantine, self.timings)

    def tables(self) -> list[str]:
        """Tables whose changes this worker needs (for the stream's table filter)."""
        extra = {t for sink in self.sinks for t in sink.tables()}
        return sorted(set(self.router.tables()) | extra)

    # -- startup ------------------------------------------------------------------------------

    def restore(self, position: int) -> None:
        """Rebuild the in-memory state of hot anchors from the cache (after a restart)."""
        self.position = position
        self.state = self.router.state = HotState()
        self.delivery.chain.clear()
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for meta in self.cache.hot_anchors():
            if meta["channel"] in self.channels:
                by_channel[meta["channel"]].append(meta["anchor"])
            else:
                self.cache.cool(meta["channel"], meta["anchor"])
        repaired: list[AnchorKey] = []
        for label, anchors in by_channel.items():
            model = self.channels[label].state()
            docs_by_anchor, last = self.cache.restore_docs(label, anchors)
            for raw in anchors:
                key = (label, model.root.model._meta.pk.to_python(raw))
                if self._restore_anchor(key, model, docs_by_anchor[raw], position):
                    repaired.append(key)
                # What clients may have applied: their next update names it (prev_lsn), so
                # one that missed the last message before a crash resumes from the cache.
                self.delivery.chain[key] = last.get(jsonable(key[1]), position)
        for key, failure in self.cache.broken_anchors(self.channels):
            self.quarantine.anchors[key] = failure
        self.router.identity.restored()  # the cache does not hold identities
        self.announce_resets(repaired)
        log.info("restored %d hot anchors at %s", len(self.state.anchors), format_lsn(position))

    def _restore_anchor(
        self, key: AnchorKey, model: Any, docs: list[dict[str, Any]], position: int
    ) -> bool:
        """Rebuild one anchor from its documents; re-read it if they are inconsistent.

        Returns whether it was repaired: then its clients must hear of it (invariant 13).
        """
        label, anchor = key
        delta = self.state.heat(key, model, restore_loader(model, docs, self._load))
        reached = {doc_id(anchor, t, pk) for (t, pk) in delta.upserts}
        consistent = not delta.missing and len(reached) == len(docs)
        if consistent and not model.chained:
            return False
        # A crash cut a transaction's writes short (a link to a missing document, or a
        # document nothing links to): re-read the anchor from the database. So do anchors
        # whose dependencies chain: only their first links are cached, and a row deleted
        # further along while the worker was down would never be routed to them.
        self.state.cool(key)
        try:
            fresh = self.state.heat(key, model, self._load)
        except TRANSIENT:
            raise
        except Exception as exc:
            self._quarantine(key, exc)
            return False
        cached = {d["_id"]: d.get("json") for d in docs}
        if consistent and cached == {
            doc_id(anchor, t, pk): row.text for (t, pk), row in fresh.upserts.items()
        }:
            return False  # the database still says what the cache holds
        newest = self.cache.newest_lsn(label, anchor, default=position)
        self.cache.rewrite(label, anchor, max(newest, position), fresh)
        # The re-read state is newer than anything streamed so far: no client's `since` may
        # resume from before it (they get it whole), and connected clients reload it.
        self.cache.mark_hot(label, [anchor], max(_wal_now(), newest, position))
        log.warning("repaired %s:%s from the database; its clients reload it", label, anchor)
        return True

    def announce(self) -> None:
        """Refresh the presence key consumers watch (``heat.WORKER_KEY``): 15 s TTL, every 5 s."""
        self.heater.announce_worker(os.getpid(), ttl=15.0)
        self._next_announce = time.monotonic() + 5.0

    def announce_resets(self, keys: list[AnchorKey]) -> None:
        """Tell these anchors' clients to reload them (``rx.reset`` at our position)."""
        self.publisher.group_send(
            [
                (
                    anchor_group(*key),
                    frames.rx_reset(key[0], jsonable(key[1]), self.position),
                )
                for key in keys
            ]
        )

    # -- the loop ------------------------------------------------------------------------------

    def handle(self, event: Any, ack: Callable[[Transaction], None]) -> None:
        """Apply one stream event; acknowledges a transaction once its last chunk is durable.

        A ``Run`` (whole transactions that were waiting together) is applied as one: one
        re-read per layer, one cache write, one message per anchor stamped with its last LSN.
        """
        self._fence()
        if isinstance(event, Chunk | Run):
            chunks = event.chunks if isinstance(event, Run) else (event,)
            last = chunks[-1]
            self._in_transaction = not last.last
            if self.table_names:
                for chunk in chunks:
                    self._rename(chunk)
            self._apply(chunks)
            if last.last:
                ack(last.transaction)
                self.position = last.transaction.commit_lsn
                self._stats["transactions"] += len(chunks)
                # Commit → acknowledged, on the database's clock: how far behind we run.
                self.lag = (datetime.now(UTC) - last.transaction.commit_time).total_seconds()
        elif isinstance(event, Heartbeat):
            self.position = max(self.position, event.lsn)
        if not self._in_transaction:
            self._retrying(self.housekeeping)

    def _rename(self, chunk: Chunk) -> None:
        """Name each change's table by the db_table the router knows (one lookup per change)."""
        names = self.table_names
        for change in chunk.changes:
            if isinstance(change, Insert | Update | Delete | Truncate):
                db_table = names.get((change.schema, change.table))
                if db_table is not None:
                    change.table = db_table

    def apply_chunk(self, chunk: Chunk) -> None:
        """Route, refresh, write and publish one chunk of a transaction."""
        self._apply((chunk,))

    def _apply(self, chunks: Sequence[Chunk]) -> None:
        """Route, refresh, write and publish one chunk, or a run of whole transactions as one.

        A run's messages carry its last commit LSN: a client applies the run as one state
        transition and never sees a state between its transactions (docs/protocol.md).
        """
        chunk = chunks[-1]
        if chunks[0].index == 0:
            self.delivery.begin()
        broken = False
        result: Refreshed | None = None

        def refresh() -> None:
            nonlocal broken, result
            if broken:
                # A failed refresh leaves the state half-updated; the cache holds every
                # transaction delivered before this chunk, so rebuild from it and start over.
                self.restore(self.position)
            broken = True
            result = self._refresh(chunks)
            broken = False

        self._retrying(refresh)
        assert result is not None
        deltas, resets, created, extra = result
        lsn = chunk.transaction.commit_lsn
        self._fence()  # refreshing may have taken long: still ours before anything is written?
        # State is updated: delivery is idempotent (LSN-guarded writes), so retry it as a unit.
        self._retrying(
            lambda: self.delivery.deliver(
                deltas,
                lsn,
                chunk.last,
                resets=resets,
                created=created,
                extra=extra,
                skip=self.quarantine.anchors.__contains__,
            )
        )

    def _refresh(self, chunks: Sequence[Chunk]) -> Refreshed:
        started = time.perf_counter()
        batch = Batch()
        route = self.router.route
        for chunk in chunks:
            for change in chunk.changes:
                route(change, batch)
        self._stats["changes"] += batch.changes
        if self.quarantine.anchors:
            changes = [c for chunk in chunks for c in chunk.changes]
            self.quarantine.notice(self.router.rows(changes), self._channel_tables)
        routed = time.perf_counter()
        lsn = chunks[-1].transaction.commit_lsn
        # (Announced new anchors count too: consumers read the new row when they hear of it.)
        touched = batch.dirty or batch.reload or batch.created
        xids = {c.transaction.xid for c in chunks}
        if touched and not xids <= self._visible:
            # Re-reading rows before the commit is visible would return their old values. Each
            # transaction of a run is checked: visibility need not follow commit order.
            self.visibility.expect(xids - self._visible)
            self._visible = xids
        deltas = self._refresh_isolated(batch.dirty)
        for key in batch.reload:
            if key in self.state.anchors:
                try:
                    deltas[key] = self._reload(key, lsn)
                except TRANSIENT:
                    raise
                except Exception as exc:
                    self._quarantine(key, exc)
        self.visibility.settle()  # no row read: announced anchors are read by consumers
        extra: list[tuple[str, dict[str, Any]]] = []
        for sink in self.sinks:
            for chunk in chunks:
                messages, skipped = sink_messages(sink, chunk)
                extra += messages
                self.quarantine.count += skipped
        self.timings["route"] += routed - started
        self.timings["serialize"] += time.perf_counter() - routed
        return deltas, batch.reload, batch.created, extra

    def _refresh_isolated(
        self, dirty: dict[AnchorKey, set[tuple[Any, Any]]]
    ) -> dict[AnchorKey, Delta]:
        """Refresh all dirty anchors in one batch; after a fault, each anchor on its own.

        The faulty anchors are quarantined; the others get their deltas as usual.
        """
        try:
            return self.state.refresh(dirty, self._load)
        except TRANSIENT:
            raise
        except Exception:
            log.info("a refresh failed; rebuilding from the cache and refreshing anchor by anchor")
        self.restore(self.position)
        deltas: dict[AnchorKey, Delta] = {}
        for key, items in dirty.items():
            if key not in self.state.anchors:
                continue
            try:
                deltas.update(self.state.refresh({key: items}, self._load))
            except TRANSIENT:
                raise
            except Exception as exc:
                self._quarantine(key, exc)
        return deltas

    def _reload(self, key: AnchorKey, lsn: int) -> Delta:
        """Re-read a whole anchor (after TRUNCATE, or when its row appears again)."""
        label, anchor = key
        model = self.channels[label].state()
        self.state.cool(key)
        delta = self.state.heat(key, model, self._load)
        keep = {doc_id(anchor, t, pk) for (t, pk) in delta.upserts}
        self.cache.tombstone_missing(label, anchor, keep, lsn)
        return delta

    # -- faults ----------------------------------------------------------------------------------

    def _quarantine(self, key: AnchorKey, exc: BaseException) -> None:
        """Isolate an anchor whose state could not be produced (invariant 11).

        It is cooled, marked broken in the cache (so restarts remember it) and its clients get
        an ``error``; a change to the failed row makes the worker try again (see ``_heal``).
        """
        label, anchor = key
        failure = self.quarantine.add(key, exc)
        log.error(
            "channel %s anchor %s quarantined: %s (table %s, pk %r); the stream goes on",
            label,
            jsonable(anchor),
            failure.reason,
            failure.table or "?",
            failure.pk,
        )
        self.state.cool(key)
        self.delivery.forget(key)
        self.cache.mark_broken(label, anchor, failure)
        self.publisher.group_send(
            [
                (
                    anchor_group(label, anchor),
                    frames.rx_error(
                        label,
                        jsonable(anchor),
                        "anchor_failed",
                        f"this state cannot be produced: {failure.reason}",
                    ),
                )
            ]
        )

    def _heal(self) -> None:
        """Between transactions: try quarantined anchors whose failed row changed again."""
        keys = [k for k in self.quarantine.due() if k[0] in self.channels]
        if keys:
            self._heat_new({k: self.channels[k[0]].state() for k in keys})
        healed = [k for k in keys if k in self.state.anchors]
        for key in healed:
            self.quarantine.heal(key)
            log.info("channel %s anchor %s healed", key[0], jsonable(key[1]))
        self.announce_resets(healed)

    def _channel_tables(self, label: str) -> set[str]:
        return self.channels[label].state().tables()

    # -- heat, cool, progress ------------------------------------------------------------------

    def housekeeping(self, *, force: bool = False) -> None:
        """Answer heat requests, cool anchors nobody watches, log progress."""
        now = time.monotonic()
        # Under load this runs after every transaction: one Redis round trip per 50 ms at most.
        if now < self._next_poll and not force:
            return
        self._next_poll = now + 0.05
        requests, cooling = self.heater.pop()
        # Before any heat reply: it must never point consumers at a cache that lost its data.
        # Otherwise once a second: under load a MongoDB round trip per poll was a fifth of the
        # worker's time (the stand-in answers in 5-10 ms), and a lost cache is rebuilt anyway.
        due = requests or force or now >= self._next_generation
        if self.generation is not None and due:
            self._next_generation = now + 1.0
            if self.cache.generation() != self.generation:
                self.rebuild_cache()
        if now >= self._next_announce:
            self.announce()
        if requests:
            self.heat(requests)
        if self.quarantine.anchors:
            self._heal()
        for label, anchor in cooling:
            self._cool_on_request(label, anchor)
        if now >= self._next_cool:
            self._next_cool = now + min(5.0, self.cache_ttl / 4)
            for key in self.heater.expired(list(self.state.anchors)):
                self.cool(key)
        if now >= self._next_log:
            self._log_progress(now)

    def rebuild_cache(self) -> None:
        """The cache is not the one this worker wrote (it lost its data): write it again.

        Every hot anchor is re-read from the database; then a new generation marker lets
        consumers serve snapshots again, and clients reload (invariant 13).
        """
        keys = list(self.state.anchors)
        log.warning(
            "the cache is not the one this worker wrote (generation %s, found %s): "
            "rebuilding %d hot anchors",
            self.generation,
            self.cache.generation(),
            len(keys),
        )
        # Documents written since the loss are partial: nothing of the old cache is kept.
        self.cache.wipe(self.channels)
        self.cache.ensure_format()
        self.cache.ensure_indexes(self.channels)
        for key in keys:
            self.state.cool(key)
            self.delivery.forget(key)
        self._heat_new({k: self.channels[k[0]].state() for k in keys})
        self.generation = self.cache.new_generation()
        self.announce_resets(keys)

    def heat(self, requests: list[HeatRequest]) -> None:
        """Make anchors hot (those that are not, together) and tell each requester the LSN."""
        replies: list[tuple[str, frames.HotMessage]] = []
        wanted: dict[AnchorKey, Any] = {}
        keys: list[tuple[HeatRequest, AnchorKey]] = []
        for req in requests:
            channel = self.channels.get(req.label)
            try:
                if channel is None:
                    raise LookupError(f"unknown channel {req.label!r}")
                model = channel.state()
                key = (req.label, model.root.model._meta.pk.to_python(req.anchor))
            except (LookupError, ValueError, TypeError, ValidationError) as exc:
                replies.append(_hot(req, error=str(exc)))
                continue
            if key not in self.state.anchors:
                wanted[key] = model
            keys.append((req, key))
        failed = self._heat_new(wanted) if wanted else {}
        healed = [k for k in wanted if k in self.quarantine.anchors and k not in failed]
        for key in healed:
            self.quarantine.heal(key)
        self.announce_resets(healed)  # clients that got its error reload it
        for req, key in keys:
            if key in failed:
                replies.append(_hot(req, error=f"heat failed: {failed[key]}"))
            else:
                exists = self.state.anchors[key].exists
                replies.append(_hot(req, lsn=self.position, exists=exists))
        self.publisher.send_many(replies)

    def _heat_new(self, wanted: dict[AnchorKey, Any]) -> dict[AnchorKey, str]:
        """Heat anchors together (one query per layer); after a fault, one by one.

        Returns the anchors that could not be heated, with why; those are left cold (never
        half-loaded) and, for faults of their own, quarantined.
        """
        try:
            self._heat_together(wanted)
            return {}
        except Exception as exc:
            for key in wanted:
                self.state.cool(key)
            if isinstance(exc, TRANSIENT):
                log.warning("heating %d anchors failed: %s", len(wanted), exc)
                return dict.fromkeys(wanted, str(exc))
        failed: dict[AnchorKey, str] = {}
        for key, model in wanted.items():
            try:
                self._heat_together({key: model})
            except Exception as exc:
                self.state.cool(key)
                failed[key] = str(exc)
                if not isinstance(exc, TRANSIENT):
                    self._quarantine(key, exc)
        return failed

    def _heat_together(self, wanted: dict[AnchorKey, Any]) -> None:
        deltas = self.state.heat_many(list(wanted.items()), self._load)
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
        for hook in self.on_clear:  # e.g. partitions attached since: look their names up again
            hook()
        self.announce_resets(keys)
        log.info("cleared %d anchors on request", len(keys))

    def cool(self, key: AnchorKey) -> None:
        """Forget an anchor and remove its documents."""
        self.state.cool(key)
        self.delivery.forget(key)
        self.cache.cool(*key)
        log.debug("cooled %s:%s", *key)

    def _log_progress(self, now: float) -> None:
        interval = rx_settings.LOG_INTERVAL
        elapsed = max(now - self._stats["since"], 1e-9)
        if self._stats["transactions"] or now >= self._next_log + interval:
            log.info(
                "at %s, lag %.3fs: %.1f tx/s, %.0f changes/s, %d hot anchors, "
                "%d quarantined (%d faults isolated since start)",
                format_lsn(self.position),
                self.lag,
                self._stats["transactions"] / elapsed,
                self._stats["changes"] / elapsed,
                len(self.state.anchors),
                len(self.quarantine.anchors),
                self.quarantine.count,
            )
        self._stats = {"transactions": 0, "changes": 0, "since": now}
        self._next_log = now + interval

    # -- resilience ------------------------------------------------------------------------------

    def _fence(self) -> None:
        """Stop here (``LeaseLost``) if another worker took the slot over (rxcdc.lease)."""
        if self.lease is not None:
            self._retrying(self.lease.check)

    def _retrying(self, step: Callable[[], None]) -> None:
        """Run ``step`` until no service outage stops it (see ``rxcdc.isolation.retrying``)."""

        def outage(exc: BaseException) -> None:
            self.outages += 1
            close_old_connections()
            for hook in self.on_outage:
                hook(exc)

        retrying(step, outage, stop=self.stopping)


def _hot(req: HeatRequest, **fields: Any) -> tuple[str, frames.HotMessage]:
    """The worker's answer to a heat request (``lsn`` and ``exists``, or ``error``)."""
    return req.reply, frames.rx_hot(req.label, req.anchor, **fields)


def _wal_now() -> int:
    """The server's current WAL write position (an LSN)."""
    with connections[rx_settings.DATABASE].cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        row = cur.fetchone()
    return int(row[0]) if row else 0

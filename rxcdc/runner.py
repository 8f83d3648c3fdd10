"""Build the worker and its stream from Django settings (used by ``rx_replicate`` and tests)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import redis

from replication.leader import SlotLock
from replication.slot import ensure_slot, preflight, slot_status
from replication.stream import ReplicationStream
from rxcdc import conf
from rxcdc.cache import Cache
from rxcdc.channels import StateChannel
from rxcdc.conf import rx_settings
from rxcdc.fanout import Publisher
from rxcdc.heat import Heater
from rxcdc.isolation import TRANSIENT, service
from rxcdc.lease import Lease
from rxcdc.sinks import registered
from rxcdc.tables import identities, resolve
from rxcdc.worker import Worker

__all__ = ["open_stream", "start_worker"]

log = logging.getLogger("rxcdc.worker")


def start_worker(
    channels: Iterable[type[StateChannel]] | None = None,
    *,
    on_outage: Iterable[Callable[[BaseException], None]] = (),
) -> Worker:
    """A worker wired to the configured MongoDB, Redis and channel layer.

    Waits for MongoDB if it is not up yet (one log line per attempt, backoff up to 10 s).
    ``on_outage``: hooks told of every failed attempt, from this wait on (``Worker.on_outage``).
    """
    cache = Cache(conf.mongo_url(), rx_settings.MONGO_DB)
    heater = Heater(redis.Redis.from_url(conf.redis_url()))
    worker = Worker(cache, heater, Publisher(), channels, sinks=registered())
    worker.on_outage.extend(on_outage)

    def prepare() -> None:
        if cache.ensure_format():
            log.warning("the cache was written by another rxcdc version: cleared it")
        cache.ensure_indexes(worker.channels)

    _when_reachable(prepare, "MongoDB", worker.on_outage)
    return worker


def _when_reachable(
    step: Callable[[], None], what: str, hooks: Iterable[Callable[[BaseException], None]] = ()
) -> None:
    """Run ``step`` until the service it needs answers; services may start after the worker.

    ``hooks`` hear of each failed attempt (metrics count them).
    """
    delay = 0.5
    while True:
        try:
            step()
            return
        except TRANSIENT as exc:
            for hook in list(hooks):
                hook(exc)
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            log.warning("%s unreachable at start (%s); retrying in %.1f s", what, reason, delay)
            time.sleep(delay)  # backing off between attempts: nothing to wait on but time
            delay = min(10.0, delay * 2)


def open_stream(
    worker: Worker, *, idle_tick: float = 0.05, standby: bool = False
) -> tuple[ReplicationStream, SlotLock]:
    """Take the slot's lock, check the server, restore the worker and open its stream.

    Creates the slot if needed; returns the stream and the lock, held (by its session) until
    released. Raises ``replication.errors.ReplicationError`` with what to do when streaming
    cannot start (``SlotInUse`` naming the active worker, unless ``standby`` waits for it to
    stop); the lock is released then.
    """
    dsn, slot = conf.replication_dsn(), rx_settings.SLOT_NAME
    lock = SlotLock(dsn, slot, lease=rx_settings.LEASE_TIMEOUT)
    lock.acquire(wait=standby)
    if lock.fenced:
        log.warning(
            "took slot %r over from a worker whose lease lapsed (ended %s)", slot, lock.fenced
        )
    try:
        return _open(worker, lock, dsn, slot, idle_tick), lock
    except BaseException:
        lock.release()
        raise


def _open(
    worker: Worker, lock: SlotLock, dsn: str, slot: str, idle_tick: float
) -> ReplicationStream:
    preflight(dsn, slot)
    new_slot = ensure_slot(dsn, slot)
    hot = [(m["channel"], m["anchor"]) for m in worker.cache.hot_anchors()] if new_slot else []
    if new_slot:
        # A new slot streams only from now on: whatever the cache holds may have missed
        # changes (a first start, or a lost or dropped slot). Consumers re-heat on demand.
        cleared = worker.cache.clear()
        if cleared:
            log.warning("new replication slot %r: cleared %d cached anchors", slot, cleared)
    lease = Lease(lock, lambda: 0)  # the stream's position, once it exists (below)
    stream = ReplicationStream(
        dsn,
        slot,
        configure_tables(worker),
        chunk_size=rx_settings.CHUNK_SIZE,
        # A worker that falls behind applies what is waiting in runs of whole transactions
        # (rxcdc.worker): one re-read per layer and one message per anchor for all of them.
        run_changes=rx_settings.CHUNK_SIZE,
        heartbeat_interval=rx_settings.HEARTBEAT_INTERVAL,
        idle_tick=idle_tick,
        # Reconnect soon after a Postgres restart (the default backoff grows to 30 s).
        backoff_max=5.0,
        before_connect=lease.before_connect,
        sender_timeout=lease.timeout,
    )
    worker.on_clear.append(stream.forget_tables)
    position = slot_status(dsn, slot).confirmed_flush_lsn or 0
    worker.restore(position)
    # Clients of anchors a new slot cleared hold states the cache has left (invariant 13).
    worker.announce_resets(hot)
    lease.position = lambda: max(stream.acked_lsn, position)
    worker.lease = lease
    worker.on_outage.append(lambda exc: _outage(exc, stream, lease))
    # The cache it restored from is the one it vouches for; a missing marker (a first start,
    # or a server that lost its data) gets a new one, after the restore rewrote what it must.
    found = None if new_slot else worker.cache.generation()
    worker.generation = found or worker.cache.new_generation()
    # Consumers tell their clients the worker is there from its first event on, not from its
    # first housekeeping tick: a client connecting now is not told "down" for nothing.
    _when_reachable(worker.announce, "Redis", worker.on_outage)
    return stream


def _outage(exc: BaseException, stream: ReplicationStream, lease: Lease) -> None:
    """While the worker waits for a service: let a stopping Postgres go, keep the lease."""
    if service(exc) == "PostgreSQL":
        # Its walsender would hold a fast shutdown until we confirm a flush (issue 19, item 7).
        stream.interrupt()
    with contextlib.suppress(ConnectionError):  # Postgres is down: renewing waits too
        lease.check()


def configure_tables(worker: Worker) -> list[tuple[str, str]]:
    """Resolve the worker's tables in the catalog; returns the (schema, name) to stream.

    Each ``db_table`` is resolved as the ORM resolves it (``search_path``, or a schema-qualified
    name); the worker learns which relation names to rename back, and which tables' DELETEs
    carry an identity without the pk (``rxcdc.identity``). A table that does not exist (yet)
    is streamed as ``RX_SCHEMA.db_table``.
    """
    wanted = worker.tables()
    found = resolve(wanted)
    worker.table_names = {
        (t.schema, t.name): t.db_table for t in found.values() if t.name != t.db_table
    }
    router = worker.router
    for db_table, relations in identities(found.values()).items():
        pk_column = router.pk_columns.get(db_table)
        if pk_column is None or db_table not in router.by_table or len(relations) != 1:
            continue  # through tables route by their parent column; partitions: see checks
        (identity,) = relations
        if identity.columns and not identity.carries(pk_column):
            router.identity.track(db_table, identity.columns, pk_column)
    schema = rx_settings.SCHEMA
    return [(found[t].schema, found[t].name) if t in found else (schema, t) for t in wanted]

"""Build the worker and its stream from Django settings (used by ``rx_replicate`` and tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis

from replication.leader import SlotLock
from replication.slot import ensure_slot, preflight, slot_status
from replication.stream import ReplicationStream
from rxcdc import conf
from rxcdc.cache import Cache
from rxcdc.channels import StateChannel
from rxcdc.fanout import Publisher
from rxcdc.heat import Heater
from rxcdc.sinks import registered
from rxcdc.worker import Worker

__all__ = ["open_stream", "start_worker"]

log = logging.getLogger("rxcdc.worker")


def start_worker(channels: Iterable[type[StateChannel]] | None = None) -> Worker:
    """A worker wired to the configured MongoDB, Redis and channel layer."""
    cache = Cache(conf.mongo_url(), conf.get("RX_MONGO_DB"))
    heater = Heater(redis.Redis.from_url(conf.redis_url()))
    worker = Worker(cache, heater, Publisher(), channels, sinks=registered())
    if cache.ensure_format():
        log.warning("the cache was written by another rxcdc version: cleared it")
    cache.ensure_indexes(worker.channels)
    return worker


def open_stream(
    worker: Worker, *, idle_tick: float = 0.05, standby: bool = False
) -> ReplicationStream:
    """Take the slot's lock, check the server, restore the worker and open its stream.

    Creates the slot if needed. Raises ``replication.errors.ReplicationError`` with what to do
    when streaming cannot start (``SlotInUse`` naming the active worker, unless ``standby``
    waits for it to stop).
    """
    dsn, slot = conf.replication_dsn(), conf.get("RX_SLOT_NAME")
    lock = SlotLock(dsn, slot)
    lock.acquire(wait=standby)
    worker.slot_lock = lock  # held (by its session) for as long as the worker lives
    preflight(dsn, slot)
    if ensure_slot(dsn, slot):
        # A new slot streams only from now on: whatever the cache holds may have missed
        # changes (a first start, or a lost or dropped slot). Consumers re-heat on demand.
        cleared = worker.cache.clear()
        if cleared:
            log.warning("new replication slot %r: cleared %d cached anchors", slot, cleared)
    schema = conf.get("RX_SCHEMA")
    stream = ReplicationStream(
        dsn,
        slot,
        [(schema, table) for table in worker.tables()],
        chunk_size=int(conf.get("RX_CHUNK_SIZE")),
        heartbeat_interval=float(conf.get("RX_HEARTBEAT_INTERVAL")),
        idle_tick=idle_tick,
    )
    worker.restore(slot_status(dsn, slot).confirmed_flush_lsn or 0)
    return stream

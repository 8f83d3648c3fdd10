"""The observer side of ``rx_replicate`` inside a test process, pumped by the tests themselves."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg2
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from replication.changes import Chunk, Heartbeat, parse_lsn
from replication.slot import drop_slot, ensure_slot
from replication.stream import HEARTBEAT_PREFIX, ReplicationStream
from rxcdc import conf
from rxcdc.api.observer.sink import ObserverSink
from rxcdc.conf import rx_settings
from rxcdc.fanout import Publisher
from rxcdc.sinks import sink_messages

__all__ = ["ObserverWorker"]

log = logging.getLogger("rxcdc.api")
Message = tuple[str, dict[str, Any]]


class ObserverWorker:
    """Streams every table of the test database from a slot of its own into an ``ObserverSink``.

    Nothing runs in the background: ``catch_up()`` handles what was committed before it and
    sends the messages through the current channel layer (in-memory included) before returning.
    """

    def __init__(self, *, timeout: float = 30.0, replica_identity_full: bool = True) -> None:
        self.timeout = timeout
        self.replica_identity_full = replica_identity_full
        self.slot = f"rx_api_test_{uuid.uuid4().hex[:12]}"
        self.mongo_db = f"rx_api_test_{uuid.uuid4().hex[:12]}"
        self.sink = ObserverSink()
        self.sent = 0  # messages handed to the channel layer so far
        self._stream: ReplicationStream | None = None
        self._events: Any = None
        self._lock = threading.RLock()
        self._publisher: Publisher | None = None
        self._saved_mongo_db: Any = None
        self._made_full: list[str] = []  # set back to DEFAULT by stop()
        self._barriers: Any = None  # psycopg2 connection of its own
        self._catching_up = False  # guarded by _lock (one thread at a time)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Create the slot (waits for running transactions) and open the stream.

        Group state goes to a MongoDB database of its own (``mongo_db``), used only by
        observers with custom groups. With ``replica_identity_full`` every table of the
        installed models gets ``REPLICA IDENTITY FULL``, as ``rx_api_replica_identity``
        gives observed tables in production, so deletes and unlinks carry their old rows.
        """
        # The project's own value, or None when unset (then removed again by stop()).
        self._saved_mongo_db = getattr(settings, "RX_MONGO_DB", None)
        settings.RX_MONGO_DB = self.mongo_db
        if self.replica_identity_full:
            self._made_full = _replica_identity(None, "full")
        dsn = conf.replication_dsn()
        ensure_slot(dsn, self.slot)
        self._stream = ReplicationStream(
            dsn,
            self.slot,
            None,  # every table: observers defined later (in a test body) are seen too
            chunk_size=rx_settings.CHUNK_SIZE,
            heartbeat_interval=None,
            idle_tick=0.05,
        )
        self._events = iter(self._stream)
        self.sink.tables()

    def stop(self) -> None:
        """Close the stream, drop the slot and the group-state database; undo ``start``."""
        with self._lock:
            if self._stream is not None:
                self._stream.stop()
                self._stream.close()
                self._stream = None
            if self._barriers is not None:
                self._barriers.close()
                self._barriers = None
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
        deadline = time.monotonic() + 10
        while True:  # the server ends the WAL sender a moment after the client hung up
            try:
                drop_slot(conf.replication_dsn(), self.slot)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # polling the slot's release, with a deadline
        if self.sink.uses_state:
            import pymongo

            client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(conf.mongo_url())
            client.drop_database(self.mongo_db)
            client.close()
        if self._made_full:
            _replica_identity(self._made_full, "default")
            self._made_full = []
        if self._saved_mongo_db is None:
            del settings.RX_MONGO_DB
        else:
            settings.RX_MONGO_DB = self._saved_mongo_db

    # -- catching up ---------------------------------------------------------------------------

    def catch_up(self, timeout: float | None = None) -> int:
        """Handle every transaction committed before this call; returns the messages sent.

        Raises ``TimeoutError`` when the stream does not get there within ``timeout`` seconds.
        """
        with self._lock:
            if self._stream is None:
                raise RuntimeError("the observer worker is not running")
            if self._catching_up:  # its own queries reached the commit hook: already on it
                return 0
            self._catching_up = True
            try:
                return self._catch_up(timeout)
            finally:
                self._catching_up = False

    def _catch_up(self, timeout: float | None) -> int:
        assert self._stream is not None
        target = self._barrier()
        deadline = time.monotonic() + (timeout or self.timeout)
        sent = 0
        for event in self._events:
            if isinstance(event, Chunk):
                messages, _failed = sink_messages(self.sink, event)
                self._publish(messages)
                sent += len(messages)
                if event.last:
                    self._stream.ack(event.transaction)
            elif isinstance(event, Heartbeat) and event.lsn >= target:
                self.sent += sent
                return sent
            if time.monotonic() > deadline:
                raise TimeoutError("the observer worker did not reach the WAL barrier")
        raise RuntimeError("the replication stream ended")

    def _barrier(self) -> int:
        """Emit a WAL message now, flushed, outside any transaction; return its position."""
        if self._barriers is None:
            self._barriers = psycopg2.connect(conf.replication_dsn())
        content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
        # The connection's own transaction, not the caller's (a test's may never commit).
        # The WAL sender only decodes flushed WAL and a message without an xid is not
        # flushed on its own: committing an xid flushes it.
        with self._barriers, self._barriers.cursor() as cur:
            cur.execute(
                "SELECT pg_logical_emit_message(false, %s, %s)::text, pg_current_xact_id()",
                [HEARTBEAT_PREFIX, content],
            )
            (lsn, _xid) = cur.fetchone()
        return parse_lsn(str(lsn))

    def _publish(self, messages: list[Message]) -> None:
        """Send in order, on the loop the consumers run in when there is one."""
        if not messages:
            return

        async def send_all() -> None:
            layer = get_channel_layer()
            for group, message in messages:
                await layer.group_send(group, message)

        main = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is not None:  # called from async code in the loop's thread: cannot block it
            task = here.create_task(send_all())
            _pending.add(task)
            task.add_done_callback(_pending.discard)
        elif main is not None and main.is_running():  # a sync_to_async thread: the test's loop
            asyncio.run_coroutine_threadsafe(send_all(), main).result(self.timeout)
        elif hasattr(get_channel_layer(), "groups"):  # in-memory: any loop can put
            async_to_sync(send_all)()
        else:  # a Redis layer from a plain thread: one long-lived loop, not one per call
            if self._publisher is None:
                self._publisher = Publisher(self.timeout)
            self._publisher.group_send(messages, ordered=True)


_pending: set[asyncio.Task[None]] = set()


def _replica_identity(tables: list[str] | None, identity: str) -> list[str]:
    """Set ``identity`` on ``tables`` (None: every table of the installed models); the changed."""
    from rxcdc.api.replica_identity import set_replica_identity

    # A connection of its own, in autocommit: the caller's may be inside a transaction (a
    # test's), and a slot created next would wait for every transaction that wrote.
    conn = connections.create_connection(rx_settings.DATABASE)
    try:
        if tables is None:
            with conn.cursor():
                tables = conn.introspection.django_table_names(only_existing=True)
        return set_replica_identity(tables, identity, connection=conn)
    finally:
        conn.close()

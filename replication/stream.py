"""The replication stream: committed transactions in chunks, acknowledged by the caller.

One psycopg2 ``LogicalReplicationConnection`` reads wal2json v2 from a slot; a second, plain
connection emits heartbeats. Everything runs in the caller's thread, between the events it pulls.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, Protocol

import psycopg2
import psycopg2.extensions

from replication import wal2json
from replication.catalog import Catalog, QualifiedName
from replication.changes import (
    Change,
    Chunk,
    Event,
    Heartbeat,
    Run,
    Tick,
    Transaction,
    format_lsn,
)
from replication.connection import open_replication
from replication.errors import (
    ConnectionLost,
    ProtocolError,
    ReplicationError,
    SlotInUse,
    classify,
)
from replication.heartbeat import HEARTBEAT_PREFIX, Heartbeater, emitted_at
from replication.wal2json import BeginMessage, CommitMessage, LogicalMessage

__all__ = ["HEARTBEAT_PREFIX", "ReplicationStream", "stop_on_signals"]

log = logging.getLogger(__name__)

# Messages handled in a row before timers are looked at again.
_BATCH = 1000


class ReplicationStream:
    """Committed transactions of one database, in commit order, from a wal2json slot.

    Iterate to receive ``Chunk``, ``Heartbeat`` and ``Tick`` events; ``ack`` each transaction once
    its effects are durable. See docs/replication.md for the delivery contract.
    """

    def __init__(
        self,
        dsn: str,
        slot: str,
        tables: Iterable[wal2json.TableName] | None,
        *,
        chunk_size: int = 2000,
        heartbeat_interval: float | None = 5.0,
        idle_tick: float | None = 1.0,
        message_prefixes: Iterable[str] = (),
        status_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        slot_busy_timeout: float = 10.0,
        before_connect: Callable[[], None] | None = None,
        sender_timeout: float | None = None,
        run_changes: int = 0,
    ):
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if status_interval < 1:
            raise ValueError("status_interval must be at least 1 second (a psycopg2 limit)")
        self.dsn = dsn
        self.slot = slot
        self._replication_dsn = dsn
        if sender_timeout is not None:
            # The walsender ends itself (without writing to us) when we do not reply for this
            # long: a stopped consumer then frees the slot for a standby (see leader.py).
            params = psycopg2.extensions.parse_dsn(dsn)
            option = f"-c wal_sender_timeout={int(sender_timeout * 1000)}"
            params["options"] = f"{params.get('options', '')} {option}".strip()
            self._replication_dsn = psycopg2.extensions.make_dsn(**params)
        # The heartbeat prefix is always listed: an empty list would let every message through.
        self._options = wal2json.stream_options(tables, [*message_prefixes, HEARTBEAT_PREFIX])
        self._tables: list[QualifiedName] | None = (
            None if tables is None else [wal2json.qualified(t) for t in tables]
        )
        self._catalog = Catalog(dsn)
        self._decoder: wal2json.Decoder | None = None  # set up on the first connection
        self._chunk_size = chunk_size
        # Whole transactions already received when one is handed out join it in a ``Run``, up
        # to this many changes (0: never): a caller that falls behind catches up in batches.
        self._run_changes = run_changes
        self._heartbeat_interval = heartbeat_interval
        self._idle_tick = idle_tick
        self._status_interval = status_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._slot_busy_timeout = slot_busy_timeout
        # Runs before every (re)connection: a fenced worker's lease check raises here, so it
        # never streams again (``ConnectionLost`` from it is retried like a refused connect).
        self._before_connect = before_connect

        self._conn: psycopg2.extensions.connection | None = None
        self._cursor: Any = None  # psycopg2.extras.ReplicationCursor
        self._heartbeater = Heartbeater(dsn)
        # A self-pipe: stop() may run in a signal handler, which can only set a flag and write.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._started = False
        self._stopping = False
        self._wake_lock = threading.RLock()
        self._closed = False
        # Set while no thread is inside the read loop (reading, waiting, reconnecting): close()
        # from another thread waits for it, so the connections and the wake-up pipe are never
        # closed under a reader (whose select or read would then hit a closed descriptor, or a
        # reused one belonging to an unrelated file).
        self._idle = threading.Event()
        self._idle.set()

        self._acked_lsn = 0  # highest position acknowledged (by the caller or by us)
        self._delivered_lsn = 0  # commit LSN of the last transaction delivered whole
        self._reconnects = 0
        # The transaction being read: chunks are handed out as they fill up.
        self._txn: Transaction | None = None
        self._pending: list[Change] = []
        self._index = 0
        self._next_beat = 0.0
        self._last_event = time.monotonic()
        # An event read while gathering a run, after it: handed out next.
        self._held: Event | None = None

    # -- public API ------------------------------------------------------------------------------

    @property
    def acked_lsn(self) -> int:
        """The highest position acknowledged so far (0 before the first)."""
        return self._acked_lsn

    @property
    def reconnects(self) -> int:
        """How many times the stream reconnected after losing its connection."""
        return self._reconnects

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def events(self) -> Iterator[Event]:
        """Yield events until ``stop()``; raises ReplicationError when it cannot go on.

        Connects on the first call (raising at once if the server refuses), then reconnects on
        its own whenever the connection is lost.
        """
        if self._closed:
            raise ReplicationError("the stream is closed")
        self._idle.clear()
        try:
            if not self._started and not self._stopping:
                self._connect(first=True)
                self._started = True
            while True:
                event = self._next_event()
                if event is None or self._stopping:
                    return
                if (type(event) is Chunk and event.last) or type(event) is Run:
                    self._delivered_lsn = event.transaction.commit_lsn
                self._last_event = time.monotonic()
                self._idle.set()  # the caller has the event: close() may proceed
                yield event
                self._idle.clear()
        finally:
            try:
                self._send_feedback(force=True)
            finally:
                self._idle.set()

    def ack(self, transaction: Transaction) -> None:
        """Acknowledge ``transaction`` and every earlier one: they will not be streamed again.

        Call it only once its effects are durable, and only after its last chunk arrived.
        """
        if transaction.commit_lsn > self._delivered_lsn:
            raise ReplicationError(
                f"cannot acknowledge transaction {transaction.xid} "
                f"(commit {format_lsn(transaction.commit_lsn)}): its last chunk has not been "
                "delivered, and acknowledging it would skip the rest on restart"
            )
        if transaction.commit_lsn > self._acked_lsn:
            self._acked_lsn = transaction.commit_lsn
            self._send_feedback(force=True)

    def forget_tables(self) -> None:
        """Look up again which tracked table each partition belongs to (on its next change).

        Call it after ``ALTER TABLE … ATTACH/DETACH PARTITION`` on a tracked partitioned table:
        a table seen before as untracked (or as a partition) is otherwise remembered as such.
        """
        if self._decoder is not None:
            self._decoder.forget_tables()

    def interrupt(self) -> None:
        """Close the replication connection now; the next event reconnects with backoff.

        For a server that is shutting down: its walsender waits for our flush confirmation
        before it lets the server stop, so holding the connection while we wait for the
        server's other sessions would block the restart (until ``wal_sender_timeout``). The
        transaction being read is streamed again from its first chunk.
        """
        if self._conn is not None:
            log.warning(
                "replication: closing the stream of slot %s until Postgres is back", self.slot
            )
        self._disconnect()

    def stop(self) -> None:
        """Make iteration end at the next message boundary; safe from signal handlers/threads.

        The chunks of a transaction not yet delivered whole are dropped, so it is never
        acknowledged; it is streamed again, from chunk 0, to the next consumer.
        """
        self._stopping = True
        # Under the lock: close() in another thread must not close the pipe between the check
        # and the write (the descriptor number could then belong to an unrelated file). An
        # RLock, as a signal handler may run this while its own thread is inside close().
        with self._wake_lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError):  # full: we are woken already
                    os.write(self._wake_w, b"\0")

    def close(self, timeout: float = 10.0) -> None:
        """Send the acknowledged position one last time and close the connections.

        Safe from another thread than the one iterating: it stops the iteration and waits (up
        to ``timeout`` seconds) for that thread to leave the read loop before closing anything.
        Not safe while another thread is handling an event with this stream (``ack``).
        """
        if self._closed:
            return
        self.stop()
        if not self._idle.wait(timeout):
            log.warning("replication: closing slot %s's stream under a reader", self.slot)
        self._send_feedback(force=True)
        self._disconnect()
        self._heartbeater.close()
        self._catalog.close()
        with self._wake_lock:
            self._closed = True
            os.close(self._wake_r)
            os.close(self._wake_w)

    def __enter__(self) -> ReplicationStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the read loop ---------------------------------------------------------------------------

    def _next_event(self) -> Event | None:
        """The next event for the caller, or None once stopping."""
        while not self._stopping:
            held, self._held = self._held, None
            if held is not None:
                return held
            now = time.monotonic()
            if self._heartbeat_interval is not None and now >= self._next_beat:
                self._next_beat = now + self._heartbeat_interval
                self._heartbeater.emit()
            if self._idle_tick is not None and now - self._last_event >= self._idle_tick:
                return Tick(at=datetime.now(UTC))
            cursor = self._cursor
            if cursor is None:
                self._reconnect()
                continue
            try:
                event, drained = self._drain(cursor)
            except psycopg2.Error as exc:
                self._lost(exc)
                continue
            if event is not None:
                if self._run_changes and type(event) is Chunk and event.last and not event.index:
                    return self._gather(event, cursor)
                return event
            if drained:
                self._wait()
        return None

    def _gather(self, first: Chunk, cursor: Any) -> Event:
        """``first`` and the whole transactions received after it, without waiting for any.

        Stops at the first other event (held for the next call), when nothing more has
        arrived, or at ``run_changes`` changes. Nothing here waits: at low load a transaction
        is handed out alone, as soon as it is read.
        """
        chunks, size = [first], len(first.changes)
        # Read-ahead chunks count as delivered: skipping an empty transaction or a heartbeat
        # must not acknowledge past them (``_advance``) before the caller handled them.
        self._delivered_lsn = first.transaction.commit_lsn
        while size < self._run_changes and not self._stopping:
            try:
                event, _ = self._drain(cursor)
            except psycopg2.Error as exc:
                self._lost(exc)  # what was read is whole: hand it out, reconnect afterwards
                break
            if event is None:
                break
            if type(event) is Chunk and event.last and not event.index:
                chunks.append(event)
                size += len(event.changes)
                self._delivered_lsn = event.transaction.commit_lsn
                continue
            self._held = event
            break
        return chunks[0] if len(chunks) == 1 else Run(tuple(chunks))

    def _drain(self, cursor: Any) -> tuple[Event | None, bool]:
        """Handle received messages until one completes an event: ``(event, False)``.

        ``(None, True)`` when nothing is left to read; ``(None, False)`` after ``_BATCH``
        messages without an event, so that heartbeats and ticks still run while a flood of
        skipped transactions arrives. Timers are not checked per message: this is the hot loop.
        """
        read, handle = cursor.read_message, self._handle
        for _ in range(_BATCH):
            if self._stopping:
                break
            message = read()
            if message is None:
                return None, True
            event = handle(message.payload, message.data_start)
            if event is not None:
                return event, False
        return None, False

    def _handle(self, payload: str, lsn: int) -> Event | None:
        message = wal2json.decode(payload)
        if type(message) is BeginMessage:
            self._txn = wal2json.begin(message)
            self._pending = []
            self._index = 0
            return None
        if type(message) is CommitMessage:
            return self._commit()
        if type(message) is LogicalMessage and not message.transactional:
            return self._notice(message, lsn)
        # A change inside the transaction: a row change or a transactional logical message.
        if self._txn is None:
            raise ProtocolError(f"wal2json sent a change outside a transaction: {payload}")
        assert self._decoder is not None
        change = self._decoder.change(message, lsn)
        if change is None:
            return None  # a table we do not track (only without a server-side filter)
        if len(self._pending) < self._chunk_size:
            self._pending.append(change)
            return None
        # Full: hand it out and keep the new change, so the final chunk is never empty.
        chunk = Chunk(self._txn, self._pending, self._index, last=False)
        self._pending = [change]
        self._index += 1
        return chunk

    def _commit(self) -> Chunk | None:
        txn, pending = self._txn, self._pending
        if txn is None:
            raise ProtocolError("wal2json sent a commit without a begin")
        self._txn, self._pending = None, []
        if not pending:
            # Nothing in the tracked tables (DDL, vacuum, other tables): skip, but let the
            # slot move past it when that skips nothing the caller still has to acknowledge.
            self._advance(txn.commit_lsn, force=False)
            return None
        return Chunk(txn, pending, self._index, last=True)

    def _notice(self, message: LogicalMessage, lsn: int) -> Heartbeat | None:
        """A non-transactional message: ours are heartbeats, others are not delivered."""
        if message.prefix != HEARTBEAT_PREFIX:
            return None
        # Forced: this is what moves an idle database's slot forward.
        self._advance(lsn, force=True)
        return Heartbeat(lsn, emitted_at(message.content), received_at=datetime.now(UTC))

    def _advance(self, lsn: int, *, force: bool) -> None:
        """Acknowledge a position between transactions if no delivered one is unacknowledged."""
        if self._delivered_lsn <= self._acked_lsn < lsn:
            self._acked_lsn = lsn
            self._send_feedback(force=force)

    def _wait(self) -> None:
        """Block until data, stop(), or the next heartbeat, tick or status update is due."""
        now = time.monotonic()
        deadlines = [now + self._status_interval]
        if self._heartbeat_interval is not None:
            deadlines.append(self._next_beat)
        if self._idle_tick is not None:
            deadlines.append(self._last_event + self._idle_tick)
        timeout = max(0.0, min(deadlines) - now)
        try:
            watched: list[Any] = [self._cursor, self._wake_r]
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError, psycopg2.Error) as exc:
            self._lost(exc)
            return
        if self._wake_r in ready:
            self._drain_wakeups()

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    # -- feedback and heartbeats -----------------------------------------------------------------

    def _send_feedback(self, *, force: bool) -> None:
        if self._cursor is None or not self._acked_lsn:
            return  # nothing to say yet, or said again right after the next connect
        try:
            self._cursor.send_feedback(
                write_lsn=self._acked_lsn, flush_lsn=self._acked_lsn, force=force
            )
        except psycopg2.Error as exc:
            # The position is kept: the next connection starts from it and reports it.
            log.warning("replication: feedback to slot %s failed: %s", self.slot, exc)
            self._disconnect()

    # -- connections -----------------------------------------------------------------------------

    def _configure(self) -> None:
        """Choose where tables are filtered: by wal2json (``add-tables``) or here.

        wal2json names a partitioned table's rows after their leaf partition, and its filter
        matches that name: listing the leaves would miss partitions created or attached later.
        So when a tracked table is partitioned, every table's changes are streamed and the
        decoder keeps those of tracked tables and of their partitions (resolved through the
        catalog on first sight, then a dictionary lookup per change).
        """
        tracked = None
        if self._tables is not None:
            try:
                partitioned = self._catalog.partitioned(self._tables)
            except psycopg2.Error as exc:
                raise classify(exc, self.slot) from exc
            if partitioned:
                self._options.pop("add-tables", None)
                tracked = self._tables
                log.info(
                    "replication: slot %s: %s partitioned: filtering tables in the stream",
                    self.slot,
                    ", ".join(".".join(t) for t in sorted(partitioned)),
                )
        self._decoder = wal2json.Decoder(self._catalog, tracked)

    def _open(self) -> None:
        """Connect and stream from the acknowledged position.

        Passing it as the start position skips what the caller acknowledged even if that
        feedback never reached the server (0 means the slot's ``confirmed_flush_lsn``).
        """
        if self._decoder is None:
            self._configure()
        self._conn, self._cursor = open_replication(
            self._replication_dsn,
            self.slot,
            start_lsn=self._acked_lsn,
            options=self._options,
            status_interval=self._status_interval,
        )
        # A transaction cut by the disconnect is streamed again from its first chunk.
        self._txn, self._pending, self._index = None, [], 0
        self._send_feedback(force=True)

    def _connect(self, *, first: bool) -> None:
        """Open, retrying with backoff; give up on a held slot after ``slot_busy_timeout``.

        A slot can stay held for a moment by the walsender of a consumer that just died (or
        our own previous connection). An unreachable server is retried forever once streaming
        has started, but reported at once on the first connection (most likely a wrong DSN).
        """
        deadline = time.monotonic() + self._slot_busy_timeout
        for attempt in itertools.count():
            if attempt or not first:
                self._sleep(self._backoff(attempt))
            if self._stopping:
                return
            try:
                if self._before_connect is not None:
                    self._before_connect()
                self._open()
                return
            except SlotInUse:
                if time.monotonic() >= deadline:
                    raise
            except ConnectionLost as exc:
                if first:
                    raise
                log.warning("replication: slot %s: %s; retrying", self.slot, exc)

    def _reconnect(self) -> None:
        self._connect(first=False)
        if self._cursor is not None:
            self._reconnects += 1
            log.info("replication: slot %s reconnected", self.slot)

    def _backoff(self, attempt: int) -> float:
        """Capped exponential delay with jitter, so many workers do not reconnect in step."""
        delay = min(self._backoff_max, self._backoff_initial * 2.0**attempt)
        return delay / 2 + random.uniform(0, delay / 2)

    def _sleep(self, seconds: float) -> None:
        """Sleep, but return early on stop()."""
        if self._stopping:
            return
        ready, _, _ = select.select([self._wake_r], [], [], seconds)
        if ready:
            self._drain_wakeups()

    def _lost(self, exc: BaseException) -> None:
        log.warning(
            "replication: connection to slot %s lost (%s); reconnecting from %s",
            self.slot,
            str(exc).strip(),
            format_lsn(self._acked_lsn),
        )
        self._disconnect()

    def _disconnect(self) -> None:
        # Anything read ahead is streamed again from the acknowledged position.
        self._held = None
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):  # already broken
                self._conn.close()
        self._conn = self._cursor = None


class Stoppable(Protocol):
    """Anything with a ``stop()`` that is safe to call from a signal handler."""

    def stop(self) -> None: ...


def stop_on_signals(
    target: Stoppable, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
) -> Callable[[], None]:
    """Make these signals call ``target.stop()``; returns a function restoring the old handlers.

    ``target``: a stream, or what runs one. Call from the main thread (signals arrive there).
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        target.stop()

    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore

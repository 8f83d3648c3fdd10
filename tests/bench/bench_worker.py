"""The worker on the three-level ``RoomChannel`` (room → messages → author, tags).

(a)/(b): one 100,000-row ``QuerySet.update()`` applied by an in-process worker with every anchor
hot, then with 1 % hot; each timed from the moment the worker starts reading (right at the
commit) until it acknowledged the transaction, split into stages with ``worker.timings``. The
baseline is the same transaction read by a bare ``ReplicationStream`` on a second slot.
(c)/(d): ``rx_replicate`` as a subprocess: time from starting it to a change applied in the cache,
then its peak RSS while it streams a 1,000,000-row UPDATE with 1 % of anchors hot.
(e): sustained load, single-row transactions at rising rates (tests/bench/sustained.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import redis

from replication import Chunk, Heartbeat, ReplicationStream, drop_slot, ensure_slot, parse_lsn
from replication.heartbeat import HEARTBEAT_PREFIX
from replication.slot import slot_status
from rxcdc.testing.services import LocalServices
from rxcdc.testing.waiting import wait_until

from . import sustained
from .bench_socket import _settings_env
from .result import Result

LABEL = "testapp.RoomChannel"
MESSAGE_TYPE = "testapp.MessageSerializer"
PER_ROOM = 100  # messages per room: an UPDATE of ROOMS rooms changes ROOMS * PER_ROOM rows
ROOMS = 1_000  # (a) and (b): 100,000 messages per UPDATE
BIG_ROOMS = 10_000  # (c): 1,000,000 messages
HOT_EVERY = 100  # 1 % hot: every 100th room
DATABASE, BIG_DATABASE = "bench_worker", "bench_worker_big"
RAW_SLOT = "bench_worker_raw"
ROOT = Path(__file__).resolve().parents[2]


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Set up both databases, then measure (a)/(b) in-process, (c)/(d) and (e) in subprocesses.

    ``RX_BENCH_WORKER_CASES=e`` runs only (e), ``=a`` only (a) to (d) (for trying changes; use
    with ``--no-write``).
    """
    cases = os.environ.get("RX_BENCH_WORKER_CASES", "abcde")
    fig: dict[str, list[float]] = {}
    if "a" in cases:
        _setup_django(services)
        _in_process(repeats, fig)
        _subprocess(services, repeats, fig)
    # A ramp takes minutes (30 s per rate): at most two of them.
    for repeat in range(min(repeats, 2) if "e" in cases else 0):
        print(f"  (e) ramp {repeat}", file=sys.stderr, flush=True)
        sustained.measure(services, fig)
    return _results(fig) if "a" in cases else _sustained_results(fig)


def _sustained_results(fig: dict[str, list[float]]) -> list[Result]:
    at = "at that rate"
    return [
        Result(
            f"(e) sustained single-row tx/s, lag ≤ {sustained.MAX_LAG:.0f} s, "
            f"{sustained.HOT} hot anchors ({sustained.step_seconds():.0f} s per rate)",
            "tx/s",
            fig["e.rate"],
            baseline=fig["e.ceiling"],
            baseline_name="bare stream, same transactions",
            minimum=1_000,
        ),
        Result(f"(e) lag at the end of that step ({at})", "s", fig["e.lag"], at_most=1.0),
        Result(f"(e) commit → client p50, {sustained.CLIENTS} clients, {at}", "ms", fig["e.p50"]),
        Result(f"(e) commit → client p99, {sustained.CLIENTS} clients, {at}", "ms", fig["e.p99"]),
        Result(f"(e) transactions per worker event, mean, {at}", "tx", fig["e.batch"]),
        *[
            Result(f"(e) worker stage per transaction, {at}: {stage}", "ms", fig[f"e.{stage}"])
            for stage in (*sustained.STAGES, "other")
        ],
    ]


def _results(fig: dict[str, list[float]]) -> list[Result]:
    rows, big = ROOMS * PER_ROOM, BIG_ROOMS * PER_ROOM
    out = []
    for case, hot in (("a", "all anchors hot"), ("b", "1 % of anchors hot")):
        raw, elapsed = fig[f"{case}.raw"], fig[f"{case}.elapsed"]
        out += [
            Result(f"({case}) decode alone: bare stream, {rows:,}-row UPDATE", "changes/s", raw),
            Result(
                f"({case}) worker, {hot}: commit → acked",
                "changes/s",
                [rows / s for s in elapsed],
                baseline=raw,
                baseline_name="decode alone",
                minimum=75_000 if case == "b" else None,
            ),
            Result(
                f"({case}) worker, {hot}: excluding cache-write time",
                "changes/s",
                fig[f"{case}.excl"],
                baseline=raw,
                baseline_name="decode alone",
                minimum=20_000 if case == "a" else None,
            ),
        ]
        out += [
            Result(f"({case}) stage: {stage}", "s", fig[f"{case}.{stage}"], baseline=elapsed)
            for stage in ("decode", *sustained.STAGES, "other")
        ]
    return [
        *out,
        *(_sustained_results(fig) if "e.rate" in fig else []),
        Result(
            f"(c) peak worker RSS (VmHWM), {big:,}-row UPDATE, 1 % hot",
            "MB",
            fig["rss"],
            baseline=fig["rss.idle"],
            baseline_name="RSS before the UPDATE",
            at_most=512,
        ),
        Result(f"(c) worker, {big:,}-row UPDATE, 1 % hot: commit → acked", "changes/s", fig["big"]),
        Result(
            "(d) rx_replicate start → first change in the cache",
            "s",
            fig["restart"],
            baseline=fig["django"],
            baseline_name="a bare django.setup() process",
            at_most=2.0,
        ),
    ]


# -- setup -------------------------------------------------------------------------------------


def _setup_django(services: LocalServices) -> None:
    """Migrate DATABASE in-process, clone it as BIG_DATABASE, fill both with COPY-speed SQL."""
    os.environ.update(services.env())
    os.environ.update(_settings_env(DATABASE))
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        for name in (DATABASE, BIG_DATABASE):
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    connection.close()  # a template database must have no connections
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {BIG_DATABASE} TEMPLATE {DATABASE}")
    _fill(services.postgres.dsn(DATABASE), 2 * ROOMS)
    _fill(services.postgres.dsn(BIG_DATABASE), BIG_ROOMS)


def _fill(dsn: str, rooms: int) -> None:
    """``rooms`` rooms of PER_ROOM messages; 5 authors and 3 tags (one per message) per room."""
    messages = rooms * PER_ROOM
    with psycopg.connect(dsn, autocommit=True) as conn:
        # No autovacuum: nothing unrelated runs mid-measurement; VACUUM runs between repeats.
        conn.execute("ALTER TABLE testapp_message SET (autovacuum_enabled = false)")
        conn.execute(
            "INSERT INTO testapp_author (id, name)"
            " SELECT i, 'author ' || i FROM generate_series(1, 100) i"
        )
        conn.execute(
            "INSERT INTO testapp_tag (id, name) SELECT i, 'tag ' || i FROM generate_series(1, 20) i"
        )
        conn.execute(
            "INSERT INTO testapp_room (id, name)"
            f" SELECT i, 'room ' || i FROM generate_series(1, {rooms}) i"
        )
        conn.execute(
            "INSERT INTO testapp_message (id, room_id, author_id, text)"
            f" SELECT i, (i - 1) / {PER_ROOM} + 1, ((i - 1) / {PER_ROOM} * 7 + i % 5) % 100 + 1,"
            f" 'message ' || i FROM generate_series(1, {messages}) i"
        )
        conn.execute(
            "INSERT INTO testapp_message_tags (message_id, tag_id)"
            f" SELECT i, ((i - 1) / {PER_ROOM} + i % 3) % 20 + 1"
            f" FROM generate_series(1, {messages}) i"
        )
        conn.execute("VACUUM ANALYZE")


def _emit_marker(execute: Callable[[str, tuple[Any, ...]], Any]) -> int:
    """A heartbeat message after everything committed so far; returns its LSN."""
    content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
    (text,) = execute(
        "SELECT pg_logical_emit_message(false, %s, %s)::text", (HEARTBEAT_PREFIX, content)
    )
    return parse_lsn(text)


# -- (a), (b): the worker in-process ----------------------------------------------------------


class Driver:
    """Runs the worker's loop from this thread (as tests/core/conftest.py's Pipeline does)."""

    def __init__(self) -> None:
        from rxcdc import conf
        from rxcdc.collector import Collector
        from rxcdc.conf import rx_settings
        from rxcdc.replicator import Replicator

        self.replicator = Replicator(collector=Collector())  # as rx_replicate runs it
        self.worker, self.stream = self.replicator.worker, self.replicator.stream
        self.events: Iterator[Any] = iter(self.stream)
        self.dsn = conf.replication_dsn()
        self.tables = [(rx_settings.SCHEMA, t) for t in self.worker.tables()]
        self.chunk_size = rx_settings.CHUNK_SIZE

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def pump(self) -> None:
        """Handle every event up to a fresh marker."""
        self.handle_until(_emit_marker(self.execute))

    def handle_until(self, marker: int) -> dict[str, float]:
        """Handle events up to ``marker``; seconds until the last chunk was handled, per stage."""
        before = dict(self.worker.timings)
        started = time.perf_counter()
        inside = 0.0
        out: dict[str, float] = {"changes": 0}
        for event in self.events:
            t = time.perf_counter()
            self.replicator.handle(event)
            inside += time.perf_counter() - t
            if isinstance(event, Chunk):
                out["changes"] += len(event.changes)
                if event.last:
                    out["elapsed"] = time.perf_counter() - started
                    out["inside"] = inside
            elif isinstance(event, Heartbeat) and event.lsn >= marker:
                break
        for stage, seconds in self.worker.timings.items():
            out[stage] = seconds - before.get(stage, 0.0)
        return out

    def heat(self, rooms: list[int]) -> None:
        """Make rooms hot the way consumers would, each with one subscribed channel."""
        from channels.layers import get_channel_layer

        from rxcdc.fanout import anchor_group
        from rxcdc.heat import HeatRequest

        async def join() -> None:
            layer = get_channel_layer()
            for room in rooms:
                await layer.group_add(anchor_group(LABEL, room), f"bench.sub.{room}")

        # A PUBLISH costs the publisher the same with or without subscribers; the core layer's
        # group_send copies the message to every member, so it gets one per group.
        if "pubsub" not in type(get_channel_layer()).__module__:
            self.worker.publisher.run(join())
        for room in rooms:
            self.worker.heater.touch(LABEL, room, ttl=3600)
        self.worker.heat([HeatRequest(LABEL, room, f"bench.sub.{room}") for room in rooms])

    def close(self) -> None:
        self.replicator.close()
        drop_slot(self.dsn, self.stream.slot)


def _in_process(repeats: int, fig: dict[str, list[float]]) -> None:
    driver = Driver()
    try:
        started = time.perf_counter()
        driver.heat([*range(1, ROOMS + 1), *range(ROOMS + 1, 2 * ROOMS + 1, HOT_EVERY)])
        print(f"  heated in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
        for repeat in range(repeats):
            cases = [("a", 1), ("b", ROOMS + 1)]
            for case, first_room in cases if repeat % 2 == 0 else reversed(cases):
                _measure_update(driver, case, first_room, worker_first=repeat % 2 == 0, fig=fig)
    finally:
        driver.close()


def _measure_update(
    driver: Driver, case: str, first_room: int, *, worker_first: bool, fig: dict[str, list[float]]
) -> None:
    """One UPDATE of ROOMS rooms, read by the worker and by a bare stream (alternating order)."""
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    from tests.testapp.models import Message

    rows = ROOMS * PER_ROOM
    ensure_slot(driver.dsn, RAW_SLOT)
    raw = ReplicationStream(
        driver.dsn,
        RAW_SLOT,
        driver.tables,
        chunk_size=driver.chunk_size,
        heartbeat_interval=None,
        idle_tick=0.01,
    )
    try:
        raw_events = iter(raw)
        next(raw_events)  # connected: the server decodes as the UPDATE runs, as for the worker
        driver.pump()
        driver.execute("VACUUM testapp_message")
        Message.objects.filter(room_id__gte=first_room, room_id__lt=first_room + ROOMS).update(
            text=Concat(F("text"), Value("x"))
        )
        marker = _emit_marker(driver.execute)
        for reader in ("worker", "raw") if worker_first else ("raw", "worker"):
            if reader == "raw":
                fig.setdefault(f"{case}.raw", []).append(rows / _read_raw(raw_events, marker, rows))
                continue
            got = driver.handle_until(marker)
            assert got["changes"] == rows, got
            elapsed = got["elapsed"]
            stages = {s: got.get(s, 0.0) for s in sustained.STAGES}
            stages["decode"] = elapsed - got["inside"]
            stages["other"] = got["inside"] - sum(got.get(s, 0.0) for s in stages)
            for stage, seconds in stages.items():
                fig.setdefault(f"{case}.{stage}", []).append(seconds)
            fig.setdefault(f"{case}.elapsed", []).append(elapsed)
            fig.setdefault(f"{case}.excl", []).append(rows / (elapsed - stages["cache"]))
    finally:
        raw.close()
        drop_slot(driver.dsn, RAW_SLOT)


def _read_raw(events: Iterator[Any], marker: int, rows: int) -> float:
    """Seconds until the bare stream delivered the last chunk of the UPDATE."""
    started = time.perf_counter()
    changes, seconds = 0, 0.0
    for event in events:
        if isinstance(event, Chunk):
            changes += len(event.changes)
            if event.last:
                seconds = time.perf_counter() - started
        elif isinstance(event, Heartbeat) and event.lsn >= marker:
            break
    assert changes == rows, changes
    return seconds


# -- (c), (d): rx_replicate as a subprocess ----------------------------------------------------


def _subprocess(services: LocalServices, repeats: int, fig: dict[str, list[float]]) -> None:
    from rxcdc.cache import Cache, collection_name
    from rxcdc.heat import Heater, HeatRequest

    env = {**os.environ, **_settings_env(BIG_DATABASE)}
    dsn = services.postgres.dsn(BIG_DATABASE)
    mongo = pymongo.MongoClient(services.mongo.url, directConnection=True)[BIG_DATABASE]
    docs = mongo[collection_name(LABEL)]
    cache = Cache("", BIG_DATABASE, client=mongo.client)
    hot = list(range(1, BIG_ROOMS + 1, HOT_EVERY))
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(dsn, autocommit=True) as conn:
        log = Path(tmp) / "worker.log"

        def execute(sql: str, params: tuple[Any, ...] = ()) -> Any:
            cur = conn.execute(sql, params)
            return cur.fetchone() if cur.description else None

        # The first worker heats the hot anchors (the cache's only writer), as consumers ask.
        proc = _start_worker(env, log)
        try:
            _wait_for("rx_replicate: streaming", lambda: "streaming" in log.read_text(), proc, log)
            heater = Heater(redis.Redis.from_url(services.redis.url))
            for room in hot:
                heater.request(HeatRequest(LABEL, room, f"bench.big.{room}"), ttl=3600)
            _wait_for(
                "the hot anchors",
                lambda: len(cache.hot_anchors()) == len(hot),
                proc,
                log,
            )
        finally:
            _stop(proc)
        for repeat in range(repeats):
            fig.setdefault("django", []).append(_django_startup(env))
            execute("VACUUM testapp_message")
            room = hot[repeat % len(hot)]
            proc = _start_worker(env, log)
            try:
                _restart_and_update(proc, log, execute, docs, room, f"restart {repeat}", dsn, fig)
            finally:
                _stop(proc)
        drop_slot(dsn, BIG_DATABASE)


def _restart_and_update(
    proc: subprocess.Popen[bytes],
    log: Path,
    execute: Callable[..., Any],
    docs: Any,
    room: int,
    text: str,
    dsn: str,
    fig: dict[str, list[float]],
) -> None:
    """(d) a change committed as the worker starts, until cached; (c) then a 1M-row UPDATE."""
    from rxcdc.cache import doc_id

    started = time.perf_counter()  # just after Popen: the worker is still importing Django
    message = (room - 1) * PER_ROOM + 1
    execute("UPDATE testapp_message SET text = %s WHERE id = %s", (text, message))

    def applied() -> bool:
        doc = docs.find_one({"_id": doc_id(room, MESSAGE_TYPE, message)}) or {}
        return bool(json.loads(doc.get("json") or "{}").get("text") == text)

    _wait_for("the change in the cache", applied, proc, log, pause=0.005)
    fig.setdefault("restart", []).append(time.perf_counter() - started)

    fig.setdefault("rss.idle", []).append(_proc_status(proc.pid, "VmRSS"))
    Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    execute("UPDATE testapp_message SET text = text || 'x'")
    committed = time.perf_counter()
    marker = _emit_marker(execute)
    _wait_for(
        "the slot to pass the UPDATE",
        lambda: (slot_status(dsn, BIG_DATABASE).confirmed_flush_lsn or 0) >= marker,
        proc,
        log,
        timeout=600,
        pause=0.1,
    )
    fig.setdefault("big", []).append(BIG_ROOMS * PER_ROOM / (time.perf_counter() - committed))
    fig.setdefault("rss", []).append(_proc_status(proc.pid, "VmHWM"))


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        out.write("--- start\n")
        out.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "django", "rx_replicate"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _wait_for(
    what: str,
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    log: Path,
    *,
    timeout: float = 120.0,
    pause: float = 0.05,
) -> None:
    """Poll ``ready`` with a deadline; fail with the worker's log if it exits or times out."""
    context = lambda: log.read_text()[-3000:]  # noqa: E731
    wait_until(ready, what, timeout, interval=pause, process=proc, context=context)


def _proc_status(pid: int, field: str) -> float:
    """A ``/proc/<pid>/status`` memory field in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def _django_startup(env: dict[str, str]) -> float:
    """Seconds for a process that only imports Django and runs ``django.setup()``."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, cwd=ROOT, check=True
    )
    return time.perf_counter() - started

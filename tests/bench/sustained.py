"""bench_worker (e): sustained load, an open-loop writer of single-row transactions at rising rates.

``rx_replicate`` (instrumented: ``python -m tests.bench.sustained worker``), daphne and 10
websocket clients, on a database of HOT rooms of 100 messages, every room hot. Writer processes
commit single-row UPDATEs of those rooms' messages on a fixed schedule (open loop: a writer that
falls behind its schedule sends at once, it never waits for the worker), one step per rate.
A step passes when, at its end, the worker acknowledged the step's last transaction within
``MAX_LAG`` seconds of its commit. Reported: the highest passing rate (as the writers achieved
it), commit → client p50/p99 at that rate, and as the ceiling, the bare stream's rate on the same
transactions (a second slot read after the ramp, backlogged: the server's decoding included).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from replication import Chunk, Heartbeat, ReplicationStream, Run, drop_slot, ensure_slot
from replication.heartbeat import HEARTBEAT_PREFIX
from rxcdc.testing.services import LocalServices, free_port

from .bench_socket import (
    _connect,
    _record,
    _settings_env,
    _stop,
    _until_snapshot_end,
    _wait_for,
    fresh_database,
    start_stack,
)

DATABASE = "bench_sustained"
LABEL = "testapp.RoomChannel"
HOT = 100  # rooms, all hot
PER_ROOM = 100
CLIENTS = 10  # websocket clients, one on each of rooms 1..CLIENTS
RATES = (250, 500, 1000, 1500, 2000, 2500, 3000, 4000)  # offered transactions/s, in order
STEP = 30.0  # seconds per rate (RX_BENCH_QUICK: 5)
MAX_LAG = 1.0  # seconds from a step's last commit to its acknowledgement
WRITERS = 2  # writer processes, each at rate / WRITERS
RAW_SLOT = "bench_sustained_raw"
STAGES = ("route", "serialize", "documents", "cache", "publish")  # Worker.timings, seconds
ROOT = Path(__file__).resolve().parents[2]


def step_seconds() -> float:
    """30 s per step, as documented; 5 s with ``python -m tests.bench --quick``."""
    return 5.0 if os.environ.get("RX_BENCH_QUICK") else STEP


def measure(services: LocalServices, fig: dict[str, list[float]]) -> None:
    """One ramp: appends the passing rate, its p50/p99, the ceiling and the last lag to ``fig``."""
    env = {**os.environ, **services.env(), **_settings_env(DATABASE)}
    dsn = services.postgres.dsn(DATABASE)
    token = _setup(services, env)
    procs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        timings, port = Path(tmp) / "worker.timings", free_port()
        command = [sys.executable, "-m", "tests.bench.sustained", "worker", str(timings)]
        try:
            worker, _ = start_stack(command, env, tmp, port, procs)
            _heat_all(services, worker)
            ensure_slot(dsn, RAW_SLOT)
            url = f"ws://127.0.0.1:{port}/ws/room/"
            steps = asyncio.run(_ramp(url, token, dsn, timings, tmp))
        except BaseException:
            log = Path(tmp) / "worker.log"
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                _stop(proc)
    passed = [s for s in steps if s["passed"]]
    best = max(passed, key=lambda s: s["achieved"]) if passed else steps[0]
    fig.setdefault("e.rate", []).append(best["achieved"] if passed else 0.0)
    fig.setdefault("e.p50", []).append(best["p50"])
    fig.setdefault("e.p99", []).append(best["p99"])
    fig.setdefault("e.lag", []).append(best["lag"])
    fig.setdefault("e.batch", []).append(best["per_event"])
    for stage, ms in best["spent"].items():
        fig.setdefault(f"e.{stage}", []).append(ms)
    fig.setdefault("e.ceiling", []).append(_raw_rate(dsn, sum(s["count"] for s in steps)))
    drop_slot(dsn, RAW_SLOT)
    drop_slot(dsn, DATABASE)
    for s in steps:
        print(
            f"  (e) offered {s['offered']}/s: achieved {s['achieved']:.0f}/s, lag "
            f"{s['lag']:.3f}s, p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms, "
            f"{s['per_event']:.1f} tx per worker event; ms per tx: "
            + ", ".join(f"{k} {v:.3f}" for k, v in s["spent"].items())
            + f": {'pass' if s['passed'] else 'FAIL'}",
            file=sys.stderr,
            flush=True,
        )


def _setup(services: LocalServices, env: dict[str, str]) -> str:
    """A fresh database of HOT rooms of PER_ROOM messages and a user; returns its token."""
    fresh_database(services, env, DATABASE)
    token, messages = secrets.token_hex(20), HOT * PER_ROOM
    with psycopg.connect(services.postgres.dsn(DATABASE), autocommit=True) as conn:
        conn.execute("ALTER TABLE testapp_message SET (autovacuum_enabled = false)")
        conn.execute(
            "INSERT INTO testapp_author (id, name)"
            " SELECT i, 'a' || i FROM generate_series(1, 100) i"
        )
        conn.execute(
            "INSERT INTO testapp_tag (id, name) SELECT i, 't' || i FROM generate_series(1, 20) i"
        )
        conn.execute(
            "INSERT INTO testapp_room (id, name)"
            f" SELECT i, 'r' || i FROM generate_series(1, {HOT}) i"
        )
        conn.execute(
            "INSERT INTO testapp_message (id, room_id, author_id, text)"
            f" SELECT i, (i - 1) / {PER_ROOM} + 1, i % 100 + 1, 'm' || i"
            f" FROM generate_series(1, {messages}) i"
        )
        conn.execute(
            "INSERT INTO testapp_message_tags (message_id, tag_id)"
            f" SELECT i, i % 20 + 1 FROM generate_series(1, {messages}) i"
        )
        (user,) = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, 'bench', '', '', '', false, true, now()) RETURNING id"
        ).fetchone() or (None,)
        conn.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
            (token, user),
        )
        conn.execute("VACUUM ANALYZE")
    return token


def _heat_all(services: LocalServices, worker: Any) -> None:
    """Ask the worker for every room, as consumers do, and wait until all are cached."""
    from rxcdc.cache import Cache
    from rxcdc.heat import Heater, HeatRequest

    heater = Heater(redis.Redis.from_url(services.redis.url))
    for room in range(1, HOT + 1):
        heater.request(HeatRequest(LABEL, room, f"bench.sustained.{room}"), ttl=3600)
    cache = Cache(services.mongo.url, DATABASE)
    _wait_for("the hot rooms", lambda: len(cache.hot_anchors()) == HOT, worker, timeout=120)


async def _ramp(url: str, token: str, dsn: str, timings: Path, tmp: str) -> list[dict[str, Any]]:
    """Clients connected, one step per rate until one fails; returns each step's figures."""
    sockets = [await _connect(url + f"{room}/") for room in range(1, CLIENTS + 1)]
    received: list[list[tuple[float, str]]] = [[] for _ in sockets]
    readers = []
    steps: list[dict[str, Any]] = []
    try:
        for ws in sockets:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await _until_snapshot_end(ws)
        readers = [
            asyncio.ensure_future(_record(ws, out))
            for ws, out in zip(sockets, received, strict=True)
        ]
        with psycopg.connect(dsn, autocommit=True) as conn:
            for index, rate in enumerate(RATES):
                step = await _step(conn, dsn, rate, index, timings, received, tmp)
                steps.append(step)
                if not step["passed"]:
                    break
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()
    return steps


async def _step(
    conn: psycopg.Connection[Any],
    dsn: str,
    rate: int,
    index: int,
    timings: Path,
    received: list[list[tuple[float, str]]],
    tmp: str,
) -> dict[str, Any]:
    """One rate for ``step_seconds()``; the worker's lag after it, client latency during it."""
    seconds = step_seconds()
    start = time.monotonic() + 0.5
    outs = [Path(tmp) / f"commits.{index}.{w}.json" for w in range(WRITERS)]
    writers = [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tests.bench.sustained", "writer", dsn],
            *[str(rate), str(seconds), str(start), str(w), str(WRITERS), str(out)],
            cwd=ROOT,
        )
        for w, out in enumerate(outs)
    ]
    for writer in writers:
        assert await writer.wait() == 0, "a writer failed"
    commits = [c for out in outs for c in json.loads(out.read_text())]
    last_commit = max(at for _, _, at in commits)
    xids = {xid for xid, _, _ in commits}
    deadline = time.monotonic() + 300
    while not xids <= set((log := _worker_log(timings))[0]):
        assert time.monotonic() < deadline, "the worker did not catch up within 300 s"
        await asyncio.sleep(0.01)  # polling the worker's log with a deadline
    lsns, handled, per_event_spent = log
    # Commit → acknowledged, for the step's last transactions (the worker logs after acking).
    lag = max(handled[xid] for xid in xids) - last_commit
    achieved = len(commits) / (last_commit - start)
    step_events = {handled[xid] for xid in xids}
    per_event = len(xids) / len(step_events)
    # Where the worker's time went, per transaction of the step (ms).
    spent = {
        s: sum(per_event_spent[at][s] for at in step_events) * 1000 / len(xids)
        for s in (*STAGES, "handler")
    }
    spent["other"] = spent.pop("handler") - sum(spent[s] for s in STAGES)
    p50, p99 = await _latency(commits, lsns, received)
    return {
        "offered": rate,
        "achieved": achieved,
        "count": len(commits),
        "lag": lag,
        "p50": p50,
        "p99": p99,
        "per_event": per_event,  # mean transactions per worker event
        "spent": spent,  # ms per transaction, by stage
        # A writer that could not keep its schedule offered less than asked: the step shows
        # the writer's limit, not the worker's.
        "passed": lag <= MAX_LAG and achieved >= 0.9 * rate,
    }


def _worker_log(
    timings: Path,
) -> tuple[dict[int, int], dict[int, float], dict[float, dict[str, float]]]:
    """Per xid the worker handled: its commit LSN, and when the worker was done with its event
    (acknowledged); per event (by that time): its seconds in the handler and in each stage."""
    lsns: dict[int, int] = {}
    handled: dict[int, float] = {}
    events: dict[float, dict[str, float]] = {}
    at, before = 0.0, dict.fromkeys(STAGES, 0.0)
    for line in timings.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "tx":
            lsns[int(fields[1])] = int(fields[0])
            handled[int(fields[1])] = at
        elif kind == "event":
            at = float(fields[1])
            spent = dict(zip(STAGES, map(float, fields[3:]), strict=True))
            events[at] = {s: spent[s] - before[s] for s in STAGES}
            events[at]["handler"] = at - float(fields[2])
            before = spent
    return lsns, handled, events


async def _latency(
    commits: list[list[Any]], lsns: dict[int, int], received: list[list[tuple[float, str]]]
) -> tuple[float, float]:
    """Commit returned → a client's frame covering it (an update at its LSN or later), p50/p99.

    Waits (with a deadline) until every client has a frame covering its room's last transaction.
    """
    by_room: dict[int, list[tuple[int, float]]] = {}
    for xid, room, at in commits:
        if room <= CLIENTS:
            by_room.setdefault(room, []).append((lsns[xid], at))
    for pending in by_room.values():
        pending.sort()
    deadline = time.monotonic() + 30
    samples: list[float] = []
    read = [0] * len(received)
    while True:
        for client, frames in enumerate(received):
            pending = by_room.setdefault(client + 1, [])
            for at, raw in frames[read[client] :]:
                if '"update"' in raw:
                    lsn = json.loads(raw)["lsn"]
                    while pending and pending[0][0] <= lsn:
                        samples.append((at - pending.pop(0)[1]) * 1000)
            read[client] = len(frames)
        if not any(by_room.values()):
            return _percentile(samples, 50), _percentile(samples, 99)
        assert time.monotonic() < deadline, "clients missing updates 30 s after the step"
        await asyncio.sleep(0.05)  # polling for the last frames with a deadline


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _raw_rate(dsn: str, transactions: int) -> float:
    """Transactions/s a bare ``ReplicationStream`` reads from the ramp's backlog (second slot)."""
    content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
    with psycopg.connect(dsn, autocommit=True) as conn:
        (marker,) = conn.execute(
            "SELECT (pg_logical_emit_message(false, %s, %s) - '0/0'::pg_lsn)::bigint",
            (HEARTBEAT_PREFIX, content),
        ).fetchone() or (0,)
    tables = [("public", "testapp_message")]
    seen, started, seconds = 0, time.perf_counter(), 0.0
    with ReplicationStream(dsn, RAW_SLOT, tables, heartbeat_interval=None, idle_tick=1.0) as raw:
        for event in raw:
            if isinstance(event, Chunk) and event.last:
                seen += 1
                seconds = time.perf_counter() - started
                raw.ack(event.transaction)
            elif isinstance(event, Heartbeat) and event.lsn >= marker:
                break
    assert seen >= transactions, (seen, transactions)
    return seen / seconds


# -- the processes this module starts -------------------------------------------------------------


def _worker_main(timings_path: str) -> None:
    """``rx_replicate``, logging each transaction's commit LSN and xid, and each event's size."""
    import django

    django.setup()
    from django.core.management import call_command

    from rxcdc.worker import Worker

    out = open(timings_path, "a", buffering=1 << 16)  # noqa: SIM115 (for the process lifetime)
    handle = Worker.handle

    def logged(self: Worker, event: Any, ack: Any) -> None:
        got = time.monotonic()
        handle(self, event, ack)
        chunks = (
            event.chunks if isinstance(event, Run) else (event,) if isinstance(event, Chunk) else ()
        )
        if chunks:
            spent = " ".join(f"{self.timings[stage]:.6f}" for stage in STAGES)
            out.write(f"event {len(chunks)} {time.monotonic()} {got} {spent}\n")
            for chunk in chunks:
                out.write(f"tx {chunk.transaction.commit_lsn} {chunk.transaction.xid}\n")
            out.flush()

    Worker.handle = logged  # type: ignore[method-assign]
    call_command("rx_replicate")


def _writer_main(
    dsn: str, rate: str, seconds: str, start: str, index: str, count: str, out: str
) -> None:
    """Open loop: transaction ``i`` is due at ``start + i / rate``; this writer sends every
    ``count``-th one from ``index``. Saves (xid, room, when its commit returned) per transaction."""
    per_second, first, step = float(rate), int(index), int(count)
    due, n = float(start), int(float(rate) * float(seconds))
    commits = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for seq in range(first, n, step):
            at = due + seq / per_second
            wait = at - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing the open-loop schedule
            room = seq % HOT + 1
            message = (room - 1) * PER_ROOM + (seq // HOT) % PER_ROOM + 1
            row = conn.execute(
                "UPDATE testapp_message SET text = %s WHERE id = %s"
                " RETURNING pg_current_xact_id()::text",
                (f"s{seq}", message),
            ).fetchone()
            assert row is not None
            commits.append((int(row[0]) & 0xFFFFFFFF, room, time.monotonic()))
    Path(out).write_text(json.dumps(commits))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        _worker_main(sys.argv[2])
    elif sys.argv[1] == "writer":
        _writer_main(*sys.argv[2:9])

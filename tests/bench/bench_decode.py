"""Decode throughput of one 200,000-row UPDATE (ours vs pg_recvlogical) and commit → caller latency.

Both readers get the same wal2json options (``wal2json.stream_options``) and the same WAL: a
200,000-row UPDATE followed by an end marker, a non-transactional message with the heartbeat
prefix. ``pg_recvlogical`` stops at the marker (``-E``) and writes to /dev/null; our stream stops
at the Heartbeat it becomes, having built a typed ``Update`` for every row. Both are timed from
connecting to reaching the marker, so the server's decoding is inside both figures.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from datetime import UTC, datetime

import psycopg

from replication import (
    Chunk,
    Heartbeat,
    ReplicationStream,
    drop_slot,
    ensure_slot,
    format_lsn,
    parse_lsn,
)
from replication.heartbeat import HEARTBEAT_PREFIX
from replication.wal2json import stream_options
from rxcdc.testing.services import LocalServices, find_pg_bindir

from .result import Result

ROWS = 200_000
LATENCY_TRANSACTIONS = 1_000
DATABASE = "bench_decode"


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Measure ``repeats`` times; return the throughput and latency results."""
    dsn = _fresh_database(services)
    ours: list[float] = []
    recvlogical: list[float] = []
    p50: list[float] = []
    p99: list[float] = []
    for repeat in range(repeats):
        marker = _update_all(dsn)
        # Alternate who reads first, so neither always gets the warmer caches.
        readers = [("ours", ours), ("pg_recvlogical", recvlogical)]
        for name, samples in readers if repeat % 2 == 0 else reversed(readers):
            slot = "bench_ours" if name == "ours" else "bench_recvlogical"
            seconds = (
                _read_ours(dsn, slot, marker)
                if name == "ours"
                else _read_recvlogical(services, slot, marker)
            )
            samples.append(ROWS / seconds)
            drop_slot(dsn, slot)
        latencies = _latencies(dsn)
        p50.append(_percentile(latencies, 50))
        p99.append(_percentile(latencies, 99))
    return [
        Result("decode: pg_recvlogical → /dev/null", "changes/s", recvlogical),
        Result(
            "decode: ReplicationStream, typed changes",
            "changes/s",
            ours,
            baseline=recvlogical,
            baseline_name="pg_recvlogical",
            at_least=0.5,
        ),
        Result(f"commit → caller latency p50 ({LATENCY_TRANSACTIONS} single-row txns)", "ms", p50),
        Result(f"commit → caller latency p99 ({LATENCY_TRANSACTIONS} single-row txns)", "ms", p99),
    ]


def _fresh_database(services: LocalServices) -> str:
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    dsn = services.postgres.dsn(DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The table of environment.md §3c; no autovacuum, so no unrelated WAL mid-measurement.
        conn.execute(
            "CREATE TABLE bench (id int PRIMARY KEY, fk int, txt text, ts timestamptz,"
            " num numeric) WITH (autovacuum_enabled = false)"
        )
        conn.execute(
            "INSERT INTO bench SELECT i, i % 100, md5(i::text), now(), i * 1.25"
            f" FROM generate_series(1, {ROWS}) i"
        )
        conn.execute("CREATE TABLE ping (id int PRIMARY KEY, at timestamptz)")
    return dsn


def _update_all(dsn: str) -> int:
    """Slots for both readers, then the UPDATE and the end marker; returns the marker's LSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM bench")  # before the slots exist: not part of what is decoded
        ensure_slot(dsn, "bench_ours")
        ensure_slot(dsn, "bench_recvlogical")
        conn.execute("UPDATE bench SET txt = txt || 'x', num = num + 1, ts = now()")
        content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
        row = conn.execute(
            "SELECT pg_logical_emit_message(false, %s, %s)::text", (HEARTBEAT_PREFIX, content)
        ).fetchone()
    assert row is not None
    return parse_lsn(row[0])


def _read_ours(dsn: str, slot: str, marker: int) -> float:
    start = time.perf_counter()
    changes = 0
    with ReplicationStream(dsn, slot, ["bench"], heartbeat_interval=None, idle_tick=None) as s:
        for event in s:
            if isinstance(event, Chunk):
                changes += len(event.changes)
            elif isinstance(event, Heartbeat) and event.lsn >= marker:
                break
    seconds = time.perf_counter() - start
    assert changes == ROWS, changes
    return seconds


def _read_recvlogical(services: LocalServices, slot: str, marker: int) -> float:
    pg = services.postgres
    options = stream_options(["bench"], [HEARTBEAT_PREFIX])
    command = [
        str(find_pg_bindir() / "pg_recvlogical"),
        "-h",
        str(pg.socket_dir),
        "-p",
        str(pg.port),
        "-U",
        "postgres",
        "-d",
        DATABASE,
        "-S",
        slot,
        "--start",
        "--no-loop",
        "-E",
        format_lsn(marker),
        "-f",
        "/dev/null",
    ]
    for key, value in options.items():
        command += ["-o", f"{key}={value}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, timeout=120)
    return time.perf_counter() - start


def _latencies(dsn: str) -> list[float]:
    """Ping-pong: commit one row, wait for it, repeat; milliseconds from commit to delivery."""
    ensure_slot(dsn, "bench_latency")
    latencies = []
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        ReplicationStream(dsn, "bench_latency", ["ping"], heartbeat_interval=None) as stream,
    ):
        events = iter(stream)
        for i in range(LATENCY_TRANSACTIONS):
            conn.execute("INSERT INTO ping VALUES (%s, now())", (i,))
            for event in events:
                if isinstance(event, Chunk):
                    received = datetime.now(UTC)
                    stream.ack(event.transaction)
                    latency = received - event.transaction.commit_time
                    latencies.append(latency.total_seconds() * 1000)
                    break
        conn.execute("TRUNCATE ping")
    drop_slot(dsn, "bench_latency")
    return latencies


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]

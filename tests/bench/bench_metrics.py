"""What the Prometheus metrics cost: per worker event, per websocket frame, per scrape.

Measured in a child process (Django set up on the suite's settings, so that other benchmarks
set Django up with their own): the worker's loop hooks (``begin`` + ``end`` around one event),
``frame_sent`` for one update frame, and a whole scrape of the worker's registry while the slot
exists and the worker holds ``HOT`` hot anchors (its one Postgres query on a new connection).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from rxcdc.testing.services import LocalServices

from .result import Result

DATABASE = "bench_metrics"
ROOT = Path(__file__).resolve().parents[2]
HOT = 10_000

PROBE = """
import json, sys, time, django
from datetime import UTC, datetime
from types import SimpleNamespace
django.setup()
from prometheus_client import CollectorRegistry, generate_latest
from replication.changes import Chunk, Insert, Transaction
from replication.slot import drop_slot, ensure_slot
from rxcdc import conf, metrics

dsn, slot = conf.replication_dsn(), rx_settings.SLOT_NAME
ensure_slot(dsn, slot)
try:
    probe = metrics.WorkerMetrics(dsn, slot)
    tx = Transaction(1, 1, datetime.now(UTC))
    chunk = Chunk(tx, [Insert("public", "t", {"id": i}, 1) for i in range(10)], 0, True)
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        probe.begin(chunk)
        probe.end(chunk)
    hooks = (time.perf_counter() - started) / n

    text = '{"type":"update","anchor":1,"lsn":123456,"tombstones":[],"instances":[{"id":1}]}'
    metrics.frame_sent(text)
    started = time.perf_counter()
    for _ in range(n):
        metrics.frame_sent(text)
    frame = (time.perf_counter() - started) / n

    anchors = {("app.Channel", i): None for i in range(HOT_ANCHORS)}
    probe.worker = SimpleNamespace(
        state=SimpleNamespace(anchors=anchors), quarantine=SimpleNamespace(anchors={}, count=0),
        channels={"app.Channel": None}, timings={"route": 1.0}, position=1,
    )
    registry = CollectorRegistry()
    registry.register(probe)
    generate_latest(registry)
    scrapes = 50
    started = time.perf_counter()
    for _ in range(scrapes):
        generate_latest(registry)
    scrape = (time.perf_counter() - started) / scrapes
    print(json.dumps({"hooks": hooks, "frame": frame, "scrape": scrape}))
finally:
    drop_slot(dsn, slot)
""".replace("HOT_ANCHORS", str(HOT))


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Measure ``repeats`` times in a fresh process each; return the three costs."""
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    env = {
        **os.environ,
        **services.env(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RXCDC_PG_NAME": DATABASE,
        "RX_SLOT_NAME": DATABASE,
    }
    hooks, frames, scrapes = [], [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, cwd=ROOT, check=True, capture_output=True
        )
        found = json.loads(out.stdout.decode().strip().splitlines()[-1])
        hooks.append(found["hooks"] * 1e6)
        frames.append(found["frame"] * 1e6)
        scrapes.append(found["scrape"] * 1e3)
    return [
        Result("metrics: worker loop hooks per event (begin + end)", "µs", hooks, at_most=10.0),
        Result("metrics: websocket frame counted (frame_sent)", "µs", frames, at_most=5.0),
        Result(
            f"metrics: worker scrape, slot query on a new connection, {HOT:,} hot anchors",
            "ms",
            scrapes,
            at_most=100.0,
        ),
    ]

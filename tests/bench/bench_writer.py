"""Writer overhead: ``save()`` in a plain Django process, with and without rxcdc capturing.

Without: ``rxcdc`` not in ``INSTALLED_APPS``, no worker, no slot. With: ``rx_replicate`` running
on the same database with the written rows' anchor hot, so every save is decoded, routed,
re-serialized, cached and published while the writer works. rxcdc adds nothing to ``save()``
itself (it reads the WAL); what the ratio measures is the cost of sharing the machine with
logical decoding and the worker. Both writers run in fresh processes, alternating.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from rxcdc.cache import Cache
from rxcdc.heat import Heater, HeatRequest
from rxcdc.testing.services import LocalServices
from rxcdc.testing.waiting import wait_until

from .result import Result

DATABASE = "bench_writer"
SAVES = 10_000
ROOT = Path(__file__).resolve().parents[2]
LABEL = "testapp.RoomChannel"

WRITER = """
import time, django
django.setup()
from tests.testapp.models import Message
msgs = list(Message.objects.filter(room_id=1).order_by("pk")[:100])
for m in msgs[:20]:
    m.save()  # warm-up: connection, query compilation
start = time.perf_counter()
for i in range({saves}):
    m = msgs[i % len(msgs)]
    m.text = str(i)
    m.save()
print(time.perf_counter() - start)
"""


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Alternate writers without and with rxcdc; report the per-repeat time ratio."""
    env = _setup(services)
    without: list[float] = []
    with_rx: list[float] = []
    worker = _start_worker(env)
    try:
        _heat(services, env)
        for _ in range(repeats):
            with_rx.append(_write(env))
            worker.send_signal(signal.SIGSTOP)  # no CPU for the worker
            try:
                without.append(_write({**env, "RX_WITHOUT_RXCDC": "1"}))
            finally:
                worker.send_signal(signal.SIGCONT)
    finally:
        worker.terminate()
        worker.wait(30)
    ms = [t / SAVES * 1000 for t in with_rx]
    base = [t / SAVES * 1000 for t in without]
    return [
        Result(f"writer: {SAVES:,} save() without rxcdc", "ms/save", base),
        Result(
            f"writer: {SAVES:,} save() with rxcdc and the worker running",
            "ms/save",
            ms,
            baseline=base,
            baseline_name="without rxcdc",
        ),
        Result(
            "writer overhead (with / without, per repeat)",
            "x",
            [w / b for w, b in zip(with_rx, without, strict=True)],
            at_most=1.05,
        ),
    ]


def _setup(services: LocalServices) -> dict[str, str]:
    env = {
        **os.environ,
        **services.env(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RXCDC_PG_NAME": DATABASE,
        "RX_SLOT_NAME": DATABASE,
        "RX_MONGO_DB": DATABASE,
        "RX_CACHE_TTL": "3600",
    }
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True
    )
    with psycopg.connect(services.postgres.dsn(DATABASE), autocommit=True) as conn:
        conn.execute("INSERT INTO testapp_room (id, name) VALUES (1, 'bench')")
        conn.execute(
            "INSERT INTO testapp_message (room_id, text) "
            "SELECT 1, 'm' || i FROM generate_series(1, 100) i"
        )
    return env


def _write(env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", WRITER.format(saves=SAVES)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = Path(tempfile.mkdtemp(prefix="bench-writer-")) / "worker.log"
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "rx_replicate"],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    deadline = time.monotonic() + 60
    while b"rx_replicate: streaming" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"rx_replicate did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)  # polling the worker's log with a deadline
    return proc


def _heat(services: LocalServices, env: dict[str, str]) -> None:
    """Ask the worker for room 1 as a consumer would, and wait until its meta document exists."""
    Heater(redis.Redis.from_url(services.redis.url)).request(
        HeatRequest(LABEL, 1, "bench.reply!unused"), ttl=3600
    )
    cache = Cache(services.mongo.url, DATABASE)
    wait_until(lambda: cache.is_hot(LABEL, 1), "the worker heated room 1", 60, interval=0.05)

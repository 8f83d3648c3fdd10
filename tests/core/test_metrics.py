"""The worker's Prometheus endpoint and ``rx_replicate --status``, against a worker process."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection

from rxcdc import conf
from rxcdc.heat import WORKER_KEY
from rxcdc.testing.services import MongoServer, free_port, stop_process
from rxcdc.testing.waiting import wait_until
from tests.processes import django_env, drop_slot_when_free
from tests.scrape import Samples, scrape, value
from tests.testapp.models import Message, Room


@dataclass
class WorkerProcess:
    """``manage.py rx_replicate --metrics-port 0`` in a process of its own."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def scrape(self) -> Samples:
        return scrape(self.url)

    def until(
        self, condition: Callable[[Samples], object], what: str, timeout: float = 30
    ) -> Samples:
        """Scrape until ``condition(samples)`` holds; returns those samples."""
        found: list[Samples] = []

        def check() -> object:
            found[:] = [self.scrape()]
            return condition(found[0])

        wait_until(check, what, timeout, interval=0.1, process=self.proc, context=self.tail)
        return found[0]

    def tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-30:])

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, timeout=30)


@pytest.fixture
def start_worker(settings, transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts workers on a slot and cache database of this test's own."""
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        log = tmp_path / f"worker{len(started)}.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "django", "rx_replicate", "--metrics-port", "0"],
                env=django_env(**env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append(WorkerProcess(proc, log, ""))
        port = wait_until(
            lambda: re.search(r"metrics on http://[^:]+:(\d+)/metrics", log.read_text()),
            "the worker printed its metrics port",
            60,
            process=proc,
            context=lambda: log.read_text(),
        ).group(1)
        started[-1].url = f"http://127.0.0.1:{port}/metrics"
        wait_until(
            lambda: "rx_replicate: streaming" in log.read_text(),
            "the worker streams",
            60,
            process=proc,
            context=lambda: log.read_text(),
        )
        return started[-1]

    yield start
    for worker in started:
        worker.stop()
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)
    pymongo.MongoClient(conf.mongo_url()).drop_database(settings.RX_MONGO_DB)


def test_worker_endpoint_counts_streamed_changes_and_its_lag_returns_to_zero(start_worker):
    started = time.time()
    worker = start_worker()
    before = worker.until(lambda s: value(s, "rxcdc_slot_active") == 1, "the slot is active")
    assert value(before, "rxcdc_worker_streaming") == 1
    assert value(before, "rxcdc_slot_exists") == 1
    assert value(before, "rxcdc_slot_wal_status", status="reserved") == 1
    assert value(before, "rxcdc_slot_retained_wal_bytes") > 0
    assert value(before, "rxcdc_hot_anchors", channel="testapp.RoomChannel") == 0
    transactions = value(before, "rxcdc_transactions_total")
    changes = value(before, "rxcdc_changes_total")

    room = Room.objects.create(name="metrics")  # 1 transaction, 1 change
    for i in range(20):  # 20 transactions, 1 change each
        Message.objects.create(room=room, text=f"m{i}")
    Message.objects.bulk_create(Message(room=room, text=f"b{i}") for i in range(50))  # 1, 50

    after = worker.until(
        lambda s: value(s, "rxcdc_transactions_total") >= transactions + 22,
        "the worker counted the 22 transactions",
    )
    assert value(after, "rxcdc_transactions_total") == transactions + 22
    assert value(after, "rxcdc_changes_total") == changes + 71
    assert value(after, "rxcdc_worker_last_event_timestamp_seconds") >= started
    assert value(after, "rxcdc_worker_position_lsn") > value(before, "rxcdc_worker_position_lsn")
    # Acknowledged: the slot's confirmed position reaches the last commit, the lag goes to ~0.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        (written,) = cur.fetchone()
    caught_up = worker.until(
        lambda s: (
            value(s, "rxcdc_slot_confirmed_flush_lsn") >= value(after, "rxcdc_worker_position_lsn")
            and value(s, "rxcdc_replication_lag_bytes") < 8192
        ),
        "the slot's confirmed position caught up",
    )
    assert value(caught_up, "rxcdc_slot_confirmed_flush_lsn") <= int(written) + 8192
    assert 0 <= value(caught_up, "rxcdc_replication_lag_seconds") < 2
    assert value(caught_up, "rxcdc_worker_stage_seconds_total", stage="route") > 0


def test_worker_endpoint_counts_a_mongodb_outage_once_and_each_retry(start_worker, tmp_path):
    (tmp_path / "mongo").mkdir()
    mongo = MongoServer(tmp_path / "mongo", port=free_port())
    mongo.start()
    try:
        worker = start_worker(MONGO_URL=mongo.url)
        up = worker.scrape()
        assert value(up, "rxcdc_service_outages_total", service="mongodb") == 0
        assert value(up, "rxcdc_service_retries_total", service="mongodb") == 0
        mongo.stop()  # the worker reads the cache's marker on every tick: it notices at once
        down = worker.until(
            lambda s: value(s, "rxcdc_service_retries_total", service="mongodb") >= 2,
            "the worker retried MongoDB twice",
            60,
        )
        assert value(down, "rxcdc_service_outages_total", service="mongodb") == 1
        assert value(down, "rxcdc_service_outages_total", service="redis") == 0
        restarted = time.time()
        mongo.start()
        back = worker.until(
            lambda s: value(s, "rxcdc_worker_last_event_timestamp_seconds") > restarted,
            "the worker handles events again",
            60,
        )
        assert value(back, "rxcdc_service_outages_total", service="mongodb") == 1
        assert value(back, "rxcdc_service_retries_total", service="mongodb") >= 2
    finally:
        mongo.stop()


def _status() -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("rx_replicate", "--status", stdout=out)
    except CommandError as exc:
        return f"{out.getvalue()}{exc}", exc.returncode
    return out.getvalue(), 0


def test_status_reads_a_worker_in_another_process_and_says_when_none_runs(start_worker, settings):
    slot = settings.RX_SLOT_NAME
    keys = redis.Redis.from_url(conf.redis_url())
    keys.delete(WORKER_KEY)  # a stale key of an earlier test's worker: its TTL, run out
    text, code = _status()
    assert code == 1, text
    assert f"slot {slot}: does not exist" in text
    assert "lease: free" in text
    assert f"worker: absent ({WORKER_KEY} is not set)" in text
    assert f"slot '{slot}' does not exist" in text

    worker = start_worker()
    pid = str(worker.proc.pid).encode()
    wait_until(lambda: keys.get(WORKER_KEY) == pid, "the worker announced itself", 30)
    text, code = _status()
    assert code == 0, text
    assert re.search(rf"slot {slot} \(wal2json, database \w+\): active \(walsender pid \d+\)", text)
    assert f"lease: held by 'rx_replicate pid {worker.proc.pid} on " in text
    assert f"worker: alive ({WORKER_KEY}: pid {worker.proc.pid}, expires in " in text
    assert "cache: 0 hot anchors, 0 quarantined" in text
    assert re.search(r"  lag [\d.]+ s|  lag 0 s \(caught up\)", text), text
    assert text.rstrip().endswith("streaming")

    worker.stop()
    text, code = _status()
    assert code == 1, text
    assert f"slot {slot} (wal2json, database" in text and ": inactive" in text
    assert "lease: free" in text
    assert f"no worker streams slot '{slot}'" in text


def test_status_exits_2_when_a_service_cannot_be_reached(settings, transactional_db):
    settings.RX_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    text, code = _status()
    assert code == 2, text
    assert f"worker: cannot read {WORKER_KEY}" in text
    assert "unknown: cannot reach Redis" in text

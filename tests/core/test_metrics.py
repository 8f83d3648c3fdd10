"""The worker's Prometheus endpoint and ``rx_replicate --status``, against a worker process."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from django.db import connection

from rxcdc import conf
from rxcdc.conf import rx_settings
from rxcdc.heat import WORKER_KEY
from rxcdc.testing.services import MongoServer, free_port
from rxcdc.testing.waiting import wait_until
from tests.scrape import value
from tests.testapp.models import Message, Room
from tests.worker_process import WorkerProcess, status, workers


@pytest.fixture
def worker_process(settings, transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    yield from workers(settings, tmp_path)


def test_worker_endpoint_counts_streamed_changes_and_its_lag_returns_to_zero(worker_process):
    started = time.time()
    worker = worker_process()
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


def test_worker_endpoint_counts_a_mongodb_outage_once_and_each_retry(worker_process, tmp_path):
    (tmp_path / "mongo").mkdir()
    mongo = MongoServer(tmp_path / "mongo", port=free_port())
    mongo.start()
    try:
        worker = worker_process(MONGO_URL=mongo.url)
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
        # Stuck waiting: nothing committed now would reach a client, and the lag says so.
        assert value(down, "rxcdc_replication_lag_seconds") > 1
        restarted = time.time()
        mongo.start()
        back = worker.until(
            lambda s: value(s, "rxcdc_worker_last_event_timestamp_seconds") > restarted,
            "the worker handles events again",
            60,
        )
        assert value(back, "rxcdc_service_outages_total", service="mongodb") == 1
        assert value(back, "rxcdc_service_retries_total", service="mongodb") >= 2
        worker.until(lambda s: value(s, "rxcdc_replication_lag_seconds") < 2, "the lag is back")
        worker.stop()  # while MongoDB is up: a worker waiting for it would not stop on SIGTERM
    finally:
        mongo.stop()


def test_status_reads_a_worker_in_another_process_and_says_when_none_runs(worker_process, settings):
    slot = settings.RX_SLOT_NAME
    keys = redis.Redis.from_url(conf.redis_url())
    keys.delete(WORKER_KEY)  # a stale key of an earlier test's worker: its TTL, run out
    text, code = status()
    assert code == 1, text
    assert f"slot {slot}: does not exist" in text
    assert "lease: free" in text
    assert f"worker: absent ({WORKER_KEY} is not set)" in text
    assert f"slot '{slot}' does not exist" in text

    worker = worker_process()
    pid = str(worker.proc.pid).encode()
    wait_until(lambda: keys.get(WORKER_KEY) == pid, "the worker announced itself", 30)
    worker.until(lambda s: value(s, "rxcdc_slot_active") == 1, "the worker streams its slot")
    text, code = status()
    assert code == 0, text
    assert re.search(rf"slot {slot} \(wal2json, database \w+\): active \(walsender pid \d+\)", text)
    assert f"lease: held by 'rx_replicate pid {worker.proc.pid} on " in text
    assert f"worker: alive ({WORKER_KEY}: pid {worker.proc.pid}, expires in " in text
    assert "cache: 0 hot anchors, 0 quarantined" in text
    assert re.search(r"  lag [\d.]+ s|  lag 0 s \(caught up\)", text), text
    assert text.rstrip().endswith("streaming")

    worker.stop()
    text, code = status()
    assert code == 1, text
    assert f"slot {slot} (wal2json, database" in text and ": inactive" in text
    assert "lease: free" in text
    assert f"no worker streams slot '{slot}'" in text


def test_status_exits_2_when_a_service_cannot_be_reached(settings, transactional_db):
    settings.RX_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    text, code = status()
    assert code == 2, text
    assert f"worker: cannot read {WORKER_KEY}" in text
    assert "unknown: cannot reach Redis" in text


def test_every_metric_the_deployment_docs_name_is_exported(pipeline):
    from pathlib import Path

    from prometheus_client import REGISTRY, CollectorRegistry

    from rxcdc.metrics import WorkerMetrics

    probe = WorkerMetrics(conf.replication_dsn(), rx_settings.SLOT_NAME)
    probe.attach(pipeline.worker, pipeline.stream)
    registry = CollectorRegistry()
    registry.register(probe)
    exported = set()
    for family in [*registry.collect(), *REGISTRY.collect()]:
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    doc = (Path(__file__).parents[2] / "docs" / "deployment.md").read_text()
    named = set(re.findall(r"\brxcdc_[a-z_]+", doc))
    # Not metrics: the slot of the examples and the worker's database role.
    named -= {"rxcdc_prod", "rxcdc_worker"}
    # Only exported when max_slot_wal_keep_size is set (the test cluster's is unlimited).
    named -= {"rxcdc_slot_safe_wal_bytes"}
    assert len(named) > 20
    assert named <= exported, named - exported


def test_status_runs_from_the_command_line_even_when_a_system_check_fails(transactional_db):
    import subprocess
    import sys

    from tests.processes import django_env

    # A negative RX_CACHE_TTL fails rxcdc.E010: the worker would refuse to start, and the
    # operator asking why must still get the status.
    slot = f"rx_{uuid.uuid4().hex[:10]}"
    env = django_env(RX_SLOT_NAME=slot, RX_CACHE_TTL="-1")
    done = subprocess.run(
        [sys.executable, "-m", "django", "rx_replicate", "--status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"slot {slot}: does not exist" in done.stdout
    assert f"CommandError: slot '{slot}' does not exist" in done.stderr
    assert "SystemCheckError" not in done.stderr


def test_status_says_when_its_database_role_cannot_see_the_lease(worker_process, settings):
    import psycopg2

    from replication.leader import lock_holder
    from rxcdc.status import _lease_line

    worker = worker_process()
    worker.until(lambda s: value(s, "rxcdc_slot_active") == 1, "the worker streams its slot")
    with connection.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS rx_metrics_viewer")
        cur.execute("CREATE ROLE rx_metrics_viewer LOGIN")
    try:
        dsn = conf.replication_dsn()
        own = lock_holder(dsn, settings.RX_SLOT_NAME)
        assert own is not None and own.state is not None
        assert re.search(r"renewed (\d+\.\d s ago|now \(in a query\))$", _lease_line(own))
        viewer = lock_holder(
            re.sub(r"user=\S+", "user=rx_metrics_viewer", dsn), settings.RX_SLOT_NAME
        )
        assert viewer is not None and viewer.pid == own.pid and viewer.state is None
        assert _lease_line(viewer).endswith("renewed at a time this database role may not see")
    finally:
        with psycopg2.connect(dsn) as admin, admin.cursor() as cur:
            cur.execute("DROP ROLE rx_metrics_viewer")
        admin.close()


def test_a_metrics_port_that_cannot_be_served_stops_the_command_with_why(
    settings, transactional_db
):
    import socket

    from django.core.management import CommandError, call_command

    settings.RX_METRICS_PORT = "9108"  # a string, not a port
    with pytest.raises(CommandError, match=r"RX_METRICS_PORT must be a TCP port .* not '9108'"):
        call_command("rx_replicate")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings.RX_METRICS_ADDRESS = "127.0.0.1"
        settings.RX_METRICS_PORT = None  # a wrong setting stops it even with --metrics-port
        with pytest.raises(CommandError, match=r"cannot serve metrics: .*in use"):
            call_command("rx_replicate", "--metrics-port", str(port))

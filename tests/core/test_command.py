"""``manage.py rx_replicate`` refuses what it cannot do, and stops cleanly."""

import os

import pytest
from django.core.management import CommandError, call_command

from replication.slot import slot_status
from rxcdc import conf
from rxcdc.conf import rx_settings
from rxcdc.testing.waiting import wait_until
from tests.processes import django_env


def test_refuses_to_start_while_another_worker_holds_the_slot(pipeline):
    pipeline.pump()  # the pipeline's worker holds the slot
    assert slot_status(conf.replication_dsn(), rx_settings.SLOT_NAME).active_pid is not None
    with pytest.raises(CommandError, match=rf"in use by rx_replicate pid {os.getpid()} on "):
        call_command("rx_replicate")


def test_refuses_a_slot_name_postgres_would_reject(settings, transactional_db):
    settings.RX_SLOT_NAME = "Bad-Name"
    with pytest.raises(CommandError, match="Bad-Name"):
        call_command("rx_replicate")


def test_standby_waits_for_the_active_worker_then_takes_over(pipeline, settings):
    import subprocess
    import sys
    import time

    env = django_env()
    standby = subprocess.Popen(
        [sys.executable, "-m", "django", "rx_replicate", "--standby"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert standby.stdout.readline().startswith("rx_replicate: standby")
        pipeline.pump()  # the active worker keeps working meanwhile
        assert standby.poll() is None
        pipeline.replicator.close()  # the active worker stops
        deadline = time.monotonic() + 30
        line = ""
        output = []
        while not line.startswith("rx_replicate: streaming"):
            assert time.monotonic() < deadline, "the standby never took over"
            line = standby.stdout.readline()
            output.append(line)
            assert line or standby.poll() is None, f"the standby died: {''.join(output)}"
    finally:
        standby.terminate()
        standby.wait(30)


def test_waits_for_mongodb_at_start_with_one_line_per_attempt(transactional_db, tmp_path):
    import signal
    import subprocess
    import sys

    from rxcdc.testing.services import MongoServer, free_port, stop_process

    port = free_port()
    mongo = MongoServer(tmp_path, port=port)
    env = django_env(MONGO_URL=f"mongodb://127.0.0.1:{port}/?directConnection=true")
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "django", "rx_replicate"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        said = {"process": worker, "context": log.read_text}
        wait_until(
            lambda: "MongoDB unreachable at start" in log.read_text(), "it says so", 60, **said
        )
        mongo.start()
        wait_until(lambda: "rx_replicate: streaming" in log.read_text(), "it streams", 60, **said)
        assert "Traceback" not in log.read_text()
    finally:
        stop_process(worker, signal.SIGTERM)
        mongo.stop()


def test_a_clean_stop_withdraws_the_workers_presence_at_once(transactional_db, tmp_path):
    import signal
    import subprocess
    import sys

    import redis

    from rxcdc.heat import WORKER_KEY

    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "django", "rx_replicate"],
            env=django_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    r = redis.Redis.from_url(conf.redis_url())
    pid = str(worker.pid).encode()
    wait_until(
        lambda: r.get(WORKER_KEY) == pid,
        "the worker announced itself",
        60,
        process=worker,
        context=log.read_text,
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text()
    # Consumers tell their clients the worker is gone now, not when the key's TTL runs out.
    assert r.get(WORKER_KEY) != pid

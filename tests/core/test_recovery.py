"""Replays change nothing; restarts, kills and outages lose nothing."""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from replication.slot import slot_status
from rxcdc import conf
from rxcdc.conf import rx_settings
from rxcdc.heat import HeatRequest
from rxcdc.testing.live import LiveWorker
from rxcdc.testing.services import MongoServer
from rxcdc.testing.waiting import wait_until
from tests.processes import django_env, drop_slot_when_free
from tests.testapp.models import Message, Room

ROOM = "testapp.RoomChannel"


def _docs(pipeline, anchor):
    return sorted(
        pipeline.worker.cache.anchor_docs(ROOM, anchor, live_only=False), key=lambda d: d["_id"]
    )


def test_replaying_applied_transactions_changes_nothing(pipeline):
    room = Room.objects.create(name="r")
    msgs = Message.objects.bulk_create([Message(room=room, text=str(i)) for i in range(5)])
    pipeline.heat(ROOM, room.pk)
    Message.objects.filter(pk=msgs[0].pk).update(text="changed")
    msgs[1].delete()
    Message.objects.create(room=room, text="new")
    pipeline.pump()
    assert len(pipeline.chunks) >= 3
    before = _docs(pipeline, room.pk)
    pipeline.restart()  # a restarted worker sees the same transactions again
    for chunk in pipeline.chunks:
        pipeline.worker.apply_chunk(chunk)
    assert _docs(pipeline, room.pk) == before
    pipeline.assert_converged(ROOM, room.pk)


def test_restarted_worker_routes_from_the_restored_state(pipeline):
    room = Room.objects.create(name="r")
    keep, gone = (
        Message.objects.create(room=room, text="a"),
        Message.objects.create(room=room, text="b"),
    )
    pipeline.heat(ROOM, room.pk)
    pipeline.restart()
    gone.delete()  # only our restored state knows this row belonged to the room
    Message.objects.filter(pk=keep.pk).update(text="kept")
    pipeline.pump()
    pipeline.assert_converged(ROOM, room.pk)
    assert ("testapp.MessageSerializer", gone.pk) not in pipeline.cached(ROOM, room.pk)


def _commit_lsn() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT (pg_current_wal_lsn() - '0/0')::bigint")
        return cur.fetchone()[0]


def _through_outage(pipeline, stop, start, write):
    """Stop a service, write, let the worker hit the outage, restart the service (from this
    thread: servers die with the thread that started them), and wait for the worker."""
    stop()
    write()
    written = _commit_lsn()
    errors = []

    def pump():
        try:
            pipeline.pump(timeout=120)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=pump)
    worker.start()
    deadline = time.monotonic() + 60
    while pipeline.worker.outages == 0:
        assert time.monotonic() < deadline, "the worker never noticed the outage"
        time.sleep(0.05)  # polling a condition with a deadline
    confirmed = slot_status(conf.replication_dsn(), rx_settings.SLOT_NAME).confirmed_flush_lsn
    start()
    worker.join(150)
    assert not errors, errors
    assert confirmed < written  # nothing was acknowledged while the service was down


def test_redis_outage_stops_acks_and_loses_nothing(pipeline, services):
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    _through_outage(
        pipeline,
        services.redis.stop,
        services.redis.start,
        lambda: Message.objects.filter(pk=m.pk).update(text="during outage"),
    )
    pipeline.assert_converged(ROOM, room.pk)
    assert (
        pipeline.cached(ROOM, room.pk)[("testapp.MessageSerializer", m.pk)]["text"]
        == "during outage"
    )


@pytest.fixture
def file_mongo():
    """A MongoDB-wire server whose data survives a restart."""
    root = Path(tempfile.mkdtemp(prefix="rxcdc-services-mongo-"))
    (root / "data").mkdir()
    server = MongoServer(root, data_dir=str(root / "data"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_mongodb_outage_stops_acks_and_loses_nothing(make_pipeline, settings, file_mongo):
    settings.RX_MONGO_URL = file_mongo.url
    pipeline = make_pipeline()
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)

    def write():
        Message.objects.filter(pk=m.pk).update(text="during outage")
        Message.objects.create(room=room, text="added during outage")

    _through_outage(pipeline, file_mongo.stop, file_mongo.start, write)
    pipeline.assert_converged(ROOM, room.pk)


def _writer(stop: threading.Event, rooms: list[int], errors: list[BaseException]) -> None:
    rng = random.Random(7)
    try:
        while not stop.is_set():
            op = rng.random()
            ids = list(Message.objects.filter(room_id__in=rooms).values_list("pk", flat=True))
            if op < 0.4 or not ids:
                Message.objects.create(room_id=rng.choice(rooms), text=str(rng.random()))
            elif op < 0.7:
                Message.objects.filter(pk=rng.choice(ids)).update(text=str(rng.random()))
            elif op < 0.85:
                Message.objects.filter(pk=rng.choice(ids)).update(room_id=rng.choice(rooms))
            else:
                Message.objects.filter(pk=rng.choice(ids)).delete()
            time.sleep(0.01)  # pacing: a steady load, not a synchronisation
    except BaseException as exc:  # surfaced by the test
        errors.append(exc)
    finally:
        connections.close_all()


def _diff(cached, fresh):
    keys = set(cached) | set(fresh)
    return {k: (cached.get(k), fresh.get(k)) for k in keys if cached.get(k) != fresh.get(k)}


def _start_worker_process(env, log: Path):
    """Start ``rx_replicate``; returns once it streams. Output goes to ``log`` (a pipe nobody
    reads would fill up and block the worker)."""
    out = log.open("a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "rx_replicate"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out.close()
    deadline = time.monotonic() + 60
    while "rx_replicate: streaming" not in log.read_text().rsplit("--- start", 1)[-1]:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"rx_replicate did not start: {log.read_text()[-3000:]}")
        time.sleep(0.05)  # polling a condition with a deadline
    return proc


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkilled_worker_restarts_converge_under_write_load(pipeline, settings, tmp_path):
    rooms = [Room.objects.create(name=str(i)).pk for i in range(2)]
    Message.objects.bulk_create([Message(room_id=r, text="seed") for r in rooms for _ in range(5)])
    for r in rooms:
        pipeline.heat(ROOM, r)
        pipeline.worker.heater.touch(ROOM, r, ttl=3600)  # as a connected consumer would
    pipeline.replicator.close()  # the subprocess workers take the slot over
    env = django_env(RX_CACHE_TTL="3600")
    stop, errors = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(stop, rooms, errors))
    writer.start()
    rng = random.Random(11)
    try:
        for _ in range(int(os.environ.get("RESTARTS", "20"))):
            with (tmp_path / "worker.log").open("a") as f:
                f.write("--- start\n")
            proc = _start_worker_process(env, tmp_path / "worker.log")
            time.sleep(rng.uniform(0.05, 0.6))  # a random kill point, not a synchronisation
            proc.kill()
            proc.wait(10)
    finally:
        stop.set()
        writer.join(30)
    assert not errors, errors
    with (tmp_path / "worker.log").open("a") as f:
        f.write("--- start\n")
    proc = _start_worker_process(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            if all(pipeline.cached(ROOM, r) == pipeline.recomputed(ROOM, r) for r in rooms):
                break
            if time.monotonic() > deadline:
                diff = {
                    r: _diff(pipeline.cached(ROOM, r), pipeline.recomputed(ROOM, r)) for r in rooms
                }
                out = (tmp_path / "worker.log").read_text()[-4000:]
                raise AssertionError(f"cache did not converge: {diff}\n{out}")
            time.sleep(0.2)  # polling a condition with a deadline
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_new_slot_clears_a_cache_that_may_have_missed_changes(pipeline, settings):
    room = Room.objects.create(name="r")
    pipeline.heat(ROOM, room.pk)
    assert pipeline.worker.cache.hot_anchors()
    pipeline.replicator.close()
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)  # e.g. a lost slot
    Message.objects.create(room=room, text="committed while no slot existed")
    pipeline.restart()
    assert pipeline.worker.cache.hot_anchors() == []
    assert pipeline.cached(ROOM, room.pk) == {}


def test_a_worker_waiting_out_an_outage_stops_when_told(rx_settings, settings, file_mongo):
    """SIGTERM (``Replicator.stop``) while MongoDB is down ends the run within moments; the
    transaction it was applying is not acknowledged (it kept retrying until MongoDB was back)."""
    settings.RX_MONGO_URL = file_mongo.url
    room = Room.objects.create(name="r")
    live = LiveWorker()
    try:
        heater = live.worker.heater
        heater.request(HeatRequest(ROOM, room.pk, "test.nobody!x"), ttl=3600)
        wait_until(lambda: live.worker.cache.is_hot(ROOM, room.pk), "the room is hot", 20)
        file_mongo.stop()
        Message.objects.create(room=room, text="while MongoDB is down")
        wait_until(lambda: live.worker.outages > 0, "the worker waits for MongoDB", 20)
        confirmed = slot_status(conf.replication_dsn(), settings.RX_SLOT_NAME)
        live.stop()
        assert not live.thread.is_alive(), "the worker kept retrying after it was stopped"
        after = slot_status(conf.replication_dsn(), settings.RX_SLOT_NAME)
        assert after.confirmed_flush_lsn == confirmed.confirmed_flush_lsn
    finally:
        live.stop()
        file_mongo.start()

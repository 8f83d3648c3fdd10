"""The local services are real, usable, and leave nothing behind."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import psycopg2
import pytest
import redis
from django.conf import settings
from django.db import connection

from rxcdc.testing.services import LocalServices, ServiceError


def test_postgres_runs_with_logical_wal_level(pg_dsn):
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)


def test_wal2json_slot_yields_a_change_for_an_insert(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        conn.execute("SELECT pg_create_logical_replication_slot('s', 'wal2json')")
        conn.execute("INSERT INTO t VALUES (1, 'one')")
        rows = conn.execute(
            "SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL, 'format-version', '2')"
        ).fetchall()
    changes = [json.loads(data) for (data,) in rows]
    inserts = [c for c in changes if c["action"] == "I"]
    assert inserts == [
        {
            "action": "I",
            "schema": "public",
            "table": "t",
            "columns": [
                {"name": "id", "type": "integer", "value": 1},
                {"name": "name", "type": "text", "value": "one"},
            ],
        }
    ]


def test_psycopg2_can_open_a_replication_connection(pg_dsn):
    from psycopg2.extras import LogicalReplicationConnection

    conn = psycopg2.connect(pg_dsn, connection_factory=LogicalReplicationConnection)
    try:
        cur = conn.cursor()
        cur.execute("IDENTIFY_SYSTEM")
        _systemid, timeline, _xlogpos, dbname = cur.fetchone()
        assert dbname == pg_dsn.rsplit("dbname=", 1)[1]
        assert timeline == 1
    finally:
        conn.close()


def test_redis_answers(redis_url):
    client = redis.Redis.from_url(redis_url)
    assert client.ping() is True
    client.set("k", "v")
    assert client.get("k") == b"v"


def test_pymongo_round_trips_a_document(mongo_db):
    mongo_db.things.insert_one({"_id": "a:1", "n": 1, "tags": ["x"]})
    assert mongo_db.things.find_one({"_id": "a:1"}) == {"_id": "a:1", "n": 1, "tags": ["x"]}


def test_mongo_databases_are_isolated(mongo_db):
    other = mongo_db.client[mongo_db.name + "_other"]
    try:
        other.things.insert_one({"_id": "a:1", "n": 2})
        assert mongo_db.list_collection_names() == []
        mongo_db.things.insert_one({"_id": "a:1", "n": 1})
        assert other.things.find_one({"_id": "a:1"})["n"] == 2
    finally:
        mongo_db.client.drop_database(other.name)


@pytest.mark.django_db
def test_django_settings_reach_all_three_services():
    with connection.cursor() as cur:
        cur.execute("SHOW wal_level")
        assert cur.fetchone() == ("logical",)
    assert connection.vendor == "postgresql"
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert redis.Redis.from_url(host).ping() is True
    import pymongo

    client = pymongo.MongoClient(settings.MONGO_URL)
    assert client.admin.command("ping")["ok"] == 1
    client.close()


async def test_channel_layer_delivers_through_redis():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "hello", "n": 1})
    assert await layer.receive(channel) == {"type": "hello", "n": 1}
    await layer.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)  # polling the PIDs with a deadline
    return [p for p in pids if _alive(p)]


CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    # A shell that starts us in the background ignores SIGINT; Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from rxcdc.testing.services import LocalServices
    s = LocalServices().start()
    print(" ".join(map(str, s.pids())), s.root, flush=True)
    mode = sys.argv[1]
    if mode == "exit":
        s.stop()
    else:
        time.sleep(600)  # killed by the test
    """
)


def _start_child(mode: str) -> tuple[subprocess.Popen[str], list[int], Path]:
    env = {k: v for k, v in os.environ.items() if k != "MONGO_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    *pids, root = proc.stdout.readline().split()
    pids_int = [int(p) for p in pids]
    assert len(pids_int) == 3
    assert all(_alive(p) for p in pids_int)
    return proc, pids_int, Path(root)


@pytest.mark.parametrize(
    ("mode", "sig"),
    [("exit", None), ("wait", signal.SIGTERM), ("wait", signal.SIGINT), ("wait", signal.SIGKILL)],
)
def test_services_leave_no_process_behind(mode, sig):
    proc, pids, root = _start_child(mode)
    try:
        if sig is not None:
            proc.send_signal(sig)
        proc.wait(30)
    finally:
        proc.kill()  # no-op when it exited; otherwise its servers die with it
    assert _wait_gone(pids) == []
    if sig != signal.SIGKILL:
        assert not root.exists()


def test_missing_redis_binary_is_one_actionable_line(tmp_path):
    # A PATH without redis-server, but with the interpreter's own dir.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    env.pop("MONGO_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "rxcdc.testing"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines == [
        "rxcdc: redis-server not found on PATH: apt-get install redis-server (or `make setup`)"
    ]


def test_missing_wal2json_names_the_package(tmp_path, monkeypatch):
    fake = tmp_path / "99" / "bin"
    fake.mkdir(parents=True)
    (fake / "postgres").touch()
    monkeypatch.setenv("RXCDC_PG_BINDIR", str(fake))
    services = LocalServices(root=tmp_path / "run")
    with pytest.raises(ServiceError, match=r"apt-get install postgresql-99-wal2json"):
        services.start()

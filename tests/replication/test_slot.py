"""Slot lifecycle and status, and every refusal before streaming, each with what to do."""

import psycopg
import psycopg2
import pytest
from psycopg2.extras import LogicalReplicationConnection

from replication import (
    ConfigurationError,
    ReplicationStream,
    SlotInUse,
    SlotLost,
    drop_slot,
    ensure_slot,
    parse_lsn,
    preflight,
    slot_status,
)
from rxcdc.testing.waiting import wait_until


def test_ensure_slot_creates_a_wal2json_slot_once_and_drop_slot_removes_it(pg_dsn, db):
    assert slot_status(pg_dsn, "s1").exists is False
    assert ensure_slot(pg_dsn, "s1") is True
    assert ensure_slot(pg_dsn, "s1") is False
    status = slot_status(pg_dsn, "s1")
    assert (status.exists, status.plugin, status.database, status.active) == (
        True,
        "wal2json",
        db.info.dbname,
        False,
    )
    assert status.wal_status == "reserved"
    assert status.confirmed_flush_lsn is not None
    assert status.restart_lsn is not None
    assert drop_slot(pg_dsn, "s1") is True
    assert drop_slot(pg_dsn, "s1") is False
    assert slot_status(pg_dsn, "s1").exists is False


def test_slot_status_reports_lag_and_retained_wal(pg_dsn, db, slot):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text)")
    db.execute("INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 1000) i")
    current = parse_lsn(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
    status = slot_status(pg_dsn, slot)
    assert status.lag_bytes >= current - status.confirmed_flush_lsn > 0
    assert status.retained_bytes >= status.lag_bytes
    assert status.safe_wal_size is None  # max_slot_wal_keep_size = -1 on the test cluster


def test_invalid_slot_names_are_refused(pg_dsn):
    with pytest.raises(ConfigurationError, match="lower-case letters, digits and underscores"):
        ensure_slot(pg_dsn, "Bad-Name")


def test_preflight_accepts_a_ready_server_with_or_without_the_slot(pg_dsn, slot):
    preflight(pg_dsn, "not_created_yet")
    preflight(pg_dsn, slot)
    assert not any(s.startswith("rx_preflight") for (s,) in _slots(pg_dsn)), (
        "the probe slot was left behind"
    )


def _slots(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall()


def test_preflight_refuses_wal_level_below_logical(start_cluster):
    server = start_cluster(wal_level="replica")
    with pytest.raises(ConfigurationError, match=r"wal_level = replica.*= logical.*restart"):
        preflight(server.dsn(), "s")


def test_preflight_and_the_stream_refuse_a_role_without_replication(pg_dsn, db, slot):
    role = f"norep_{db.info.dbname}"
    db.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        dsn = pg_dsn.replace("user=postgres", f"user={role}")
        with pytest.raises(ConfigurationError, match=f'ALTER ROLE "{role}" REPLICATION'):
            preflight(dsn, slot)
        stream = ReplicationStream(dsn, slot, ["t"])
        with pytest.raises(ConfigurationError, match=f'ALTER ROLE "{role}" REPLICATION'):
            next(iter(stream))
        stream.close()
        db.execute(f'ALTER ROLE "{role}" REPLICATION')
        preflight(dsn, slot)
    finally:
        db.execute(f'DROP ROLE "{role}"')


def test_preflight_and_the_stream_refuse_a_slot_in_use_by_another_process(pg_dsn, slot):
    holder = psycopg2.connect(pg_dsn, connection_factory=LogicalReplicationConnection)
    try:
        holder.cursor().start_replication(slot_name=slot, options={"format-version": "2"})
        pid = wait_until(lambda: slot_status(pg_dsn, slot).active_pid)
        with pytest.raises(SlotInUse, match=rf"in use by PID {pid}.*pg_terminate_backend") as exc:
            preflight(pg_dsn, slot)
        assert exc.value.pid == pid
        stream = ReplicationStream(pg_dsn, slot, ["t"], slot_busy_timeout=0.2)
        with pytest.raises(SlotInUse, match=f"PID {pid}"):
            next(iter(stream))
        stream.close()
        with pytest.raises(SlotInUse):
            drop_slot(pg_dsn, slot)
    finally:
        holder.close()


def test_preflight_and_the_stream_refuse_a_lost_slot(start_cluster):
    server = start_cluster(max_slot_wal_keep_size="1MB")
    dsn = server.dsn()
    ensure_slot(dsn, "lost")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler (x text)")
        for _ in range(3):  # well past 1MB of WAL the slot has not confirmed
            conn.execute("INSERT INTO filler SELECT md5(i::text) FROM generate_series(1, 20000) i")
            conn.execute("SELECT pg_switch_wal()")
        conn.execute("CHECKPOINT")  # slots are invalidated at checkpoints
    assert slot_status(dsn, "lost").wal_status == "lost"
    with pytest.raises(SlotLost, match=r"resynchronise.*max_slot_wal_keep_size"):
        preflight(dsn, "lost")
    stream = ReplicationStream(dsn, "lost", ["filler"])
    with pytest.raises(SlotLost, match="drop the slot"):
        next(iter(stream))
    stream.close()


def test_preflight_and_the_stream_refuse_when_wal2json_is_not_installed(pg_dsn, db, slot):
    # Output plugins are found through dynamic_library_path: point it at an empty place.
    db.execute(f"ALTER DATABASE \"{db.info.dbname}\" SET dynamic_library_path = '/nonexistent'")
    with pytest.raises(ConfigurationError, match="apt-get install postgresql-15-wal2json"):
        preflight(pg_dsn, "not_created_yet")
    stream = ReplicationStream(pg_dsn, slot, ["t"])
    with pytest.raises(ConfigurationError, match="wal2json output plugin is not installed"):
        next(iter(stream))
    stream.close()


def test_preflight_refuses_a_slot_of_another_plugin(pg_dsn, db):
    db.execute("SELECT pg_create_logical_replication_slot('other', 'test_decoding')")
    with pytest.raises(ConfigurationError, match="uses output plugin 'test_decoding'"):
        preflight(pg_dsn, "other")


def test_a_wrong_database_is_a_configuration_error(services):
    with pytest.raises(ConfigurationError, match="does not exist"):
        preflight(services.postgres.dsn("no_such_database"), "s")

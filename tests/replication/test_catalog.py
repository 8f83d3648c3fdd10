"""User-defined types and partitioned tables: resolved through the catalog, on first sight."""

from decimal import Decimal

from replication import Delete, Insert, Truncate, Update

from .helpers import receive, transactions


def changes_of(got):
    return [c for _, changes in got.complete for c in changes]


def test_domain_values_arrive_as_their_base_type(db, open_stream):
    db.execute(
        """
        CREATE DOMAIN d_int AS integer; CREATE DOMAIN d_deep AS d_int;
        CREATE DOMAIN d_num AS numeric; CREATE DOMAIN d_flag AS boolean;
        CREATE DOMAIN d_bytes AS bytea; CREATE DOMAIN d_doc AS jsonb;
        CREATE TABLE t (id d_int PRIMARY KEY, deep d_deep, n d_num, b d_flag, by d_bytes,
                        j d_doc, ids d_int[], n2 d_num[])
        """
    )
    stream = open_stream()
    db.execute(
        "INSERT INTO t VALUES (1, 2, 12345678901234567890.5, true, '\\x00ff', '{\"a\": 1}',"
        " '{3,NULL,4}', '{1.5}')"
    )
    db.execute("UPDATE t SET id = 7")
    db.execute("DELETE FROM t")
    insert, update, delete = changes_of(receive(stream, transactions(3)))
    assert isinstance(insert, Insert)
    assert insert.new == {
        "id": 1,
        "deep": 2,
        "n": Decimal("12345678901234567890.5"),
        "b": True,
        "by": b"\x00\xff",
        "j": {"a": 1},
        "ids": [3, None, 4],
        "n2": [Decimal("1.5")],
    }
    assert isinstance(update, Update)
    assert (update.new["id"], update.old) == (7, {"id": 1})
    assert isinstance(delete, Delete)
    assert delete.old == {"id": 7}


def test_enums_and_extension_types_stay_their_text(db, open_stream):
    db.execute(
        "CREATE TYPE mood AS ENUM ('ok', 'not ok'); CREATE EXTENSION IF NOT EXISTS citext;"
        " CREATE TABLE t (id int PRIMARY KEY, m mood, ms mood[], c citext)"
    )
    stream = open_stream()
    db.execute("INSERT INTO t VALUES (1, 'not ok', '{ok,\"not ok\"}', 'MiXed')")
    (insert,) = changes_of(receive(stream, transactions(1)))
    assert insert.new == {"id": 1, "m": "not ok", "ms": ["ok", "not ok"], "c": "MiXed"}


PARTITIONED = """
CREATE TABLE t (id bigint, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE t_low PARTITION OF t FOR VALUES FROM (0) TO (10);
CREATE TABLE t_mid PARTITION OF t FOR VALUES FROM (10) TO (20) PARTITION BY LIST (k);
CREATE TABLE t_mid_a PARTITION OF t_mid FOR VALUES IN (10, 11);
CREATE TABLE other (id int PRIMARY KEY);
"""


def test_rows_of_partitions_arrive_under_the_tracked_partitioned_table(db, open_stream):
    db.execute(PARTITIONED)
    stream = open_stream(("t",))
    db.execute("INSERT INTO t VALUES (1, 1, 'a'), (2, 10, 'b')")
    db.execute("INSERT INTO other VALUES (1)")  # untracked: never delivered
    db.execute("UPDATE t SET k = 11 WHERE id = 1")  # moves partitions: DELETE + INSERT
    db.execute("DELETE FROM t WHERE id = 2")
    got = receive(stream, transactions(3))
    first, moved, deleted = (changes for _, changes in got.complete)
    assert [(c.schema, c.table, c.new) for c in first] == [
        ("public", "t", {"id": 1, "k": 1, "v": "a"}),
        ("public", "t", {"id": 2, "k": 10, "v": "b"}),
    ]
    assert [(type(c), c.table) for c in moved] == [(Delete, "t"), (Insert, "t")]
    assert moved[0].old == {"id": 1, "k": 1}
    assert [(type(c), c.table, c.old) for c in deleted] == [(Delete, "t", {"id": 2, "k": 10})]


def test_partitions_created_or_attached_after_the_stream_started_are_streamed(db, open_stream):
    db.execute(PARTITIONED)
    stream = open_stream(("t",))
    db.execute("INSERT INTO t VALUES (1, 1, 'a')")
    receive(stream, transactions(1))  # the stream is running
    db.execute("CREATE TABLE t_high PARTITION OF t FOR VALUES FROM (100) TO (200)")
    db.execute("CREATE TABLE t_later (LIKE t)")
    db.execute("ALTER TABLE t ATTACH PARTITION t_later FOR VALUES FROM (200) TO (300)")
    db.execute("INSERT INTO t VALUES (2, 150, 'b'), (3, 250, 'c')")
    (changes,) = (c for _, c in receive(stream, transactions(1)).complete)
    assert [(c.table, c.new["id"]) for c in changes] == [("t", 2), ("t", 3)]


def test_a_table_seen_untracked_and_attached_later_is_streamed_after_forget_tables(db, open_stream):
    db.execute(PARTITIONED + "CREATE TABLE t_spare (LIKE t);")
    stream = open_stream(("t",))
    db.execute("INSERT INTO t_spare VALUES (9, 500, 'x')")  # untracked now
    db.execute("INSERT INTO t VALUES (1, 1, 'a')")
    receive(stream, transactions(1))
    db.execute("ALTER TABLE t ATTACH PARTITION t_spare FOR VALUES FROM (500) TO (600)")
    stream.forget_tables()  # what rx_cache clear does in the worker
    db.execute("INSERT INTO t VALUES (10, 501, 'y')")
    (changes,) = (c for _, c in receive(stream, transactions(1)).complete)
    assert [(c.table, c.new["id"]) for c in changes] == [("t", 10)]


def test_truncating_a_partitioned_table_truncates_it_under_its_own_name(db, open_stream):
    db.execute(PARTITIONED)
    stream = open_stream(("t",))
    db.execute("INSERT INTO t VALUES (1, 1, 'a')")
    db.execute("TRUNCATE t")
    got = receive(stream, transactions(2))
    truncates = got.complete[1][1]
    assert {(type(c), c.table) for c in truncates} == {(Truncate, "t")}


def test_a_tracked_partition_keeps_its_own_name(db, open_stream):
    db.execute(PARTITIONED)
    stream = open_stream(("t", "t_mid"))
    db.execute("INSERT INTO t VALUES (1, 1, 'a'), (2, 11, 'b')")
    (changes,) = (c for _, c in receive(stream, transactions(1)).complete)
    assert [(c.table, c.new["id"]) for c in changes] == [("t", 1), ("t_mid", 2)]

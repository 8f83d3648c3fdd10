"""Every change kind and every supported type arrives as the exact Python value."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from replication import Delete, Insert, Message, Truncate, Update

from .helpers import receive, transactions

TYPES_DDL = """
CREATE TABLE t (
    id int PRIMARY KEY, i2 int2, i8 int8, n numeric, n2 numeric(12, 2), f4 float4, f8 float8,
    b bool, tx text, vc varchar(10), bp char(3), nm name, u uuid, d date, tm time, tmz timetz,
    ts timestamp, tstz timestamptz, iv interval, j json, jb jsonb, by bytea,
    ai int[], at text[], an numeric[], aai int[][], ats timestamptz[], ab bytea[], ip inet
)
"""

ALL_TYPES_ROW = """
INSERT INTO t VALUES (
    1, -32768, 9223372036854775807, 12345678901234567890.123456789, 42, 0.1, 0.1,
    true, 'héllo "q" \\ ', 'vc', 'ab', 'nm', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '2024-02-29', '13:14:15.123456', '13:14:15+05:30', '2024-01-02 03:04:05.678901',
    '2024-01-02 03:04:05.678901+02', '1 year 2 months 3 days 04:05:06.789',
    '{"a": 1.5, "b": [null, "x"]}', '{"b": [1, 2.25]}', '\\x00ff10',
    '{1,NULL,3}', '{"a b","c\\"d",NULL,"NULL","x,y"}', '{1.10,-2}', '{{1,2},{3,4}}',
    '{"2024-01-02 03:04:05+00",infinity}', '{"\\\\x00ff",NULL}', '10.0.0.1/8'
)
"""

ALL_TYPES_VALUES = {
    "id": 1,
    "i2": -32768,
    "i8": 9223372036854775807,
    "n": Decimal("12345678901234567890.123456789"),
    "n2": Decimal("42.00"),
    "f4": 0.1,
    "f8": 0.1,
    "b": True,
    "tx": 'héllo "q" \\ ',
    "vc": "vc",
    "bp": "ab ",
    "nm": "nm",
    "u": UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    "d": date(2024, 2, 29),
    "tm": time(13, 14, 15, 123456),
    "tmz": time(13, 14, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    "ts": datetime(2024, 1, 2, 3, 4, 5, 678901),
    "tstz": datetime(2024, 1, 2, 1, 4, 5, 678901, tzinfo=UTC),
    "iv": timedelta(days=365 + 2 * 30 + 3, hours=4, minutes=5, seconds=6, microseconds=789000),
    "j": {"a": 1.5, "b": [None, "x"]},
    "jb": {"b": [1, 2.25]},
    "by": b"\x00\xff\x10",
    "ai": [1, None, 3],
    "at": ["a b", 'c"d', None, "NULL", "x,y"],
    "an": [Decimal("1.10"), Decimal("-2")],
    "aai": [[1, 2], [3, 4]],
    "ats": [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)],
    "ab": [b"\x00\xff", None],
    "ip": "10.0.0.1/8",  # no converter: the Postgres text
}


def only_change(got):
    (_, changes), *_ = got.complete
    assert len(changes) == 1
    return changes[0]


def test_every_type_decodes_to_the_exact_python_value(db, open_stream):
    db.execute(TYPES_DDL)
    stream = open_stream()
    db.execute(ALL_TYPES_ROW)
    change = only_change(receive(stream, transactions(1)))
    assert isinstance(change, Insert)
    assert change.new == ALL_TYPES_VALUES
    for name, value in ALL_TYPES_VALUES.items():
        assert type(change.new[name]) is type(value), name
    assert change.new["tstz"].tzinfo is UTC


def test_values_do_not_depend_on_the_database_session_settings(db, pg_dsn, open_stream):
    # The walsender renders values with its session's settings; the stream pins them, so
    # hostile database defaults must change nothing.
    dbname = db.info.dbname
    for setting, value in [
        ("DateStyle", "SQL, DMY"),
        ("TimeZone", "Asia/Kolkata"),
        ("IntervalStyle", "postgres_verbose"),
        ("bytea_output", "escape"),
        ("extra_float_digits", "0"),
    ]:
        db.execute(f"ALTER DATABASE \"{dbname}\" SET {setting} = '{value}'")
    db.execute(TYPES_DDL)
    stream = open_stream()
    db.execute(ALL_TYPES_ROW)
    assert only_change(receive(stream, transactions(1))).new == ALL_TYPES_VALUES


def test_nan_and_infinity_arrive_as_none_a_wal2json_2_5_limitation(db, open_stream):
    # wal2json 2.5 writes NaN/Infinity numbers as JSON null and has no option to keep them.
    db.execute("CREATE TABLE t (id int PRIMARY KEY, n numeric, f4 float4, f8 float8)")
    stream = open_stream()
    db.execute("INSERT INTO t VALUES (1, 'NaN', 'Infinity', '-Infinity')")
    assert only_change(receive(stream, transactions(1))).new == {
        "id": 1,
        "n": None,
        "f4": None,
        "f8": None,
    }


def test_infinite_and_unrepresentable_dates_and_times(db, open_stream):
    db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, tm time)"
    )
    stream = open_stream()
    db.execute(
        "INSERT INTO t VALUES (1, 'infinity', '-infinity', 'infinity', '24:00'),"
        " (2, '0044-03-15 BC', '0044-03-15 12:00 BC', '-infinity', '00:00')"
    )
    (_, changes), *_ = receive(stream, transactions(1)).complete
    assert [c.new for c in changes] == [
        {
            "id": 1,
            "d": date.max,
            "ts": datetime.min,
            "tstz": datetime.max.replace(tzinfo=UTC),
            "tm": "24:00:00",
        },
        {
            "id": 2,
            "d": "0044-03-15 BC",
            "ts": "0044-03-15 12:00:00 BC",
            "tstz": datetime.min.replace(tzinfo=UTC),
            "tm": time(0),
        },
    ]


def test_every_change_kind_arrives_in_wal_order_within_its_transaction(db, open_stream):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text)")
    db.execute("CREATE TABLE u (id int PRIMARY KEY)")
    stream = open_stream(tables=["t", "u"], message_prefixes=["app"])
    with db.transaction():
        db.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
        db.execute("UPDATE t SET a = 'uno' WHERE id = 1")
        db.execute("DELETE FROM t WHERE id = 2")
        db.execute("SELECT pg_logical_emit_message(true, 'app', 'hello')")
        db.execute("INSERT INTO u VALUES (7)")
        db.execute("TRUNCATE t, u")
    (txn, changes), *_ = receive(stream, transactions(1)).complete
    lsn = [c.lsn for c in changes]
    assert [(type(c), c.lsn) for c in changes] == [
        (Insert, lsn[0]),
        (Insert, lsn[1]),
        (Update, lsn[2]),
        (Delete, lsn[3]),
        (Message, lsn[4]),
        (Insert, lsn[5]),
        (Truncate, lsn[6]),
        (Truncate, lsn[7]),
    ]
    assert lsn[:7] == sorted(lsn[:7])
    assert lsn[-1] == lsn[-2]  # one TRUNCATE record, reported once per table
    assert all(c.lsn < txn.commit_lsn for c in changes)
    assert changes[0] == Insert("public", "t", {"id": 1, "a": "one"}, lsn[0])
    assert changes[2] == Update("public", "t", {"id": 1, "a": "uno"}, {"id": 1}, lsn[2])
    assert changes[3] == Delete("public", "t", {"id": 2}, lsn[3])
    assert changes[4] == Message("app", "hello", lsn[4])
    assert changes[5] == Insert("public", "u", {"id": 7}, lsn[5])
    assert {(c.schema, c.table) for c in changes[6:]} == {("public", "t"), ("public", "u")}


def test_replica_identity_default_gives_the_key_full_gives_every_old_column(db, open_stream):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text, fk int)")
    db.execute("CREATE TABLE f (id int PRIMARY KEY, a text, fk int)")
    db.execute("ALTER TABLE f REPLICA IDENTITY FULL")
    stream = open_stream(tables=["t", "f"])
    for table in ("t", "f"):
        db.execute(f"INSERT INTO {table} VALUES (1, 'x', 10), (2, 'y', 20)")
        db.execute(f"UPDATE {table} SET fk = 11 WHERE id = 1")  # key unchanged
        db.execute(f"UPDATE {table} SET id = 3 WHERE id = 2")  # key changed
        db.execute(f"DELETE FROM {table} WHERE id = 1")
    got = receive(stream, transactions(8))
    olds = [(c.table, c.old) for _, (c, *_) in got.complete if isinstance(c, Update | Delete)]
    assert olds == [
        # DEFAULT: the key only (from the new row when it did not change); no old fk.
        ("t", {"id": 1}),
        ("t", {"id": 2}),
        ("t", {"id": 1}),
        # FULL: every old column.
        ("f", {"id": 1, "a": "x", "fk": 10}),
        ("f", {"id": 2, "a": "y", "fk": 20}),
        ("f", {"id": 1, "a": "x", "fk": 11}),
    ]


# md5 hex is incompressible enough to be stored out of line (repeat('x', ...) compresses inline
# and is never TOASTed externally, so it would not test anything).
BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3200) i)"


@pytest.mark.parametrize("identity", ["DEFAULT", "FULL"])
def test_an_unchanged_toasted_column_is_absent_not_none(db, open_stream, identity):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a text, big text, nothing text)")
    db.execute(f"ALTER TABLE t REPLICA IDENTITY {identity}")
    db.execute(f"INSERT INTO t VALUES (1, 'x', {BIG}, NULL)")
    big = db.execute("SELECT big FROM t").fetchone()[0]
    assert len(big) == 102400
    stream = open_stream()
    db.execute("UPDATE t SET a = 'y'")
    (_, [insert]), (_, [update]) = receive(stream, transactions(2)).complete
    assert insert.new["big"] == big
    assert update.new == {"id": 1, "a": "y", "nothing": None}  # big: absent; NULL: None
    if identity == "FULL":  # the server detoasts the old row
        assert update.old == {"id": 1, "a": "x", "big": big, "nothing": None}
    db.execute("UPDATE t SET big = 'small'")
    assert only_change(receive(stream, transactions(1))).new["big"] == "small"


def test_changes_to_untracked_tables_never_reach_the_caller(db, open_stream):
    db.execute('CREATE SCHEMA "we ird"')
    db.execute('CREATE TABLE "we ird"."a.b,c*" (id int PRIMARY KEY)')
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("CREATE TABLE untracked (id int PRIMARY KEY)")
    db.execute('CREATE TABLE "we ird".t (id int PRIMARY KEY)')  # same name, other schema
    stream = open_stream(tables=["public.t", ("we ird", "a.b,c*")])
    with db.transaction():
        db.execute("INSERT INTO untracked VALUES (1)")
        db.execute('INSERT INTO "we ird".t VALUES (1)')
        db.execute("INSERT INTO t VALUES (1)")
        db.execute('INSERT INTO "we ird"."a.b,c*" VALUES (2)')
    db.execute("INSERT INTO untracked VALUES (2)")  # a whole transaction of untracked changes
    db.execute("INSERT INTO t VALUES (3)")
    got = receive(stream, transactions(2))
    assert [[(c.schema, c.table, c.new) for c in changes] for _, changes in got.complete] == [
        [("public", "t", {"id": 1}), ("we ird", "a.b,c*", {"id": 2})],
        [("public", "t", {"id": 3})],
    ]


def test_only_transactional_messages_with_listed_prefixes_arrive(db, open_stream):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    stream = open_stream(message_prefixes=["app"])
    db.execute("SELECT pg_logical_emit_message(true, 'other', 'no')")
    db.execute("SELECT pg_logical_emit_message(false, 'app', 'not in a transaction')")
    db.execute("SELECT pg_logical_emit_message(true, 'app', 'yes')")
    (_, changes), *_ = receive(stream, transactions(1)).complete
    assert [(c.prefix, c.content) for c in changes if isinstance(c, Message)] == [("app", "yes")]


def test_without_a_table_list_every_table_is_streamed(db, open_stream):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("CREATE TABLE u (id int PRIMARY KEY)")
    stream = open_stream(tables=None)
    with db.transaction():
        db.execute("INSERT INTO t VALUES (1)")
        db.execute("INSERT INTO u VALUES (2)")
    (_, changes), *_ = receive(stream, transactions(1)).complete
    assert [(c.table, c.new) for c in changes] == [("t", {"id": 1}), ("u", {"id": 2})]


def test_a_table_without_primary_key_or_full_identity_loses_its_updates_and_deletes(
    db, open_stream
):
    # wal2json skips them with a server WARNING ("no tuple identifier"): refuse such tables.
    db.execute("CREATE TABLE t (a int, b text)")
    stream = open_stream()
    db.execute("INSERT INTO t VALUES (1, 'x')")
    db.execute("UPDATE t SET b = 'y'")
    db.execute("DELETE FROM t")
    db.execute("INSERT INTO t VALUES (2, 'z')")
    got = receive(stream, transactions(2))
    assert [[type(c) for c in changes] for _, changes in got.complete] == [[Insert], [Insert]]


def test_replica_identity_using_index_gives_the_index_columns_only(db, open_stream):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, code text NOT NULL UNIQUE, v text)")
    db.execute("ALTER TABLE t REPLICA IDENTITY USING INDEX t_code_key")
    stream = open_stream(tables=["t"])
    db.execute("INSERT INTO t VALUES (1, 'a', 'x')")
    db.execute("UPDATE t SET v = 'y'")  # identity unchanged: taken from the new row
    db.execute("UPDATE t SET code = 'b'")  # identity changed: its old value
    db.execute("UPDATE t SET id = 2")  # the key changes, the identity does not: no old key
    db.execute("DELETE FROM t")
    got = receive(stream, transactions(5))
    olds = [c.old for _, (c, *_) in got.complete if isinstance(c, Update | Delete)]
    assert olds == [{"code": "a"}, {"code": "a"}, {"code": "b"}, {"code": "b"}]


WIDE = "9999999999999999999999999999999999999999.99999999999999999999"


def test_numerics_past_64_bits_and_float_precision_arrive_exact(db, open_stream):
    # wal2json writes numerics as bare JSON numbers: none may pass through a float or an int64.
    db.execute("CREATE TABLE t (id int PRIMARY KEY, n numeric, an numeric[], i8 int8, f8 float8)")
    stream = open_stream()
    db.execute(
        "INSERT INTO t VALUES"
        " (1, 123456789012345678901234567890, '{-98765432109876543210987654321,0.1}',"
        "  -9223372036854775808, 5e-324),"
        " (2, -0.000000000000000000000000000001, '{}', 9223372036854775807,"
        "  1.7976931348623157e308),"
        f" (3, {WIDE}, NULL, 0, -0)"
    )
    (_, changes), *_ = receive(stream, transactions(1)).complete
    assert [c.new for c in changes] == [
        {
            "id": 1,
            "n": Decimal("123456789012345678901234567890"),
            "an": [Decimal("-98765432109876543210987654321"), Decimal("0.1")],
            "i8": -9223372036854775808,
            "f8": 5e-324,
        },
        {
            "id": 2,
            "n": Decimal("-0.000000000000000000000000000001"),
            "an": [],
            "i8": 9223372036854775807,
            "f8": 1.7976931348623157e308,
        },
        {
            "id": 3,
            "n": Decimal(WIDE),
            "an": None,
            "i8": 0,
            "f8": -0.0,
        },
    ]
    # Equal is not enough: Decimal("0.1") == 0.1 is False, but 1 == Decimal(1) is True.
    assert all(type(c.new["n"]) is Decimal for c in changes)
    assert str(changes[2].new["n"]) == WIDE


def test_unicode_names_and_values_arrive_intact(db, open_stream):
    # Non-ASCII and astral-plane characters in the table name (listed in add-tables), the
    # column name and the value; JSON escapes (control characters, quotes, backslashes) too.
    db.execute('CREATE TABLE "tëst 😀" (id int PRIMARY KEY, "nämé ✓" text)')
    stream = open_stream(tables=["tëst 😀"])
    value = 'a\x01b\n😀\t"q"\\ Ω\u2028'
    db.execute('INSERT INTO "tëst 😀" VALUES (1, %s)', (value,))
    change = only_change(receive(stream, transactions(1)))
    assert (change.table, change.new) == ("tëst 😀", {"id": 1, "nämé ✓": value})

"""rxcdc.together: statements queued in order go to Postgres in one round trip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connection
from django.test.utils import CaptureQueriesContext

from rxcdc.together import current, together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server_side_binding() -> Iterator[None]:
    """The default connection reopened with psycopg's server-side binding (no multi-statement)."""
    options = connection.settings_dict["OPTIONS"]
    connection.close()
    options["server_side_binding"] = True
    try:
        yield
    finally:
        connection.close()
        del options["server_side_binding"]


def _queue_three() -> tuple[list[list[tuple[int, ...]]], int]:
    with together(DEFAULT_DB_ALIAS) as batch:
        assert current(DEFAULT_DB_ALIAS) is batch
        first = batch.add("SELECT %s::int", [1])
        second = batch.add("SELECT x FROM generate_series(1, %s) x", [3])
        third = batch.add("SELECT %s::int WHERE false", [0])
        rows = [second(), first(), third()]  # fetched in any order, each its own
    assert current(DEFAULT_DB_ALIAS) is None
    return rows, batch.round_trips


def test_statements_queued_together_are_sent_in_one_query_and_answered_each():
    with CaptureQueriesContext(connection) as queries:
        rows, round_trips = _queue_three()
    assert rows == [[(1,), (2,), (3,)], [(1,)], []]
    assert round_trips == 1 and len(queries) == 1
    assert queries[0]["sql"].count("; ") == 2


def test_with_server_side_binding_they_run_one_after_the_other_in_order(server_side_binding):
    with CaptureQueriesContext(connection) as queries:
        rows, round_trips = _queue_three()
    assert rows == [[(1,), (2,), (3,)], [(1,)], []]
    assert round_trips == 1 and len(queries) == 3
    assert "generate_series" in queries[1]["sql"]


def test_a_statement_queued_after_the_batch_was_sent_goes_in_the_next_round():
    with together(DEFAULT_DB_ALIAS) as batch:
        first = batch.add("SELECT %s::int", [1])
        assert first() == [(1,)]
        second = batch.add("SELECT %s::int", [2])
        assert second() == [(2,)] and first() == [(1,)]
    assert batch.round_trips == 2


def test_a_failing_statement_raises_djangos_error_and_drops_the_rest():
    with together(DEFAULT_DB_ALIAS) as batch:
        batch.add("SELECT %s::int", [1])
        failing = batch.add("SELECT * FROM no_such_table WHERE id = %s", [1])
        with pytest.raises(ProgrammingError):
            failing()
        assert batch.queued == []
    with connection.cursor() as cur:  # the session is usable afterwards
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_a_block_inside_one_for_the_same_alias_joins_its_batch_after_what_it_queued():
    with together(DEFAULT_DB_ALIAS) as outer:
        check = outer.add("SELECT %s::int", [1])
        with together(DEFAULT_DB_ALIAS) as inner:
            assert inner is outer and current(DEFAULT_DB_ALIAS) is outer
            read = inner.add("SELECT %s::int", [2])
        assert current(DEFAULT_DB_ALIAS) is outer
        assert read() == [(2,)] and check() == [(1,)]
    assert outer.round_trips == 1 and current(DEFAULT_DB_ALIAS) is None


def test_a_block_for_another_alias_leaves_this_alias_batch_open():
    # (load_rows opens one for a layer whose manager reads another database: the visibility
    # check queued on this alias must still run before this alias's reads inside it)
    with together(DEFAULT_DB_ALIAS) as outer:
        with together("elsewhere") as other:
            assert current(DEFAULT_DB_ALIAS) is outer and current("elsewhere") is other
        assert current("elsewhere") is None and current(DEFAULT_DB_ALIAS) is outer
    assert current(DEFAULT_DB_ALIAS) is None

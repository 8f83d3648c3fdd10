"""The database checks belong to the worker and to ``check --deploy``, and never wait."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.core import checks
from django.db import connection

from rxcdc.checks import check_database


def _ids(messages: list[checks.CheckMessage]) -> set[str]:
    return {m.id for m in messages if m.id and m.id.startswith("rxcdc")}


def test_database_checks_run_with_deploy_not_with_every_command(settings, transactional_db):
    slot = f"rx_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cur:  # a slot of another plugin: the preflight refuses it
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", [slot])
    settings.RX_SLOT_NAME = slot
    try:
        assert "rxcdc.E001" not in _ids(checks.run_checks())  # migrate, runserver, test
        assert "rxcdc.E001" in _ids(checks.run_checks(include_deployment_checks=True))
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot(%s)", [slot])


def test_a_frontend_dir_may_be_a_path(settings, tmp_path):
    from rxcdc.conf import rx_settings

    settings.RX_FRONTEND_DIR = tmp_path  # as settings.py builds it from BASE_DIR
    assert not [m for m in checks.run_checks() if m.id == "rxcdc.E010"]
    assert str(tmp_path) == rx_settings.FRONTEND_DIR


def test_a_setting_of_the_wrong_kind_is_named_by_the_check(settings):
    settings.RX_SLOT_NAME = "Bad-Name"  # Postgres would refuse it as a slot name
    settings.RX_RESYNC_INTERVAL = "30"  # a string, not seconds
    found = {m.msg: m.id for m in checks.run_checks() if m.id and m.id.startswith("rxcdc")}
    assert found == {
        "RX_SLOT_NAME must be 1-63 lower-case letters, digits or underscores (a slot name), "
        "not 'Bad-Name'": "rxcdc.E010",
        "RX_RESYNC_INTERVAL must be a positive number of seconds, not '30'": "rxcdc.E010",
    }


def test_the_database_check_does_not_wait_for_open_transactions(settings, transactional_db):
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"  # no slot yet: wal2json is probed
    params = connection.get_connection_params()
    dsn = f"host={params['host']} port={params['port']} dbname={params['dbname']} user=postgres"
    result: list[list[checks.CheckMessage]] = []
    with psycopg.connect(dsn) as other:
        # A transaction with an xid: creating any logical slot waits until it ends.
        other.execute("CREATE TEMPORARY TABLE held (x int)")
        probe = threading.Thread(target=lambda: result.append(check_database()), daemon=True)
        probe.start()
        probe.join(timeout=20)  # a deadline: the check gives up after 2 s, not at our commit
        finished = not probe.is_alive()
        other.rollback()
    probe.join(timeout=20)
    assert finished, "the check waited for another session's transaction"
    assert "rxcdc.W005" in _ids(result[0])


def test_a_project_with_only_redis_url_gets_the_recommended_channel_layer(settings):
    from rxcdc.checks import check_settings
    from rxcdc.conf import ensure_channel_layers

    settings.REDIS_URL = "redis://example.invalid:6379/3"
    del settings.CHANNEL_LAYERS  # the seeds' settings name REDIS_URL, no channel layer
    ensure_channel_layers()  # (what RxcdcConfig.ready does)
    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layer["CONFIG"]["hosts"] == ["redis://example.invalid:6379/3"]
    assert not [e for e in check_settings() if e.id in ("rxcdc.E012", "rxcdc.E013")]


# -- hook signatures against the routes' URL arguments (rxcdc.E021) ---------------------------


@pytest.fixture
def declared() -> Iterator[list[type]]:
    """Channels a test declares in the test app; forgotten afterwards."""
    from rxcdc.channels import _registry

    made: list[type] = []
    yield made
    for cls in made:
        _registry.pop(f"{cls.__module__}.{cls.__qualname__}", None)


def _hook_errors(label: str) -> list[str]:
    from rxcdc.checks import check_hooks

    return [m.msg for m in check_hooks() if m.id == "rxcdc.E021" and label in m.msg]


def test_hooks_that_cannot_take_the_routes_url_arguments_fail_the_check(declared):
    from rxcdc.channels import StateChannel
    from tests.testapp.serializers import RoomSerializer

    class KeywordMismatch(StateChannel):
        __module__ = "tests.testapp.channels"  # an installed app: all_channels() lists it

        class Meta:
            anchor = RoomSerializer()
            route = "ws/mismatch/<int:room>/<str:tab>/"

        def has_permission(self, user, room, page):  # `tab` arrives, `page` never does
            return True

    class AsyncPermission(StateChannel):
        __module__ = "tests.testapp.channels"

        class Meta:
            anchor = RoomSerializer()
            route = "ws/async/<int:room>/"

        async def has_permission(self, user, **kwargs):  # a coroutine: always truthy
            return False

    declared += [KeywordMismatch, AsyncPermission]
    mismatch = _hook_errors("testapp.KeywordMismatch")
    assert any("has_permission(user, room, page)" in m and "tab" in m for m in mismatch), mismatch
    # two URL arguments and the default get_anchor, which takes the only one
    assert any("override get_anchor(self, room, tab)" in m for m in mismatch), mismatch
    assert any("async" in m for m in _hook_errors("testapp.AsyncPermission"))


def test_has_permission_with_an_anchor_parameter_passes_the_check_and_gets_the_row(declared, db):
    from rxcdc.channels import StateChannel
    from tests.testapp.models import Room
    from tests.testapp.serializers import RoomSerializer

    class RoomByRow(StateChannel):  # the seeds' quickstart: has_permission(self, user, chat_room)
        __module__ = "tests.testapp.channels"

        class Meta:
            anchor = RoomSerializer()
            route = "ws/byrow/<str:room_name>/"

        def has_permission(self, user, chat_room):
            return chat_room.name == "open"

    declared.append(RoomByRow)
    assert _hook_errors("testapp.RoomByRow") == []
    channel = RoomByRow()
    channel.url_kwargs = {"room_name": str(Room.objects.create(name="open").pk)}
    assert channel.permitted(user=None) is True
    channel.url_kwargs = {"room_name": str(Room.objects.create(name="shut").pk)}
    assert channel.permitted(user=None) is False


def test_a_list_channel_cannot_take_an_anchor_row_in_has_permission(declared):
    from rxcdc.channels import StateChannel
    from tests.testapp.serializers import BoardSerializer

    class ListByRow(StateChannel):
        __module__ = "tests.testapp.channels"

        class Meta:
            anchor = BoardSerializer(many=True)
            route = "ws/listbyrow/<str:owner>/"

        def has_permission(self, user, board):
            return True

    declared.append(ListByRow)
    errors = _hook_errors("testapp.ListByRow")
    assert any("list channel has no single anchor" in m for m in errors), errors
    assert any("list_instances" in m for m in errors), errors

"""Heating, cooling, the rx_cache command and system checks."""

import sys
import time

import pytest
from django.core.management import call_command

from rxcdc.heat import HeatRequest, alive_key
from tests.testapp.models import Message, Room

ROOM = "testapp.RoomChannel"


def test_heat_of_a_hot_anchor_answers_without_reloading(pipeline):
    room = Room.objects.create(name="r")
    first = pipeline.heat(ROOM, room.pk)
    Message.objects.create(room=room, text="a")
    pipeline.pump()
    second = pipeline.heat(ROOM, room.pk)
    assert second["lsn"] > first["lsn"]
    pipeline.assert_converged(ROOM, room.pk)


def test_heat_of_unknown_channel_answers_with_an_error(pipeline):
    pipeline.worker.heater.request(HeatRequest("nope.Channel", 1, pipeline.listener.channel), 60)
    pipeline.pump()
    (reply,) = pipeline.listener.drain()
    assert reply["type"] == "rx.hot" and "unknown channel" in reply["error"]


def test_heat_of_a_missing_anchor_is_hot_and_empty_until_the_row_appears(pipeline):
    reply = pipeline.heat(ROOM, 4242)
    assert reply["exists"] is False
    Room.objects.create(pk=4242, name="late")
    pipeline.pump()
    (reset,) = pipeline.updates()
    assert reset["type"] == "rx.reset"
    pipeline.assert_converged(ROOM, 4242)


def test_anchors_nobody_keeps_alive_are_cooled(pipeline, settings):
    settings.RX_CACHE_TTL = 0.4
    pipeline.worker.cache_ttl = 0.4
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="a")
    pipeline.worker.heater.request(HeatRequest(ROOM, room.pk, pipeline.listener.channel), ttl=0.3)
    pipeline.pump()
    assert (ROOM, room.pk) in pipeline.worker.state.anchors
    redis = pipeline.worker.heater.redis
    deadline = time.monotonic() + 10
    while (ROOM, room.pk) in pipeline.worker.state.anchors:
        assert time.monotonic() < deadline, "the anchor was never cooled"
        pipeline.pump()
    assert not redis.exists(alive_key(ROOM, room.pk))
    assert pipeline.cached(ROOM, room.pk) == {}
    assert pipeline.worker.cache.hot_anchors() == []


def test_no_op_migrate_keeps_the_cache(pipeline):
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="a")
    pipeline.heat(ROOM, room.pk)
    before = pipeline.cached(ROOM, room.pk)
    call_command("migrate", verbosity=0)
    assert pipeline.cached(ROOM, room.pk) == before != {}


def test_rx_cache_status_and_clear(pipeline, capsys):
    rooms = [Room.objects.create(name=str(i)) for i in range(2)]
    for r in rooms:
        pipeline.heat(ROOM, r.pk)
    call_command("rx_cache", "status")
    out = capsys.readouterr().out
    assert "2 hot anchors" in out and f"{ROOM}\t{rooms[0].pk}\t" in out
    call_command("rx_cache", "clear", ROOM, str(rooms[0].pk))
    assert "asked the running worker" in capsys.readouterr().out
    pipeline.pump()
    (reset,) = pipeline.updates()
    assert reset["type"] == "rx.reset" and reset["anchor"] == rooms[0].pk
    assert pipeline.cached(ROOM, rooms[0].pk) == {}
    assert pipeline.cached(ROOM, rooms[1].pk) != {}


def test_rx_cache_clear_without_a_worker_clears_directly(pipeline, capsys):
    room = Room.objects.create(name="r")
    pipeline.heat(ROOM, room.pk)
    pipeline.worker.heater.redis.delete("rx:worker")  # as if the worker had stopped
    call_command("rx_cache", "clear")
    assert "cleared 1 anchors" in capsys.readouterr().out
    assert pipeline.cached(ROOM, room.pk) == {}


def test_system_checks_pass_on_a_good_setup(transactional_db):
    from django.core import checks

    assert [m for m in checks.run_checks() if m.id and m.id.startswith("rxcdc")] == []


def test_system_checks_name_bad_settings(settings):
    from rxcdc.checks import check_settings

    settings.RX_CACHE_TTL = -1
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    ids = sorted(m.id for m in check_settings())
    assert ids == ["rxcdc.E010", "rxcdc.E013"]


@pytest.mark.parametrize(
    ("backend", "hosts", "expected"),
    [
        ("pubsub.RedisPubSubChannelLayer", ["redis://r"], []),
        ("core.RedisChannelLayer", [{"address": "redis://r", "socket_timeout": None}], ["W004"]),
        ("core.RedisChannelLayer", ["redis://r"], ["W004", "W002"]),
        ("core.RedisChannelLayer", [{"address": "redis://r"}], ["W004", "W002"]),
        (
            "core.RedisChannelLayer",
            [{"address": "redis://r", "socket_timeout": 5}],
            ["W004", "W002"],
        ),
        (
            "core.RedisChannelLayer",
            [{"address": "redis://r", "socket_timeout": 15}],
            ["W004", "W003"] if sys.version_info < (3, 12) else ["W004"],
        ),
    ],
)
def test_channel_layers_that_slow_or_break_consumers_are_warned_about(
    settings, backend, hosts, expected
):
    from rxcdc.checks import check_settings

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": f"channels_redis.{backend}", "CONFIG": {"hosts": hosts}}
    }
    assert [m.id for m in check_settings()] == [f"rxcdc.{e}" for e in expected]


def test_table_without_primary_key_is_an_error(transactional_db):
    from django.db import connection

    from rxcdc.checks import _tables_without_identity

    with connection.cursor() as cur:
        cur.execute("ALTER TABLE testapp_card DROP CONSTRAINT testapp_card_pkey CASCADE")
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E002" and "testapp_card" in error.msg
    finally:
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE testapp_card ADD PRIMARY KEY (id)")

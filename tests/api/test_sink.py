"""The observer sink in the worker: batching, one serialization per change, restarts, replays."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rxcdc import conf
from rxcdc.api.observer import registry
from rxcdc.api.observer.model_observer import ModelObserver
from rxcdc.api.observer.sink import SINK, ObserverSink
from rxcdc.api.observer.state import COLLECTION
from tests.api.conftest import Driver
from tests.apiapp import consumers
from tests.apiapp.models import Classroom, School, Widget
from tests.processes import wait_slot_released

pytestmark = pytest.mark.django_db(transaction=True)
OBSERVER = consumers.ClassroomConsumer.classroom_change


def school_group(school):
    (group,) = OBSERVER.group_names_for_consumer(school=school.pk, consumer=None)
    return group


def routes(messages):
    """(group, action, id) of each message, sorted."""
    return sorted((g, m["action"], m["body"].get("id", m["body"].get("pk"))) for g, m in messages)


def selects(queries, table):
    return [q for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]]


def test_one_query_per_model_per_chunk_and_one_serialization_per_change(driver, listener):
    a = School.objects.create(name="a")
    listener.join(
        school_group(a),
        consumers.WidgetActivityConsumer.widget_activity.default_group(),
        consumers.WidgetFeedConsumer.widget_feed.default_group(),
    )
    consumers.SERIALIZED.clear()
    with CaptureQueriesContext(connection) as ctx:
        Classroom.objects.bulk_create([Classroom(school=a, name=str(i)) for i in range(30)])
        Widget.objects.bulk_create([Widget(name=str(i)) for i in range(30)])
        chunks = driver.pump()
    assert len(chunks) == 2
    assert len(selects(ctx.captured_queries, "apiapp_classroom")) == 1
    # three observers of Widget (two model observers, one instance mixin): one read
    assert len(selects(ctx.captured_queries, "apiapp_widget")) == 1
    assert sorted(consumers.SERIALIZED) == sorted((c.pk, "create") for c in Classroom.objects.all())


def test_a_redelivered_transaction_sends_the_same_moves(driver, listener):
    a, b = School.objects.create(name="a"), School.objects.create(name="b")
    listener.join(school_group(a), school_group(b))
    room = Classroom.objects.create(school=a, name="r")
    driver.pump()
    Classroom.objects.filter(pk=room.pk).update(school=b)
    (moved,) = driver.pump()
    first = listener.receive(3)
    assert sorted((m["action"], m["group"]) for m in first) == sorted(
        [("create", school_group(a)), ("create", school_group(b)), ("delete", school_group(a))]
    )
    # A worker restarted before acknowledging the move (fresh memory, same MongoDB) gets it again.
    replay = ObserverSink()
    replay.tables()
    expected = sorted([(school_group(a), "delete", room.pk), (school_group(b), "create", room.pk)])
    classroom = [m for m in replay.messages(moved) if m[1]["type"] == "classroom.change"]
    assert routes(classroom) == expected
    original = [m for m in first if (m["action"], m["group"]) != ("create", school_group(a))]
    assert sorted(map(json.dumps, (m for _, m in classroom))) == sorted(map(json.dumps, original))
    # ...and again (a retried chunk)
    again = [m for m in SINK.messages(moved) if m[1]["type"] == "classroom.change"]
    assert routes(again) == expected


def test_groups_survive_a_restart_and_moves_made_while_down_are_sent(rx_settings, listener):
    a, b = School.objects.create(name="a"), School.objects.create(name="b")
    listener.join(school_group(a), school_group(b))
    room = Classroom.objects.create(school=a, name="r")  # before the first start: seeded
    first = Driver()
    first.pump()
    Classroom.objects.filter(pk=room.pk).update(name="renamed")
    first.pump()
    assert [(m["action"], m["group"]) for m in listener.receive(1)] == [("update", school_group(a))]
    first.close()
    Classroom.objects.filter(pk=room.pk).update(school=b)  # while no worker runs
    wait_slot_released(conf.replication_dsn(), rx_settings.RX_SLOT_NAME)
    second = Driver()
    try:
        second.pump()
        got = listener.receive(2)
    finally:
        second.close()
    assert sorted((m["action"], m["group"], m["body"]["school"]) for m in got) == sorted(
        [("delete", school_group(a), b.pk), ("create", school_group(b), b.pk)]
    )


def test_rows_leaving_every_group_are_purged_after_their_transaction(driver):
    a = School.objects.create(name="a")
    room = Classroom.objects.create(school=a, name="r")
    driver.pump()
    state = SINK._state
    assert state is not None
    sid = f"{OBSERVER.observer_id}#{OBSERVER.state_version}"
    assert state.load(sid, [room.pk])[room.pk]["g"] == [school_group(a)]
    pk = room.pk
    room.delete()
    (deleted,) = driver.pump()
    assert state.load(sid, [pk])[pk]["n"] == 0  # kept: a replay must route the delete
    assert state.purge(deleted.transaction.commit_lsn) == 0
    assert state.purge(deleted.transaction.commit_lsn + 1) == 1
    assert state.load(sid, [pk]) == {}


def test_changing_the_group_function_rebuilds_the_kept_groups(rx_settings):
    async def handler(self, message, **kwargs):
        pass

    observer = ModelObserver(handler, Classroom)
    observer.groups_for_signal(lambda self, instance: [f"school-{instance.school_id}"])
    a = School.objects.create(name="a")
    room = Classroom.objects.create(school=a, name="r")
    try:
        sink = ObserverSink()
        sink.tables()
        old_sid = f"{observer.observer_id}#{observer.state_version}"
        assert sink._state.load(old_sid, [room.pk])[room.pk]["g"] == [
            registry.clean_group_name(f"{observer.observer_id}-school-{a.pk}")
        ]

        def by_name(self, instance):
            return [f"name-{instance.name}"]

        observer.groups_for_signal(by_name)
        sink = ObserverSink()
        sink.tables()
        new_sid = f"{observer.observer_id}#{observer.state_version}"
        assert new_sid != old_sid
        assert sink._state.load(old_sid, [room.pk]) == {}
        assert sink._state.load(new_sid, [room.pk])[room.pk]["g"] == [
            registry.clean_group_name(f"{observer.observer_id}-name-r")
        ]
        coll = sink._state.coll
        assert coll.name == COLLECTION
        assert coll.count_documents({"o": observer.observer_id, "s": old_sid}) == 0
    finally:
        registry.unregister(observer.observer_id)


def test_tables_of_observed_models_only():
    sink = ObserverSink()
    assert set(sink.tables()) >= {"apiapp_widget", "apiapp_classroom", "apiapp_gadget"}
    assert "apiapp_school" not in sink.tables()
    assert "testapp_message" not in sink.tables()


def test_a_change_an_observer_cannot_route_is_skipped_and_the_stream_goes_on(driver, listener):
    # REPLICA IDENTITY USING INDEX on a non-pk column: a DELETE carries no primary key.
    with connection.cursor() as cur:
        cur.execute("CREATE UNIQUE INDEX apiapp_widget_name_uniq ON apiapp_widget (name)")
        cur.execute(
            "ALTER TABLE apiapp_widget REPLICA IDENTITY USING INDEX apiapp_widget_name_uniq"
        )
    widget = Widget.objects.create(name="w")
    driver.pump()
    a = School.objects.create(name="a")
    listener.join(school_group(a))
    with connection.cursor() as cur:
        cur.execute("DELETE FROM apiapp_widget WHERE id = %s", [widget.pk])
        cur.execute("INSERT INTO apiapp_classroom (school_id, name) VALUES (%s, 'later')", [a.pk])
    driver.pump()  # the worker neither stops nor replays into the same failure
    assert driver.worker.quarantine.count >= 1
    (later,) = listener.receive(1)
    assert (later["action"], later["body"]["name"]) == ("create", "later")

"""Observers fed by the worker: ORM saves, QuerySet.update, bulk_create, raw SQL from psql."""

import subprocess

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction

from rxcdc import conf
from tests.api.conftest import ask, connected, frame
from tests.apiapp import consumers
from tests.apiapp.models import Classroom, Gadget, School, Widget

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 20


def psql(sql):
    """Run SQL from another process."""
    subprocess.run(
        ["psql", conf.replication_dsn(), "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )


@database_sync_to_async
def run(func, *args, **kwargs):
    return func(*args, **kwargs)


async def receive(comm, n=1):
    return [await comm.receive_json_from(TIMEOUT) for _ in range(n)]


def by_pk(frames, key="data"):
    return sorted(frames, key=lambda f: f[key].get("id", f[key].get("pk")))


async def caught_up():
    """Wait until the worker handled every transaction committed so far."""
    async with connected(consumers.WidgetActivityConsumer.as_asgi()) as comm:
        marker = await run(Widget.objects.create, name="marker")
        while (await comm.receive_json_from(TIMEOUT))["body"] != {"pk": marker.pk}:
            pass


async def test_model_observer_sends_create_update_delete(live_worker):
    async with connected(consumers.WidgetActivityConsumer.as_asgi()) as comm:
        w = await run(Widget.objects.create, name="a")
        assert await comm.receive_json_from(TIMEOUT) == {
            "body": {"pk": w.pk},
            "action": "create",
            "type": "widget.activity",
        }
        w.name = "b"
        await run(w.save)
        got = await comm.receive_json_from(TIMEOUT)
        assert got == {"body": {"pk": w.pk}, "action": "update", "type": "widget.activity"}
        pk = w.pk
        await run(w.delete)
        got = await comm.receive_json_from(TIMEOUT)
        assert got == {"body": {"pk": pk}, "action": "delete", "type": "widget.activity"}


async def test_bulk_create_queryset_update_and_other_processes_reach_subscribers(live_worker):
    async with connected(consumers.WidgetFeedConsumer.as_asgi()) as comm:
        w1, w2 = await run(Widget.objects.bulk_create, [Widget(name="a"), Widget(name="b")])
        got = by_pk(await receive(comm, 2))
        assert got == [
            frame("create", {"id": w1.pk, "name": "a", "color": "red", "size": 0}),
            frame("create", {"id": w2.pk, "name": "b", "color": "red", "size": 0}),
        ]
        await run(lambda: Widget.objects.filter(pk__in=[w1.pk, w2.pk]).update(size=7))
        got = by_pk(await receive(comm, 2))
        assert [(f["action"], f["data"]["id"], f["data"]["size"]) for f in got] == [
            ("update", w1.pk, 7),
            ("update", w2.pk, 7),
        ]
        psql(f"UPDATE apiapp_widget SET color = 'psql' WHERE id = {w1.pk}")
        got = await comm.receive_json_from(TIMEOUT)
        assert got == frame("update", {"id": w1.pk, "name": "a", "color": "psql", "size": 7})
        psql("INSERT INTO apiapp_widget (name, color, size) VALUES ('raw', 'green', 1)")
        got = await comm.receive_json_from(TIMEOUT)
        assert got["action"] == "create" and got["data"]["name"] == "raw"
        psql(f"DELETE FROM apiapp_widget WHERE id = {w2.pk}")
        # REPLICA IDENTITY DEFAULT: the WAL has the key only, the body is {"pk"}
        assert await comm.receive_json_from(TIMEOUT) == frame("delete", {"pk": w2.pk})


async def test_delete_body_is_serialized_under_replica_identity_full(live_worker):
    w = await run(Widget.objects.create, name="full", size=3)
    await run(
        lambda: connection.cursor().execute("ALTER TABLE apiapp_widget REPLICA IDENTITY FULL")
    )
    try:
        await caught_up()
        async with connected(consumers.WidgetFeedConsumer.as_asgi()) as comm:
            await run(lambda: Widget.objects.filter(pk=w.pk).delete())
            got = await comm.receive_json_from(TIMEOUT)
            assert got == frame("delete", {"id": w.pk, "name": "full", "color": "red", "size": 3})
    finally:
        await run(
            lambda: connection.cursor().execute(
                "ALTER TABLE apiapp_widget REPLICA IDENTITY DEFAULT"
            )
        )


async def test_groups_route_changes_and_moves_send_delete_then_create(live_worker):
    consumers.SERIALIZED.clear()
    a, b = await run(lambda: [School.objects.create(name=n) for n in "ab"])
    app = consumers.ClassroomConsumer.as_asgi()
    async with connected(app) as in_a, connected(app) as in_b, connected(app) as also_a:
        assert await ask(in_a, action="subscribe_school", school=a.pk, request_id=1) == frame(
            "subscribe_school", None, 201, 1
        )
        await ask(also_a, action="subscribe_school", school=a.pk, request_id=5)
        await ask(in_b, action="subscribe_school", school=b.pk, request_id=2)

        room = await run(Classroom.objects.create, school=a, name="r1")
        body = {"id": room.pk, "name": "r1", "school": a.pk}
        assert await in_a.receive_json_from(TIMEOUT) == {
            "body": body,
            "action": "create",
            "request_ids": [1],
        }
        assert await also_a.receive_json_from(TIMEOUT) == {
            "body": body,
            "action": "create",
            "request_ids": [5],
        }
        assert [(room.pk, "create")] == consumers.SERIALIZED  # once, not once per subscriber

        # a move by QuerySet.update: no signal, no loaded instance
        await run(lambda: Classroom.objects.filter(pk=room.pk).update(school=b))
        moved = {"id": room.pk, "name": "r1", "school": b.pk}
        assert await in_a.receive_json_from(TIMEOUT) == {
            "body": moved,
            "action": "delete",
            "request_ids": [1],
        }
        assert await in_b.receive_json_from(TIMEOUT) == {
            "body": moved,
            "action": "create",
            "request_ids": [2],
        }
        psql(f"UPDATE apiapp_classroom SET name = 'r2' WHERE id = {room.pk}")
        got = await in_b.receive_json_from(TIMEOUT)
        assert got["action"] == "update" and got["body"]["name"] == "r2"
        psql(f"DELETE FROM apiapp_classroom WHERE id = {room.pk}")
        got = await in_b.receive_json_from(TIMEOUT)
        assert got == {"body": {"pk": room.pk}, "action": "delete", "request_ids": [2]}
        # in_a saw nothing after the move: the next thing it gets is a later change in a
        other = await run(Classroom.objects.create, school=a, name="later")
        assert (await in_a.receive_json_from(TIMEOUT))["body"]["id"] == other.pk


async def test_unsubscribe_forgets_request_ids_then_leaves_the_group(live_worker):
    a, b = await run(lambda: [School.objects.create(name=n) for n in "ab"])
    async with connected(consumers.ClassroomConsumer.as_asgi()) as comm:
        await ask(comm, action="subscribe_school", school=a.pk, request_id=1)
        await ask(comm, action="subscribe_school", school=a.pk, request_id=3)
        await run(Classroom.objects.create, school=a, name="x")
        assert (await comm.receive_json_from(TIMEOUT))["request_ids"] == [1, 3]

        got = await ask(comm, action="unsubscribe_school", school=a.pk, request_id=1)
        assert got == frame("unsubscribe_school", None, 204, 1)
        await run(Classroom.objects.create, school=a, name="y")
        assert (await comm.receive_json_from(TIMEOUT))["request_ids"] == [3]

        await ask(comm, action="unsubscribe_school", school=a.pk, request_id=3)
        await run(Classroom.objects.create, school=a, name="unseen")
        await ask(comm, action="subscribe_school", school=b.pk, request_id=4)
        seen = await run(Classroom.objects.create, school=b, name="seen")
        got = await comm.receive_json_from(TIMEOUT)  # the first frame: nothing came from a
        assert got["body"]["id"] == seen.pk and got["request_ids"] == [4]


async def test_a_failing_handler_does_not_close_the_socket(live_worker, caplog):
    async with connected(consumers.WidgetFeedConsumer.as_asgi()) as comm:
        await run(Widget.objects.create, name="explode")
        ok = await run(Widget.objects.create, name="fine")
        got = await comm.receive_json_from(TIMEOUT)
        assert got["data"]["id"] == ok.pk
    assert "handler failure" in caplog.text


async def test_truncate_deletes_rows_in_groups(live_worker):
    a = await run(School.objects.create, name="a")
    async with connected(consumers.ClassroomConsumer.as_asgi()) as comm:
        await ask(comm, action="subscribe_school", school=a.pk, request_id=1)
        room = await run(Classroom.objects.create, school=a, name="x")
        assert (await comm.receive_json_from(TIMEOUT))["action"] == "create"
        await run(lambda: connection.cursor().execute("TRUNCATE apiapp_classroom"))
        got = await comm.receive_json_from(TIMEOUT)
        assert got == {"body": {"pk": room.pk}, "action": "delete", "request_ids": [1]}


async def test_instance_mixin_subscribe_update_delete_unsubscribe(live_worker):
    app = consumers.WidgetInstanceConsumer.as_asgi()
    w1, w2 = await run(lambda: [Widget.objects.create(name=n) for n in ("w1", "w2")])
    await caught_up()
    async with connected(app) as comm:
        got = await ask(comm, action="retrieve", pk=100, request_id=1)
        assert got == frame("retrieve", None, 404, 1, ["Not found"])
        got = await ask(comm, action="subscribe_instance", pk=w1.pk, request_id=4)
        assert got == frame("subscribe_instance", None, 201, 4)
        got = await ask(comm, action="subscribe_instance", request_id=None, pk=w1.pk)
        assert got == frame(
            "subscribe_instance", None, 400, None, ["request_id must have a value set"]
        )

        got = await ask(comm, action="rename", pk=w1.pk, name="new", request_id=5)
        assert got == frame("rename", {"pk": w1.pk}, request_id=5)
        got = await comm.receive_json_from(TIMEOUT)
        assert got == frame(
            "update", {"id": w1.pk, "name": "new", "color": "red", "size": 0}, 200, 4
        )

        await run(lambda: Widget.objects.filter(pk=w1.pk).update(size=2))  # no signal
        got = await comm.receive_json_from(TIMEOUT)
        assert got == frame(
            "update", {"id": w1.pk, "name": "new", "color": "red", "size": 2}, 200, 4
        )

        got = await ask(comm, action="unsubscribe_instance", pk=w1.pk, request_id=4)
        assert got == frame("unsubscribe_instance", None, 204, 4)
        await ask(comm, action="rename", pk=w1.pk, name="unseen", request_id=6)
        await ask(comm, action="subscribe_instance", pk=w2.pk, request_id=7)
        await run(lambda: Widget.objects.filter(pk=w2.pk).delete())
        got = await comm.receive_json_from(TIMEOUT)  # first frame after: w2's delete, not w1
        assert got == frame("delete", {"pk": w2.pk}, 204, 7)


async def test_instance_mixin_without_queryset_and_string_pk(live_worker):
    g = await run(Gadget.objects.create, code="g-1", label="one")
    await caught_up()
    async with connected(consumers.GadgetInstanceConsumer.as_asgi()) as comm:
        await ask(comm, action="subscribe_instance", pk="g-1", request_id="s")
        psql("UPDATE apiapp_gadget SET label = 'uno' WHERE code = 'g-1'")
        got = await comm.receive_json_from(TIMEOUT)
        assert got == frame("update", {"code": "g-1", "label": "uno"}, 200, "s")
        await run(g.delete)
        assert await comm.receive_json_from(TIMEOUT) == frame("delete", {"pk": "g-1"}, 204, "s")


async def test_one_function_for_both_group_hooks(live_worker):
    async with connected(consumers.GadgetLabelConsumer.as_asgi()) as comm:
        assert await ask(comm, action="watch", label="x", request_id=1) == frame(
            "watch", None, 201, 1
        )
        await run(Gadget.objects.create, code="a", label="x")
        assert await comm.receive_json_from(TIMEOUT) == {"body": {"pk": "a"}, "action": "create"}
        await run(Gadget.objects.create, code="b", label="y")
        await run(lambda: Gadget.objects.filter(code="b").update(label="x"))  # enters x
        assert await comm.receive_json_from(TIMEOUT) == {"body": {"pk": "b"}, "action": "create"}


async def test_several_saves_in_one_transaction_are_one_message(live_worker):
    def create_and_rename():
        with transaction.atomic():
            w = Widget.objects.create(name="first")
            w.name = "second"
            w.save()
            w.size = 3
            w.save()
        return w

    async with connected(consumers.WidgetFeedConsumer.as_asgi()) as comm:
        w = await run(create_and_rename)
        got = await comm.receive_json_from(TIMEOUT)
        assert got == frame("create", {"id": w.pk, "name": "second", "color": "red", "size": 3})
        later = await run(Widget.objects.create, name="later")
        assert (await comm.receive_json_from(TIMEOUT))["data"]["id"] == later.pk

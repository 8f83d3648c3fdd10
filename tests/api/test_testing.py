"""rxcdc.api.testing: DCRF-style tests with real observers, an in-memory layer and no sleeps."""

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from rest_framework import serializers

from rxcdc.api import testing
from rxcdc.api.decorators import action
from rxcdc.api.generics import GenericAsyncAPIConsumer
from rxcdc.api.observer import model_observer
from rxcdc.api.observer.generics import ObserverModelInstanceMixin
from rxcdc.api.replica_identity import replica_identities
from tests.api.conftest import ask, connected, frame
from tests.api.test_observers import psql
from tests.apiapp.models import Widget

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def observers(transactional_db):
    """What the pytest plugin rxcdc.api.testing.plugin sets up (here for one test)."""
    worker = testing.ObserverWorker()
    worker.start()
    hook = testing.CommitHook(worker.catch_up)
    hook.install()
    testing.running(worker)
    yield worker
    testing.running(None)
    hook.uninstall()
    worker.stop()


run = database_sync_to_async


async def test_an_observer_defined_in_a_test_body_gets_changes_as_they_commit(observers):
    class Body(serializers.ModelSerializer):
        class Meta:
            model = Widget
            fields = ["id", "name"]

    class Watch(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
        queryset = Widget.objects.all()
        serializer_class = Body

        @action()
        async def rename(self, pk, name, **kwargs):
            await run(Widget.objects.filter(pk=pk).update)(name=name)
            return {"pk": pk}, 200

    async with connected(Watch.as_asgi()) as comm:
        w = await run(Widget.objects.create)(name="a")  # just before subscribing
        got = await ask(comm, action="subscribe_instance", pk=w.pk, request_id=1)
        assert got == frame("subscribe_instance", None, 201, 1)
        assert await comm.receive_nothing(0.2)  # its create was handled before: no late update
        got = await ask(comm, action="rename", pk=w.pk, name="b", request_id=2)
        assert got == frame("rename", {"pk": w.pk}, 200, 2)
        # in the consumer's channel before the action returned: the communicator's 1 s is plenty
        assert await comm.receive_json_from(1) == frame("update", {"id": w.pk, "name": "b"}, 200, 1)
        pk = w.pk
        await run(w.delete)()
        assert await comm.receive_json_from(1) == frame("delete", {"pk": pk}, 204, 1)


async def test_deletes_carry_the_serialized_row_and_changes_from_elsewhere_catch_up(observers):
    assert await run(replica_identities)(["apiapp_widget"]) == {"apiapp_widget": "full"}

    class Feed(GenericAsyncAPIConsumer):
        async def accept(self, subprotocol=None, headers=None):
            await super().accept(subprotocol, headers)
            await self.widgets.subscribe()

        @model_observer(Widget)
        async def widgets(self, message, action, **kwargs):
            await self.send_json({"action": action, "body": message})

        @widgets.serializer
        def widgets(self, instance, action, **kwargs):
            return {"name": instance.name, "size": instance.size}

    async with connected(Feed.as_asgi()) as comm:
        w = await run(Widget.objects.create)(name="a", size=2)
        assert await comm.receive_json_from(1) == {
            "action": "create",
            "body": {"name": "a", "size": 2},
        }

        def in_one_transaction():
            with transaction.atomic():
                w.size = 3
                w.save()
                assert w.__class__.objects.filter(pk=w.pk).exists()

        await run(in_one_transaction)()
        assert await comm.receive_json_from(1) == {
            "action": "update",
            "body": {"name": "a", "size": 3},
        }
        psql(f"DELETE FROM apiapp_widget WHERE id = {w.pk}")  # another process
        assert await testing.acatch_up() == 1
        assert await comm.receive_json_from(1) == {
            "action": "delete",
            "body": {"name": "a", "size": 3},
        }


async def test_observer_state_follows_commits(observers):
    class Watch(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
        queryset = Widget.objects.all()

    w = await run(Widget.objects.create)(name="a")
    handler = Watch().handle_instance_change
    before = await run(lambda: handler.get_observer_state(w).current_groups)()
    assert before == {Watch._instance_observer.group_for_pk(w.pk)}

    def delete_and_look():
        with transaction.atomic():
            w.delete()
            assert handler.get_observer_state(w).current_groups == before  # not committed
        return handler.get_observer_state(w).current_groups

    assert await run(delete_and_look)() == set()


def test_the_worker_leaves_the_database_as_it_found_it(transactional_db):
    assert replica_identities(["apiapp_widget"]) == {"apiapp_widget": "default"}
    worker = testing.ObserverWorker()
    worker.start()
    assert replica_identities(["apiapp_widget"]) == {"apiapp_widget": "full"}
    worker.stop()
    assert replica_identities(["apiapp_widget"]) == {"apiapp_widget": "default"}
    with pytest.raises(RuntimeError, match="no observer worker"):
        testing.catch_up()


def test_a_connection_another_thread_opened_before_the_hook_catches_up(transactional_db):
    # An executor thread keeps its connection between tests (sync_to_async's): that connection
    # never sends connection_created again, and the hook must still see its commits.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    caught: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(lambda: Widget.objects.count()).result()  # opened before install()
        hook = testing.CommitHook(lambda: caught.append("caught up"))
        hook.install()
        try:
            thread.submit(lambda: Widget.objects.create(name="w")).result()
            assert caught == ["caught up"]
            thread.submit(lambda: Widget.objects.count()).result()  # reads never catch up
            assert caught == ["caught up"]
        finally:
            hook.uninstall()
            thread.submit(lambda: connection.close()).result()
        thread.submit(lambda: Widget.objects.create(name="after")).result()
    assert caught == ["caught up"]  # uninstalled: nothing more

"""AsyncAPIConsumer: DCRF's frames for actions, detached actions, errors that keep the socket."""

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from rest_framework.exceptions import Throttled

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.decorators import action, detached
from tests.api.conftest import ask, connected, frame
from tests.apiapp.models import Widget

pytestmark = pytest.mark.django_db(transaction=True)


class Actions(AsyncAPIConsumer):
    @action()
    async def async_echo(self, pk=None, **kwargs):
        return {"pk": pk}, 200

    @action()
    def sync_echo(self, pk=None, **kwargs):
        return {"pk": pk, "sync": True}, 200

    @action(name="renamed")
    async def some_method(self, **kwargs):
        return "renamed", 200

    @action()
    async def silent(self, **kwargs):
        return None  # not a tuple: no reply

    @action()
    async def explode(self, **kwargs):
        raise RuntimeError("boom")

    @action()
    def explode_sync(self, **kwargs):
        raise KeyError("boom")

    @action()
    async def throttled(self, **kwargs):
        raise Throttled()

    @action()
    async def needs_data(self, data, **kwargs):
        return data, 200

    @action()
    async def custom_reply(self, request_id=None, **kwargs):
        await self.reply(action="custom", data=[1], status=202, request_id=request_id)


async def test_async_and_sync_actions_reply_with_the_dcrf_frame():
    async with connected(Actions.as_asgi()) as comm:
        got = await ask(comm, action="async_echo", pk=2, request_id=1)
        assert got == {
            "errors": [],
            "data": {"pk": 2},
            "action": "async_echo",
            "response_status": 200,
            "request_id": 1,
        }
        got = await ask(comm, action="sync_echo", pk=3, request_id=10)
        assert got == frame("sync_echo", {"pk": 3, "sync": True}, request_id=10)
        got = await ask(comm, action="renamed", request_id="r")
        assert got == frame("renamed", "renamed", request_id="r")
        got = await ask(comm, action="custom_reply", request_id=7)
        assert got == frame("custom", [1], 202, 7)


async def test_missing_unknown_and_malformed_frames_are_answered():
    async with connected(Actions.as_asgi()) as comm:
        got = await ask(comm, pk=2, request_id=1)
        assert got == frame(None, None, 405, 1, ["Unable to find action in message body."])
        got = await ask(comm, action="nope", request_id=2)
        assert got == frame("nope", None, 405, 2, ['Method "nope" not allowed.'])
        await comm.send_to(text_data="{not json")
        assert await comm.receive_json_from() == frame(None, None, 400, None, ["Malformed JSON."])
        await comm.send_json_to([1, 2])
        got = await comm.receive_json_from()
        assert got == frame(None, None, 400, None, ["Expected a JSON object."])
        got = await ask(comm, action="needs_data", request_id=3)
        assert got == frame(
            "needs_data",
            None,
            400,
            3,
            ["Invalid arguments: missing a required argument: 'data'."],
        )
        got = await ask(comm, action="async_echo", scope={}, request_id=5)
        assert got == frame("async_echo", None, 400, 5, ["Invalid arguments: ['scope']."])
        # still answering
        assert await ask(comm, action="async_echo", request_id=4) == frame(
            "async_echo", {"pk": None}, request_id=4
        )


async def test_failing_actions_get_a_500_and_the_socket_stays_open(caplog):
    async with connected(Actions.as_asgi()) as comm:
        with caplog.at_level(logging.ERROR, logger="rxcdc.api"):
            got = await ask(comm, action="explode", request_id=1)
            assert got == frame("explode", None, 500, 1, ["A server error occurred."])
            got = await ask(comm, action="explode_sync", request_id=2)
            assert got == frame("explode_sync", None, 500, 2, ["A server error occurred."])
        assert "boom" in caplog.text  # logged with the traceback, never sent
        got = await ask(comm, action="throttled", request_id=3)
        assert got == frame("throttled", None, 429, 3, ["Request was throttled."])
        await comm.send_json_to({"action": "silent", "request_id": 4})
        assert await ask(comm, action="async_echo", pk=5, request_id=5) == frame(
            "async_echo", {"pk": 5}, request_id=5
        )


async def test_detached_action_runs_while_others_are_answered():
    event = asyncio.Event()

    class Detached(AsyncAPIConsumer):
        @action(detached=True)
        async def slow(self, pk=None, **kwargs):
            await event.wait()
            return {"pk": pk}, 200

        @action(detached=True)
        async def slow_fail(self, **kwargs):
            await event.wait()
            raise Throttled()

        @action()
        async def fast(self, pk=None, **kwargs):
            return {"pk": pk}, 200

    async with connected(Detached.as_asgi()) as comm:
        await comm.send_json_to({"action": "slow", "pk": 2, "request_id": 1})
        await comm.send_json_to({"action": "slow_fail", "request_id": 2})
        assert await ask(comm, action="fast", pk=3, request_id=3) == frame(
            "fast", {"pk": 3}, request_id=3
        )
        event.set()
        got = [await comm.receive_json_from(), await comm.receive_json_from()]
        assert sorted(got, key=lambda f: f["request_id"]) == [
            frame("slow", {"pk": 2}, request_id=1),
            frame("slow_fail", None, 429, 2, ["Request was throttled."]),
        ]


async def test_detached_tasks_are_cancelled_on_disconnect():
    cancelled = []
    started = asyncio.Event()

    class Waiting(AsyncAPIConsumer):
        @action()
        async def start(self, **kwargs):
            await self.wait_forever()
            return {}, 200

        @detached
        async def wait_forever(self):
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        @action(detached=True)
        async def hang(self, **kwargs):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

    async with connected(Waiting.as_asgi()) as comm:
        assert await ask(comm, action="start", request_id=1) == frame("start", {}, request_id=1)
        await comm.send_json_to({"action": "hang", "request_id": 2})
        await asyncio.wait_for(started.wait(), 5)
        assert await ask(comm, action="start", request_id=3) == frame("start", {}, request_id=3)
    assert cancelled == [True, True, True]


def test_atomic_only_for_sync_and_detached_only_for_async():
    with pytest.raises(ValueError, match="atomic"):

        @action(atomic=True)
        async def a(self, **kwargs):
            pass

    with pytest.raises(ValueError, match="detached"):

        @action(detached=True)
        def b(self, **kwargs):
            pass


async def test_atomic_action_rolls_back_on_error(settings):
    class Writer(AsyncAPIConsumer):
        @action(atomic=True)
        def write_then_fail(self, **kwargs):
            Widget.objects.create(name="ghost")
            raise Throttled()

        @action(atomic=False)
        def write_then_fail_plain(self, **kwargs):
            Widget.objects.create(name="kept")
            raise Throttled()

        @action()
        def in_atomic(self, **kwargs):
            return transaction.get_connection().in_atomic_block, 200

    async with connected(Writer.as_asgi()) as comm:
        assert (await ask(comm, action="write_then_fail", request_id=1))["response_status"] == 429
        assert (await ask(comm, action="write_then_fail_plain", request_id=2))[
            "response_status"
        ] == 429
        assert await ask(comm, action="in_atomic", request_id=3) == frame(
            "in_atomic", False, request_id=3
        )
        settings.DATABASES["default"]["ATOMIC_REQUESTS"] = True
        try:
            assert await ask(comm, action="in_atomic", request_id=4) == frame(
                "in_atomic", True, request_id=4
            )
        finally:
            settings.DATABASES["default"]["ATOMIC_REQUESTS"] = False
    names = await database_sync_to_async(
        lambda: list(Widget.objects.values_list("name", flat=True))
    )()
    assert names == ["kept"]


async def test_add_group_and_remove_group():
    from channels.layers import get_channel_layer

    class Grouped(AsyncAPIConsumer):
        @action()
        async def join(self, name, **kwargs):
            await self.add_group(name)
            return sorted(self.groups), 200

        @action()
        async def leave(self, name, **kwargs):
            await self.remove_group(name)
            return sorted(self.groups), 200

        async def news_item(self, message):
            await self.send_json({"news": message["text"]})

    layer = get_channel_layer()
    async with connected(Grouped.as_asgi()) as comm:
        assert (await ask(comm, action="join", name="api-news", request_id=1))["data"] == [
            "api-news"
        ]
        await layer.group_send("api-news", {"type": "news.item", "text": "hi"})
        assert await comm.receive_json_from(5) == {"news": "hi"}
        assert (await ask(comm, action="leave", name="api-news", request_id=2))["data"] == []
        await layer.group_send("api-news", {"type": "news.item", "text": "lost"})
        assert await ask(comm, action="join", name="api-other", request_id=3) == frame(
            "join", ["api-other"], request_id=3
        )

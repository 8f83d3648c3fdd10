"""Permissions: checked on connect and before every action; composable; DRF ones wrapped."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from rest_framework import permissions as drf

from rxcdc.api import permissions
from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.decorators import action
from tests.api.conftest import ask, connected, frame

pytestmark = pytest.mark.django_db(transaction=True)
DENIED = ["You do not have permission to perform this action."]


def consumer(*classes):
    class Target(AsyncAPIConsumer):
        permission_classes = classes

        @action()
        async def target(self, **kwargs):
            return {"ok": True}, 200

    return Target.as_asgi()


async def test_permission_hooks_are_called_on_connect_and_per_action():
    called = []

    class Recording(permissions.BasePermission):
        async def has_permission(self, scope, consumer, action, **kwargs):
            called.append(("has_permission", action, kwargs))
            return action != "forbidden"

        async def can_connect(self, scope, consumer, message=None):
            called.append(("can_connect",))
            return True

    async with connected(consumer(Recording)) as comm:
        assert called == [("can_connect",)]
        assert await ask(comm, action="target", x=1, request_id=1) == frame(
            "target", {"ok": True}, request_id=1
        )
        assert called[-1] == ("has_permission", "target", {"x": 1})
        got = await ask(comm, action="forbidden", request_id=2)
        assert got == frame("forbidden", None, 403, 2, DENIED)
        # a refused action leaves the socket open
        assert (await ask(comm, action="target", request_id=3))["response_status"] == 200


async def test_can_connect_false_closes_the_socket():
    class NoEntry(permissions.BasePermission):
        def can_connect(self, scope, consumer, message=None):  # sync hooks work too
            return False

    from channels.testing import WebsocketCommunicator

    comm = WebsocketCommunicator(consumer(NoEntry), "/ws/")
    connected_, _ = await comm.connect()
    assert not connected_


async def test_is_authenticated_and_allow_any():
    user = await database_sync_to_async(User.objects.create)(username="ann")
    async with connected(consumer(permissions.IsAuthenticated), user=AnonymousUser()) as comm:
        assert await ask(comm, action="target", request_id=1) == frame(
            "target", None, 403, 1, DENIED
        )
    async with connected(consumer(permissions.IsAuthenticated), user=user) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200
    async with connected(consumer(permissions.AllowAny)) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200


async def test_default_permission_classes_come_from_settings(settings):
    class Default(AsyncAPIConsumer):
        @action()
        async def target(self, **kwargs):
            return 1, 200

    async with connected(Default.as_asgi()) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200
    settings.RX_API = {"DEFAULT_PERMISSION_CLASSES": ["rxcdc.api.permissions.IsAuthenticated"]}
    async with connected(Default.as_asgi()) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 403


def drf_permission(name, result, called):
    class P(drf.BasePermission):
        def has_permission(self, request, view):
            called[name] = (result, request.method, type(view).__name__)
            return result

    return P


async def test_drf_permissions_are_wrapped_with_a_request():
    called = {}
    A = drf_permission("a", True, called)
    async with connected(consumer(A)) as comm:
        assert called == {"a": (True, "HEAD", "Target")}  # connect asks with HEAD
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200
        assert called["a"] == (True, "TARGET", "Target")


@pytest.mark.parametrize(
    ("compose", "connects", "expected"),
    [
        (lambda a, b, c, d, e: [a | b], True, {"a", "b"}),
        (lambda a, b, c, d, e: [c & d], True, {"c", "d"}),
        (lambda a, b, c, d, e: [~e], True, {"e"}),
        (lambda a, b, c, d, e: [a | b, c & d, ~e], True, {"a", "b", "c", "d", "e"}),
        (lambda a, b, c, d, e: [a & b], False, {"a"}),
    ],
)
async def test_drf_permissions_compose(compose, connects, expected):
    called = {}
    perms = [drf_permission(n, n in "bcd", called) for n in "abcde"]
    from channels.testing import WebsocketCommunicator

    comm = WebsocketCommunicator(consumer(*compose(*perms)), "/ws/")
    ok, _ = await comm.connect()
    assert ok is connects
    assert set(called) == expected
    if ok:
        await comm.disconnect()


async def test_own_permissions_compose_with_each_other_and_drf():
    user = await database_sync_to_async(User.objects.create)(username="bob")
    anonymous_only = ~permissions.IsAuthenticated
    either = permissions.IsAuthenticated | drf.IsAdminUser
    both = permissions.AllowAny & permissions.IsAuthenticated
    async with connected(consumer(anonymous_only), user=AnonymousUser()) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200
    async with connected(consumer(anonymous_only), user=user) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 403
    async with connected(consumer(either), user=user) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 200
    async with connected(consumer(both), user=AnonymousUser()) as comm:
        assert (await ask(comm, action="target", request_id=1))["response_status"] == 403

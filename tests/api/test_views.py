"""view_as_consumer: a Django or DRF view called over the socket."""

from decimal import Decimal

import pytest
from django.http import HttpResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from rxcdc.api import permissions
from rxcdc.api.consumers import view_as_consumer
from tests.api.conftest import ask, connected, frame

pytestmark = pytest.mark.django_db(transaction=True)


class Echo(APIView):
    permission_classes = []

    def get(self, request, format=None, **kwargs):
        return Response({"query": dict(request.GET.lists()), "kwargs": kwargs})

    def put(self, request, **kwargs):
        return Response({"data": request.data, "user": str(request.user)}, status=201)

    def patch(self, request, **kwargs):
        # json.dumps refuses a Decimal: the content DRF renders is sent instead
        return Response({"n": Decimal("1.5")}, status=200)


def html(request, **kwargs):
    return HttpResponse(f"<p>{request.method} {kwargs.get('x')}</p>")


async def test_drf_view_get_with_query_and_parameters():
    async with connected(view_as_consumer(Echo.as_view())) as comm:
        got = await ask(
            comm,
            action="retrieve",
            query={"a": "1", "b": ["2", "3"]},
            parameters={"pk": 5},
            request_id=1,
        )
        assert got == frame(
            "retrieve", {"query": {"a": ["1"], "b": ["2", "3"]}, "kwargs": {"pk": 5}}, request_id=1
        )


async def test_drf_view_receives_data_as_request_data():
    async with connected(view_as_consumer(Echo.as_view())) as comm:
        got = await ask(comm, action="create", data={"name": "x", "n": [1, 2]}, request_id=2)
        assert got == frame(
            "create", {"data": {"name": "x", "n": [1, 2]}, "user": "AnonymousUser"}, 201, 2
        )
        got = await ask(comm, action="delete", request_id=3)
        assert got == frame("delete", None, 405, 3, ['Method "delete" not allowed.'])


async def test_plain_django_view_and_custom_action_map():
    app = view_as_consumer(html, {"fetch": "GET", "send": "POST"})
    async with connected(app) as comm:
        got = await ask(comm, action="fetch", parameters={"x": 7}, request_id=1)
        assert got == frame("fetch", "<p>GET 7</p>", request_id=1)
        got = await ask(comm, action="send", request_id=2)
        assert got == frame("send", "<p>POST None</p>", request_id=2)
        got = await ask(comm, action="list", request_id=3)
        assert got["response_status"] == 405


async def test_wrapped_view_permissions_and_unrenderable_data():
    class Deny(permissions.BasePermission):
        async def has_permission(self, scope, consumer, action, **kwargs):
            return action != "retrieve"

    app = view_as_consumer(Echo.as_view())
    app.consumer_class.permission_classes = [Deny]
    async with connected(app) as comm:
        got = await ask(comm, action="retrieve", request_id=1)
        assert got["response_status"] == 403
        got = await ask(comm, action="update", request_id=2)
        assert got["response_status"] == 200
        assert got["data"] == '{"n":1.5}'


class Values(APIView):
    permission_classes = []

    def get(self, request, **kwargs):
        return Response({"value": request.GET["value"], "many": request.GET.getlist("many")})


async def test_query_values_reach_the_view_as_json_values():
    # DCRF puts the JSON values in request.GET as they came; str() made {"value": 1} "1"
    async with connected(view_as_consumer(Values.as_view())) as comm:
        got = await ask(
            comm, action="retrieve", query={"value": 1, "many": [2, None, True]}, request_id=1
        )
        assert got == frame("retrieve", {"value": 1, "many": [2, None, True]}, request_id=1)

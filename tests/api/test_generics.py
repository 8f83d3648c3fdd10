"""GenericAsyncAPIConsumer and the CRUD mixins: DCRF's statuses and frames."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from rest_framework import serializers

from rxcdc.api import mixins
from rxcdc.api.generics import GenericAsyncAPIConsumer
from rxcdc.api.pagination import WebsocketLimitOffsetPagination
from tests.api.conftest import ask, connected, frame
from tests.apiapp.models import Gadget, Widget
from tests.apiapp.serializers import GadgetSerializer, WidgetSerializer

pytestmark = pytest.mark.django_db(transaction=True)


class WidgetCrud(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.PatchModelMixin,
    mixins.DeleteModelMixin,
    GenericAsyncAPIConsumer,
):
    queryset = Widget.objects.all()
    serializer_class = WidgetSerializer


@database_sync_to_async
def widgets(*names):
    return [Widget.objects.create(name=n, size=i) for i, n in enumerate(names)]


def data(w, **changes):
    return {"id": w.pk, "name": w.name, "color": w.color, "size": w.size, **changes}


async def test_crud_actions_and_statuses():
    w1, w2 = await widgets("a", "b")
    async with connected(WidgetCrud.as_asgi()) as comm:
        got = await ask(comm, action="list", request_id=1)
        assert got == frame("list", [data(w1), data(w2)], request_id=1)

        got = await ask(comm, action="retrieve", pk=w2.pk, request_id=2)
        assert got == frame("retrieve", data(w2), request_id=2)

        got = await ask(comm, action="retrieve", pk=w2.pk + 100, request_id=3)
        assert got == frame("retrieve", None, 404, 3, ["Not found"])

        got = await ask(comm, action="create", data={"name": "c", "size": 5}, request_id=4)
        new = await database_sync_to_async(Widget.objects.get)(name="c")
        assert got == frame("create", data(new), 201, 4)

        got = await ask(comm, action="create", data={"size": "x"}, request_id=5)
        assert got == frame(
            "create",
            None,
            400,
            5,
            [{"name": ["This field is required."], "size": ["A valid integer is required."]}],
        )

        got = await ask(
            comm, action="update", pk=w1.pk, data={"name": "a2", "size": 9}, request_id=6
        )
        assert got == frame("update", data(w1, name="a2", size=9), request_id=6)

        got = await ask(comm, action="update", pk=w1.pk, data={"size": 1}, request_id=7)
        assert got == frame("update", None, 400, 7, [{"name": ["This field is required."]}])

        got = await ask(comm, action="patch", pk=w1.pk, data={"color": "blue"}, request_id=8)
        assert got == frame("patch", data(w1, name="a2", size=9, color="blue"), request_id=8)

        got = await ask(comm, action="delete", pk=w1.pk, request_id=9)
        assert got == frame("delete", None, 204, 9)
        got = await ask(comm, action="delete", pk=w1.pk, request_id=10)
        assert got == frame("delete", None, 404, 10, ["Not found"])

        got = await ask(comm, action="retrieve", request_id=11)
        assert got == frame("retrieve", None, 400, 11, ['Expected the argument "pk".'])
    assert await database_sync_to_async(Widget.objects.count)() == 2


async def test_list_pagination_with_limit_and_offset():
    ws = await widgets("a", "b", "c")

    class Paged(WidgetCrud):
        pagination_class = WebsocketLimitOffsetPagination

    async with connected(Paged.as_asgi()) as comm:
        got = await ask(comm, action="list", limit=2, offset=1, request_id=1)
        assert got == frame(
            "list",
            {"count": 3, "results": [data(ws[1]), data(ws[2])], "limit": 2, "offset": 1},
            request_id=1,
        )
        got = await ask(comm, action="list", limit=1, request_id=2)
        assert got["data"] == {"count": 3, "results": [data(ws[0])], "limit": 1, "offset": 0}
        got = await ask(comm, action="list", limit=5, offset=9, request_id=3)
        assert got["data"] == {"count": 3, "results": [], "limit": 5, "offset": 9}
        got = await ask(comm, action="list", request_id=4)  # no limit, no PAGE_SIZE: every row
        assert got["data"] == [data(w) for w in ws]


async def test_paginated_mixin_uses_the_default_pagination_settings(settings):
    ws = await widgets("a", "b", "c")
    settings.RX_API = {
        "DEFAULT_PAGINATION_CLASS": "rxcdc.api.pagination.WebsocketLimitOffsetPagination",
        "PAGE_SIZE": 2,
    }

    class Paged(mixins.PaginatedModelListMixin, GenericAsyncAPIConsumer):
        queryset = Widget.objects.all()
        serializer_class = WidgetSerializer

    async with connected(Paged.as_asgi()) as comm:
        got = await ask(comm, action="list", request_id=1)
        assert got["data"] == {
            "count": 3,
            "results": [data(ws[0]), data(ws[1])],
            "limit": 2,
            "offset": 0,
        }


async def test_lookup_field_queryset_scoping_and_perform_hooks():
    await database_sync_to_async(Gadget.objects.create)(code="g-1", label="one")
    user = await database_sync_to_async(User.objects.create)(username="owner")
    saved = []

    class Gadgets(mixins.RetrieveModelMixin, mixins.CreateModelMixin, GenericAsyncAPIConsumer):
        serializer_class = GadgetSerializer
        lookup_field = "label"
        lookup_url_kwarg = "name"

        def get_queryset(self, **kwargs):
            if not self.scope["user"].is_authenticated:
                return Gadget.objects.none()
            return Gadget.objects.all()

        def perform_create(self, serializer, **kwargs):
            saved.append(serializer.context["request"].user.username)
            serializer.save(label=serializer.validated_data["label"].upper())

    async with connected(Gadgets.as_asgi(), user=user) as comm:
        got = await ask(comm, action="retrieve", name="one", request_id=1)
        assert got == frame("retrieve", {"code": "g-1", "label": "one"}, request_id=1)
        got = await ask(comm, action="create", data={"code": "g-2", "label": "two"}, request_id=2)
        assert got == frame("create", {"code": "g-2", "label": "TWO"}, 201, 2)
    assert saved == ["owner"]
    async with connected(Gadgets.as_asgi(), user=AnonymousUser()) as comm:
        got = await ask(comm, action="retrieve", name="one", request_id=1)
        assert got["response_status"] == 404


async def test_serializer_context_has_scope_consumer_and_request():
    class Contextual(serializers.ModelSerializer):
        who = serializers.SerializerMethodField()

        class Meta:
            model = Widget
            fields = ["id", "who"]

        def get_who(self, obj):
            ctx = self.context
            return [type(ctx["consumer"]).__name__, ctx["scope"]["path"], ctx["request"].path]

    (w,) = await widgets("a")

    class Ctx(mixins.RetrieveModelMixin, GenericAsyncAPIConsumer):
        queryset = Widget.objects.all()
        serializer_class = Contextual

    async with connected(Ctx.as_asgi(), path="/ws/ctx/") as comm:
        got = await ask(comm, action="retrieve", pk=w.pk, request_id=1)
        assert got["data"] == {"id": w.pk, "who": ["Ctx", "/ws/ctx/", "/ws/ctx/"]}


class StreamedWidgets(mixins.StreamedPaginatedListMixin, GenericAsyncAPIConsumer):
    queryset = Widget.objects.order_by("id")
    serializer_class = WidgetSerializer

    class pagination_class(WebsocketLimitOffsetPagination):
        default_limit = 2


async def test_streamed_paginated_list_replies_page_after_page():
    ws = await widgets("a", "b", "c", "d", "e")
    async with connected(StreamedWidgets.as_asgi()) as comm:
        await comm.send_json_to({"action": "list", "request_id": 7, "offset": 1})
        pages = [await comm.receive_json_from(5) for _ in range(2)]
        assert pages == [
            frame("list", {"count": 5, "limit": 2, "offset": o, "results": r}, request_id=7)
            for o, r in ((1, [data(ws[1]), data(ws[2])]), (3, [data(ws[3]), data(ws[4])]))
        ]
        assert await comm.receive_nothing(0.2)

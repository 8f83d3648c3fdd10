"""One channel per serializer of tests.fieldsapp.serializers, routed at ws/shelf/<kind>/<pk>/.

(``Meta.route`` is for makefrontend; tests/ws/test_serializer_fields.py routes them the same way.)
"""

from rxcdc.channels import StateChannel
from tests.fieldsapp.serializers import (
    BooksShelfSerializer,
    EntriesShelfSerializer,
    ItemsShelfSerializer,
    ProxyShelfSerializer,
    SpotsShelfSerializer,
    TagsShelfSerializer,
    TasksShelfSerializer,
)


class _Shelf(StateChannel):
    class Meta:
        abstract = True

    def has_permission(self, user, **kwargs):
        return user.is_authenticated


class TagsShelfChannel(_Shelf):
    class Meta:
        anchor = TagsShelfSerializer()
        route = "ws/shelf/tags/<int:shelf>/"


class ItemsShelfChannel(_Shelf):
    class Meta:
        anchor = ItemsShelfSerializer()
        route = "ws/shelf/items/<int:shelf>/"


class SpotsShelfChannel(_Shelf):
    class Meta:
        anchor = SpotsShelfSerializer()
        route = "ws/shelf/spots/<int:shelf>/"


class BooksShelfChannel(_Shelf):
    class Meta:
        anchor = BooksShelfSerializer()
        route = "ws/shelf/books/<int:shelf>/"


class EntriesShelfChannel(_Shelf):
    class Meta:
        anchor = EntriesShelfSerializer()
        route = "ws/shelf/entries/<int:shelf>/"


class ProxyShelfChannel(_Shelf):
    class Meta:
        anchor = ProxyShelfSerializer()
        route = "ws/shelf/proxy/<int:shelf>/"


class TasksShelfChannel(_Shelf):
    class Meta:
        anchor = TasksShelfSerializer()
        route = "ws/shelf/tasks/<int:shelf>/"


CHANNELS = {
    "tags": TagsShelfChannel,
    "items": ItemsShelfChannel,
    "spots": SpotsShelfChannel,
    "books": BooksShelfChannel,
    "entries": EntriesShelfChannel,
    "proxy": ProxyShelfChannel,
    "tasks": TasksShelfChannel,
}

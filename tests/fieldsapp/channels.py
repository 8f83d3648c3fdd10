"""One channel per serializer of tests.fieldsapp.serializers, routed at ws/shelf/<kind>/<pk>/."""

from rxcdc.channels import StateChannel
from tests.fieldsapp.serializers import (
    BooksShelfSerializer,
    EntriesShelfSerializer,
    ItemsShelfSerializer,
    ProxyShelfSerializer,
    SpotsShelfSerializer,
    TagsShelfSerializer,
)


class _Shelf(StateChannel):
    class Meta:
        abstract = True

    def has_permission(self, user, **kwargs):
        return user.is_authenticated


class TagsShelfChannel(_Shelf):
    class Meta:
        anchor = TagsShelfSerializer()


class ItemsShelfChannel(_Shelf):
    class Meta:
        anchor = ItemsShelfSerializer()


class SpotsShelfChannel(_Shelf):
    class Meta:
        anchor = SpotsShelfSerializer()


class BooksShelfChannel(_Shelf):
    class Meta:
        anchor = BooksShelfSerializer()


class EntriesShelfChannel(_Shelf):
    class Meta:
        anchor = EntriesShelfSerializer()


class ProxyShelfChannel(_Shelf):
    class Meta:
        anchor = ProxyShelfSerializer()


CHANNELS = {
    "tags": TagsShelfChannel,
    "items": ItemsShelfChannel,
    "spots": SpotsShelfChannel,
    "books": BooksShelfChannel,
    "entries": EntriesShelfChannel,
    "proxy": ProxyShelfChannel,
}

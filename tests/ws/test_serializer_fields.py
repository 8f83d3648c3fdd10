"""Fields that read other rows stay exact: related fields, dotted sources, declared methods,
inheritance parents, managers and orderings through relations (docs/schemas.md).

Each test watches one shelf through a real consumer and worker and writes raw SQL; the client
(``ReferenceClient``) must end equal to DRF's own output for the anchor.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.core.exceptions import ImproperlyConfigured
from django.urls import path
from rest_framework import serializers

from rxcdc.layers import build_state
from rxcdc.testing.live import LiveWorker
from tests.fieldsapp.channels import CHANNELS
from tests.fieldsapp.models import Book, Entry, Item, Shelf, ShelfProxy, Spot, Tag, Writer
from tests.fieldsapp.serializers import serializer_for
from tests.ws.test_exactness import Watcher, make_user, sql

pytestmark = pytest.mark.django_db(transaction=True)


class ShelfWatcher(Watcher):
    application = AuthMiddlewareStack(
        URLRouter(
            [
                path(f"ws/shelf/{kind}/<int:shelf>/", channel.as_asgi())
                for kind, channel in CHANNELS.items()
            ]
        )
    )


async def watch(kind: str, shelf: Shelf, token: str) -> Watcher:
    w = await sync_to_async(ShelfWatcher)(
        f"/ws/shelf/{kind}/{shelf.pk}/", serializer_for(kind), Shelf, shelf.pk, token=token
    )
    await w.connect()
    await w.converge()
    return w


@sync_to_async
def make_shelf() -> tuple[Shelf, list[Tag]]:
    tags = [Tag.objects.create(name=n) for n in ("b-one", "d-two", "f-three")]
    shelf = Shelf.objects.create(title="s", owner_tag=tags[2])
    shelf.tags.add(tags[0])
    return shelf, tags


def state(w: Watcher) -> dict[str, Any]:
    out: dict[str, Any] = w.ref.nested(w.pk)
    return out


async def test_a_link_inserted_into_the_m2m_table_reaches_slug_and_pk_lists(live_worker):
    shelf, tags = await make_shelf()
    _, token = await make_user("u")
    w = await watch("tags", shelf, token)
    await sync_to_async(sql)(
        "INSERT INTO fieldsapp_shelf_tags (shelf_id, tag_id) VALUES (%s, %s)",
        [shelf.pk, tags[1].pk],
    )
    await w.converge()
    assert state(w)["tag_names"] == ["b-one", "d-two"]
    assert state(w)["tag_ids"] == [tags[0].pk, tags[1].pk]
    await sync_to_async(sql)("DELETE FROM fieldsapp_shelf_tags WHERE tag_id = %s", [tags[0].pk])
    await w.converge()
    assert state(w)["tag_names"] == ["d-two"]
    await w.close()


async def test_renaming_a_related_row_updates_slug_fields_and_dotted_sources(live_worker):
    shelf, tags = await make_shelf()
    _, token = await make_user("u")
    w = await watch("tags", shelf, token)
    await sync_to_async(sql)("UPDATE fieldsapp_tag SET name = 'z-last' WHERE id = %s", [tags[0].pk])
    await w.converge()
    assert state(w)["tag_names"] == ["z-last"]
    await sync_to_async(sql)("UPDATE fieldsapp_tag SET name = 'owner' WHERE id = %s", [tags[2].pk])
    await w.converge()
    got = state(w)
    assert (got["owner_tag_name"], got["owner_tag_label"], got["owner_tag_text"]) == (
        "owner",
        "owner",
        "#owner",
    )
    # Pointing the FK elsewhere, then renaming the new target, in one transaction.
    await sync_to_async(sql)(
        "UPDATE fieldsapp_shelf SET owner_tag_id = %s WHERE id = %s;"
        " UPDATE fieldsapp_tag SET name = 'new-owner' WHERE id = %s",
        [tags[1].pk, shelf.pk, tags[1].pk],
    )
    await w.converge()
    assert state(w)["owner_tag_label"] == "new-owner"
    await sync_to_async(sql)("UPDATE fieldsapp_tag SET name = 'old' WHERE id = %s", [tags[2].pk])
    await sync_to_async(sql)(
        "UPDATE fieldsapp_tag SET name = 'renamed' WHERE id = %s", [tags[1].pk]
    )
    await w.converge()
    assert state(w)["owner_tag_name"] == "renamed"
    await w.close()


async def test_a_method_field_recomputes_when_a_declared_dependency_changes(live_worker):
    shelf, _tags = await make_shelf()
    await sync_to_async(Item.objects.create)(shelf=shelf, name="first")
    _, token = await make_user("u")
    w = await watch("items", shelf, token)
    assert state(w)["item_count"] == 1
    await sync_to_async(sql)(
        "INSERT INTO fieldsapp_item (shelf_id, name) VALUES (%s, 'second')", [shelf.pk]
    )
    await w.converge()
    assert state(w)["item_count"] == 2
    assert [i["name"] for i in state(w)["items"]] == ["first", "second"]
    await sync_to_async(sql)("DELETE FROM fieldsapp_item WHERE name = 'first'")
    await w.converge()
    assert state(w)["item_count"] == 1
    await w.close()


async def test_a_column_in_an_inheritance_parent_table_reaches_the_child(live_worker):
    shelf, _tags = await make_shelf()
    spot = await sync_to_async(Spot.objects.create)(shelf=shelf, name="hall", floor=1)
    _, token = await make_user("u")
    w = await watch("spots", shelf, token)
    await sync_to_async(sql)(
        "UPDATE fieldsapp_place SET name = 'attic' WHERE id = %s", [spot.place_ptr_id]
    )
    await w.converge()
    assert state(w)["spots"][0]["name"] == "attic"
    await w.close()


async def test_managers_are_followed_as_drf_follows_them(live_worker):
    shelf, _tags = await make_shelf()
    hidden = await sync_to_async(Book.everything.create)(shelf=shelf, title="h", active=False)
    shown = await sync_to_async(Book.objects.create)(shelf=shelf, title="s")
    await sync_to_async(sql)(
        "UPDATE fieldsapp_shelf SET featured_id = %s WHERE id = %s", [hidden.pk, shelf.pk]
    )
    _, token = await make_user("u")
    w = await watch("books", shelf, token)
    # A forward FK reads through the base manager; the list through the default manager.
    assert state(w)["featured"]["title"] == "h"
    assert [b["id"] for b in state(w)["books"]] == [shown.pk]
    await sync_to_async(sql)("UPDATE fieldsapp_book SET active = (NOT active)")
    await w.converge()
    assert [b["id"] for b in state(w)["books"]] == [hidden.pk]
    assert state(w)["featured"]["active"] is True
    await w.close()


async def test_renaming_a_writer_reorders_entries_ordered_through_the_relation(live_worker):
    shelf, _tags = await make_shelf()
    ann = await sync_to_async(Writer.objects.create)(name="ann")
    bob = await sync_to_async(Writer.objects.create)(name="bob")
    first = await sync_to_async(Entry.objects.create)(shelf=shelf, writer=ann)
    second = await sync_to_async(Entry.objects.create)(shelf=shelf, writer=bob)
    _, token = await make_user("u")
    w = await watch("entries", shelf, token)
    assert [e["id"] for e in state(w)["entries"]] == [first.pk, second.pk]
    await sync_to_async(sql)("UPDATE fieldsapp_writer SET name = 'zed' WHERE id = %s", [ann.pk])
    await w.converge()
    assert [e["id"] for e in state(w)["entries"]] == [second.pk, first.pk]
    await w.close()


async def test_a_proxy_model_anchor_follows_its_concrete_table(live_worker):
    shelf, _tags = await make_shelf()
    _, token = await make_user("u")
    w = await sync_to_async(ShelfWatcher)(
        f"/ws/shelf/proxy/{shelf.pk}/", serializer_for("proxy"), ShelfProxy, shelf.pk, token=token
    )
    await w.connect()
    await w.converge()
    await sync_to_async(sql)(
        "UPDATE fieldsapp_shelf SET title = 'renamed' WHERE id = %s;"
        " INSERT INTO fieldsapp_book (shelf_id, title, active) VALUES (%s, 'new', true)",
        [shelf.pk, shelf.pk],
    )
    await w.converge()
    assert state(w)["title"] == "renamed" and [b["title"] for b in state(w)["books"]] == ["new"]
    await w.close()


async def test_a_chained_dependency_changed_while_the_worker_was_down_is_repaired(live_worker):
    shelf, tags = await make_shelf()
    item = await sync_to_async(Item.objects.create)(shelf=shelf, name="i")
    await sync_to_async(item.tags.add)(*tags)
    _, token = await make_user("u")
    w = await watch("items", shelf, token)
    assert state(w)["tag_total"] == 3
    live_worker.stop()
    # Only the shelf's first links (its items) are cached: the worker comes back with
    # the item's tag links as they are now, so the deleted link's DELETE has nowhere to go.
    await sync_to_async(sql)("DELETE FROM fieldsapp_item_tags WHERE tag_id = %s", [tags[0].pk])
    again = await sync_to_async(LiveWorker)()
    try:
        await w.converge()
        assert state(w)["tag_total"] == 2
    finally:
        await w.close()
        await sync_to_async(again.stop)()


# -- what cannot be kept exact is refused when the state is built (manage.py check: rxcdc.E020)


def _refused(anchor: serializers.Serializer) -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        build_state(anchor, "Test")
    return str(caught.value)


def test_a_hyperlinked_field_is_refused_with_what_to_use_instead():
    class S(serializers.ModelSerializer):
        tags = serializers.HyperlinkedRelatedField(
            many=True, view_name="tag-detail", read_only=True
        )

        class Meta:
            model = Shelf
            fields = ["id", "tags"]

    assert "PrimaryKeyRelatedField or SlugRelatedField" in _refused(S())


def test_a_generic_relation_is_refused_naming_the_field():
    from tests.fieldsapp.models import Sticker

    class S(serializers.ModelSerializer):
        target = serializers.CharField(source="target.pk", read_only=True)

        class Meta:
            model = Sticker
            fields = ["id", "target"]

    message = _refused(S())
    assert "'target' is a generic relation" in message and "ForeignKey" in message


def test_a_list_serializer_that_filters_in_to_representation_is_refused():
    class ActiveOnly(serializers.ListSerializer):
        def to_representation(self, data: Any) -> list[Any]:
            return super().to_representation(data.filter(active=True))

    class B(serializers.ModelSerializer):
        class Meta:
            model = Book
            fields = ["id"]
            list_serializer_class = ActiveOnly

    class S(serializers.ModelSerializer):
        books = B(many=True, read_only=True)

        class Meta:
            model = Shelf
            fields = ["id", "books"]

    assert "default manager" in _refused(S())


def test_a_foreign_key_to_a_column_other_than_the_primary_key_is_refused():
    from tests.fieldsapp.models import Badge, Holder

    class B(serializers.ModelSerializer):
        class Meta:
            model = Badge
            fields = ["id", "code"]

    class H(serializers.ModelSerializer):
        badge = B()

        class Meta:
            model = Holder
            fields = ["id", "badge"]

    class Hs(serializers.ModelSerializer):
        class Meta:
            model = Holder
            fields = ["id"]

    class WithHolders(serializers.ModelSerializer):
        holders = Hs(many=True)

        class Meta:
            model = Badge
            fields = ["id", "holders"]

    for anchor in (H(), WithHolders()):
        assert "Holder.badge references Badge.code (to_field)" in _refused(anchor)


def test_a_many_to_many_list_ordered_by_an_expression_is_refused():
    from tests.fieldsapp.models import TagByLower

    class T(serializers.ModelSerializer):
        class Meta:
            model = TagByLower
            fields = ["id"]

    class S(serializers.ModelSerializer):
        tags = T(many=True)

        class Meta:
            model = Shelf
            fields = ["id", "tags"]

    assert "TagByLower is ordered by an expression" in _refused(S())


def test_a_declared_dependency_that_is_not_a_relation_is_refused():
    class S(serializers.ModelSerializer):
        n = serializers.SerializerMethodField()

        class Meta:
            model = Shelf
            fields = ["id", "n"]
            depends = {"n": ["title"]}

        def get_n(self, obj: Shelf) -> int:
            return 0

    assert "not a path of relations from Shelf" in _refused(S())


def test_an_undeclared_method_field_is_warned_about_by_check(settings):
    from rxcdc.channels import StateChannel, _registry
    from rxcdc.checks import check_method_fields

    class S(serializers.ModelSerializer):
        n = serializers.SerializerMethodField()

        class Meta:
            model = Shelf
            fields = ["id", "n"]

        def get_n(self, obj: Shelf) -> int:
            return obj.item_set.count()

    class UndeclaredChannel(StateChannel):
        class Meta:
            anchor = S()

    UndeclaredChannel.__module__ = "tests.fieldsapp.channels"
    key = "tests.fieldsapp.channels.UndeclaredChannel"
    _registry[key] = _registry.pop(f"{__name__}.{UndeclaredChannel.__qualname__}")
    try:
        found = [w for w in check_method_fields() if w.id == "rxcdc.W020"]
    finally:
        del _registry[key]
    assert [w.msg.split(" is ")[0] for w in found] == ["S.n"]
    assert 'depends = {"n": ["items"]}' in found[0].hint

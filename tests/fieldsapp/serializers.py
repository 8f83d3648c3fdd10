"""One anchor serializer per kind of field that reads other rows (docs/schemas.md)."""

from typing import Any

from rest_framework import serializers

from tests.fieldsapp.models import (
    Book,
    Entry,
    Item,
    Shelf,
    ShelfProxy,
    Spot,
    Step,
    Task,
    Writer,
)


class TagsShelfSerializer(serializers.ModelSerializer):
    """Related fields and a dotted source: the tag table and the M2M table are dependencies."""

    tag_names = serializers.SlugRelatedField(
        many=True, slug_field="name", source="tags", read_only=True
    )
    tag_ids = serializers.PrimaryKeyRelatedField(many=True, source="tags", read_only=True)
    owner_tag_name = serializers.SlugRelatedField(
        slug_field="name", source="owner_tag", read_only=True
    )
    owner_tag_label = serializers.CharField(source="owner_tag.name", read_only=True)
    owner_tag_text = serializers.StringRelatedField(source="owner_tag")

    class Meta:
        model = Shelf
        fields = [
            "id",
            "title",
            "tag_names",
            "tag_ids",
            "owner_tag_name",
            "owner_tag_label",
            "owner_tag_text",
        ]


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name"]


class ItemsShelfSerializer(serializers.ModelSerializer):
    """A reverse FK without related_name, nested without read_only, and a declared method."""

    items = ItemSerializer(many=True, source="item_set")
    item_count = serializers.SerializerMethodField()
    tag_total = serializers.SerializerMethodField()

    class Meta:
        model = Shelf
        fields = ["id", "items", "item_count", "tag_total"]
        # tag_total's dependency chains: the shelf's items, then their tag links.
        depends = {"item_count": ["item_set"], "tag_total": ["item_set__tags"]}

    def get_item_count(self, obj: Shelf) -> int:
        return obj.item_set.count()

    def get_tag_total(self, obj: Shelf) -> int:
        return sum(item.tags.count() for item in obj.item_set.all())


class SpotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Spot
        fields = ["id", "name", "floor"]


class SpotsShelfSerializer(serializers.ModelSerializer):
    spots = SpotSerializer(many=True, read_only=True)

    class Meta:
        model = Shelf
        fields = ["id", "spots"]


class BookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "title", "active"]


class BooksShelfSerializer(serializers.ModelSerializer):
    featured = BookSerializer(read_only=True)
    books = BookSerializer(many=True, read_only=True)

    class Meta:
        model = Shelf
        fields = ["id", "featured", "books"]


class WriterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Writer
        fields = ["id", "name"]


class EntrySerializer(serializers.ModelSerializer):
    writer = WriterSerializer(read_only=True)

    class Meta:
        model = Entry
        fields = ["id", "writer"]


class EntriesShelfSerializer(serializers.ModelSerializer):
    entries = EntrySerializer(many=True, read_only=True)

    class Meta:
        model = Shelf
        fields = ["id", "entries"]


class ProxyShelfSerializer(serializers.ModelSerializer):
    books = BookSerializer(many=True, read_only=True)

    class Meta:
        model = ShelfProxy
        fields = ["id", "title", "books"]


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = Step
        fields = ["id", "text"]


class TaskSerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True)

    class Meta:
        model = Task
        fields = ["id", "title", "user", "steps"]
        user_key = "user"


class TasksShelfSerializer(serializers.ModelSerializer):
    """Rows under a ``user_key`` row are as private as it is."""

    tasks = TaskSerializer(many=True)

    class Meta:
        model = Shelf
        fields = ["id", "tasks"]


def serializer_for(kind: str) -> Any:
    """The anchor serializer class a channel of this kind uses."""
    return {
        "tags": TagsShelfSerializer,
        "items": ItemsShelfSerializer,
        "spots": SpotsShelfSerializer,
        "books": BooksShelfSerializer,
        "entries": EntriesShelfSerializer,
        "proxy": ProxyShelfSerializer,
        "tasks": TasksShelfSerializer,
    }[kind]

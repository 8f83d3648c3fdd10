"""Nested, read-only serializers over the schemas of ``tests.schemaapp.models``."""

from rest_framework import serializers

from tests.schemaapp.models import (
    Book,
    Crate,
    Drawer,
    Entry,
    Item,
    Label,
    Ledger,
    Sample,
    Shelf,
    Vault,
)


class BookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "year", "title"]


class ShelfSerializer(serializers.ModelSerializer):
    books = BookSerializer(many=True, read_only=True)

    class Meta:
        model = Shelf
        fields = ["id", "name", "books"]


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name"]


class SampleSerializer(serializers.ModelSerializer):
    # Declared: makefrontend has no TypeScript type for a GeneratedField's model field.
    area = serializers.IntegerField(read_only=True)

    class Meta:
        model = Sample
        fields = [
            "id",
            "mood",
            "scores",
            "span",
            "price",
            "wait",
            "w",
            "h",
            "area",
            "nick",
            "weight",
        ]


class CrateSerializer(serializers.ModelSerializer):
    items = ItemSerializer(many=True, read_only=True)
    samples = SampleSerializer(many=True, read_only=True)

    class Meta:
        model = Crate
        fields = ["id", "label", "items", "samples"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name"]


class EntrySerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)

    class Meta:
        model = Entry
        fields = ["id", "code", "amount", "labels"]


class LedgerSerializer(serializers.ModelSerializer):
    entries = EntrySerializer(many=True, read_only=True)

    class Meta:
        model = Ledger
        fields = ["id", "name", "entries"]


class DrawerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Drawer
        fields = ["slug", "note"]


class VaultSerializer(serializers.ModelSerializer):
    drawers = DrawerSerializer(many=True, read_only=True)

    class Meta:
        model = Vault
        fields = ["id", "name", "drawers"]

"""Nested, read-only serializers three levels deep; every one includes its ``id``."""

from rest_framework import serializers

from tests.exactapp.models import Author, Board, BoardSettings, Card, Column, Cover, Label, Note


class CoverSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cover
        fields = ["id", "caption"]


class BoardSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = BoardSettings
        fields = ["id", "color"]


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name"]


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "text", "user"]
        user_key = "user"


class CardSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    labels = LabelSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta:
        model = Card
        fields = ["id", "title", "position", "payload", "author", "labels", "notes"]


class ColumnSerializer(serializers.ModelSerializer):
    cards = CardSerializer(many=True, read_only=True)

    class Meta:
        model = Column
        fields = ["id", "title", "position", "cards"]


class BoardSerializer(serializers.ModelSerializer):
    cover = CoverSerializer(read_only=True)
    settings = BoardSettingsSerializer(read_only=True)
    columns = ColumnSerializer(many=True, read_only=True)

    class Meta:
        model = Board
        fields = ["id", "title", "cover", "settings", "columns"]

"""Nested, read-only serializers three levels deep; every one includes its ``id``.

Cards also carry fields that read other rows (a slug list, a dotted source, a method with
``Meta.depends``): the state machine proves them exact too.
"""

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
    # Fields that read other rows (dependencies): the label table and links, the parent column,
    # and every user's notes.
    label_names = serializers.SlugRelatedField(
        many=True, slug_field="name", source="labels", read_only=True
    )
    column_title = serializers.CharField(source="column.title", read_only=True)
    note_count = serializers.SerializerMethodField()

    class Meta:
        model = Card
        fields = [
            "id",
            "title",
            "position",
            "payload",
            "author",
            "labels",
            "notes",
            "label_names",
            "column_title",
            "note_count",
        ]
        depends = {"note_count": ["notes"]}

    def get_note_count(self, obj: Card) -> int:
        return obj.notes.count()


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

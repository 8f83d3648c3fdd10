from rest_framework import serializers

from tests.testapp.models import Author, Board, Card, Message, Note, Room, Tag


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]


class MessageSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    tags = TagSerializer(many=True, read_only=True)
    shout = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "text", "author", "tags", "shout"]
        depends = {"shout": []}  # reads its own row only

    def get_shout(self, obj: Message) -> str:
        return obj.text.upper()


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "text", "user"]
        user_key = "user"


class RoomSerializer(serializers.ModelSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta:
        model = Room
        fields = ["id", "name", "messages", "notes"]


class CardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["id", "title", "done"]


class BoardSerializer(serializers.ModelSerializer):
    cards = CardSerializer(many=True, read_only=True)

    class Meta:
        model = Board
        fields = ["id", "title", "owner", "cards"]

# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
"""The state every peer shows: a room, its messages, their author and who liked them."""

from rest_framework import serializers

from tests.bench_peers.chat.models import Author, Message, Room


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name"]


class MessageSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    likes = AuthorSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "text", "author", "likes"]


class RoomSerializer(serializers.ModelSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta:
        model = Room
        fields = ["id", "name", "messages"]

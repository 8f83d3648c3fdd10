"""The chat state: a room with its messages and their authors (nested, read-only)."""

from django.contrib.auth.models import User
from rest_framework import serializers

from chat.models import ChatRoom, Message


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]


class MessageSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "text", "created", "author"]


class ChatRoomSerializer(serializers.ModelSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta:
        model = ChatRoom
        fields = ["id", "name", "messages"]

"""The anchor the quickstart imports (``from chat.serializers import ChatRoomSerializer``)."""

from rest_framework import serializers

from chat.models import ChatRoom, Message


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "text"]


class ChatRoomSerializer(serializers.ModelSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta:
        model = ChatRoom
        fields = ["name", "messages"]

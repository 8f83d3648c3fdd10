"""The anchor the quickstart imports; a room of the test app (no models of its own)."""

from rest_framework import serializers

from tests.testapp.models import Room


class ChatRoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "name"]

"""The checklist state: tasks (private to their user) with their items."""

from rest_framework import serializers

from checklist.models import Item, Task


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "text", "done"]


class TaskSerializer(serializers.ModelSerializer):
    items = ItemSerializer(many=True, read_only=True)

    class Meta:
        model = Task
        fields = ["id", "title", "items"]
        user_key = "user"  # a task row only ever reaches its own user's sockets

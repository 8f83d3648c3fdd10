"""What the quickstart's ``ChatRoomSerializer`` serializes (the quickstart does not show it).

The route is ``ws/chat/<str:room_name>/`` and the channel overrides no ``get_anchor``: the
room's name is its primary key.
"""

from django.db import models


class ChatRoom(models.Model):
    name = models.CharField(max_length=100, primary_key=True)


class Message(models.Model):
    room = models.ForeignKey(ChatRoom, related_name="messages", on_delete=models.CASCADE)
    text = models.TextField()

    class Meta:
        ordering = ["id"]

"""Chat rooms and their messages."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ChatRoom(models.Model):
    """A room, named in its URL: ``/chat/<name>``."""

    name = models.SlugField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One message, by a user, in a room."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]  # the order of ChatRoomSerializer.messages

    def __str__(self) -> str:
        return self.text

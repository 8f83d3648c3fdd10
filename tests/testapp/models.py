from django.conf import settings
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Tag(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]


class Room(models.Model):
    name = models.CharField(max_length=100)


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField()
    tags = models.ManyToManyField(Tag, related_name="messages", blank=True)
    # Not serialized, but loaded with the row: 'infinity' is a value Django cannot load.
    due = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class Note(models.Model):
    """Private to one user: scoped with ``user_key``."""

    room = models.ForeignKey(Room, related_name="notes", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.TextField()

    class Meta:
        ordering = ["id"]


class Board(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=100)


class Card(models.Model):
    board = models.ForeignKey(Board, related_name="cards", on_delete=models.CASCADE)
    title = models.CharField(max_length=100)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Room(models.Model):
    name = models.CharField(max_length=100)


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    author = models.ForeignKey(Author, related_name="messages", on_delete=models.CASCADE)
    text = models.TextField()
    likes = models.ManyToManyField(Author, related_name="liked", blank=True)

    class Meta:
        ordering = ["id"]

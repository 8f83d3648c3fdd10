"""Board → columns → cards → notes/labels/author, plus a settings row and a cover.

Every model has ``Meta.ordering``: nested lists are compared in order, so the order is part of
what the clients must get right. The tests write with raw SQL, so ``on_delete`` only documents
what the SQL does by hand (Django's constraints are deferred and have no ON DELETE action).
"""

from django.conf import settings
from django.db import models


class Cover(models.Model):
    """Reached from a board by a forward one-to-one (the FK lives on the board)."""

    caption = models.TextField()

    class Meta:
        ordering = ["id"]


class Board(models.Model):
    """The anchor."""

    title = models.TextField()
    cover = models.OneToOneField(
        Cover, null=True, blank=True, on_delete=models.SET_NULL, related_name="board"
    )

    class Meta:
        ordering = ["id"]


class BoardSettings(models.Model):
    """A reverse one-to-one: nested as a single object (or null)."""

    board = models.OneToOneField(Board, on_delete=models.CASCADE, related_name="settings")
    color = models.TextField()

    class Meta:
        ordering = ["id"]


class Column(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="columns")
    title = models.TextField()
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class Author(models.Model):
    """Reached by a nullable forward FK from cards; may exist outside any board."""

    name = models.TextField()

    class Meta:
        ordering = ["id"]


class Label(models.Model):
    """Linked to cards many-to-many (global, shared by boards)."""

    name = models.TextField()

    class Meta:
        ordering = ["name", "id"]


class Card(models.Model):
    column = models.ForeignKey(Column, on_delete=models.CASCADE, related_name="cards")
    title = models.TextField()
    position = models.IntegerField(default=0)
    payload = models.JSONField(default=dict)
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="cards"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="cards")

    class Meta:
        ordering = ["position", "id"]


class Note(models.Model):
    """Private to one user (``user_key``): other users never see it nor its id."""

    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="notes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exact_notes"
    )
    text = models.TextField()

    class Meta:
        ordering = ["id"]

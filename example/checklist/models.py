"""A user's tasks, each a checklist of items."""

from django.conf import settings
from django.db import models


class Task(models.Model):
    """A checklist owned by one user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class Item(models.Model):
    """One line of a task's checklist."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="items")
    text = models.CharField(max_length=200)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text

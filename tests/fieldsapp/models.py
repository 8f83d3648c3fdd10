"""A shelf and what DRF serializers read besides nested serializers (docs/schemas.md)."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.functions import Lower


class Tag(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"#{self.name}"


class Shelf(models.Model):
    title = models.CharField(max_length=50)
    tags = models.ManyToManyField(Tag, related_name="shelves", blank=True)
    owner_tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="owned_shelves")
    featured = models.ForeignKey("Book", on_delete=models.SET_NULL, null=True, related_name="+")


class Item(models.Model):
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)  # no related_name: item_set
    name = models.CharField(max_length=50)
    tags = models.ManyToManyField(Tag, related_name="items", blank=True)


class Place(models.Model):
    name = models.CharField(max_length=50)


class Spot(Place):
    """Multi-table inheritance: ``name`` lives in the parent's table."""

    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="spots")
    floor = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]


class ActiveBooks(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(active=True)


class Book(models.Model):
    """The default manager hides inactive books from ``shelf.books.all()``, not from FKs."""

    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="books")
    title = models.CharField(max_length=50)
    active = models.BooleanField(default=True)

    objects = ActiveBooks()
    everything = models.Manager()

    class Meta:
        ordering = ["id"]
        base_manager_name = "everything"


class Writer(models.Model):
    name = models.CharField(max_length=50)


class Entry(models.Model):
    """Listed by its writer's name: a rename reorders the shelf's list."""

    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="entries")
    writer = models.ForeignKey(Writer, on_delete=models.CASCADE)

    class Meta:
        ordering = ["writer__name", "id"]


class Sticker(models.Model):
    """A generic relation: refused (nothing in the WAL says which model a row points at)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    target = GenericForeignKey("content_type", "object_id")


class Badge(models.Model):
    code = models.CharField(max_length=20, unique=True)


class Holder(models.Model):
    """A ForeignKey to a column that is not the primary key: refused."""

    badge = models.ForeignKey(
        Badge, to_field="code", on_delete=models.CASCADE, related_name="holders"
    )


class ShelfProxy(Shelf):
    """A proxy: the concrete model's table, its own Python class."""

    class Meta:
        proxy = True


class TagByLower(Tag):
    """Ordered by an expression: refused through a many-to-many link table."""

    class Meta:
        proxy = True
        ordering = [Lower("name")]


class Task(models.Model):
    """Private to its user (``user_key``); its steps are private with it."""

    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="tasks")
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=50)

    class Meta:
        ordering = ["id"]


class Step(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps")
    text = models.CharField(max_length=50)

    class Meta:
        ordering = ["id"]

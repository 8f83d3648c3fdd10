"""Postgres schemas a Django project really has: every table here is made by raw SQL.

- ``Book``: a partitioned table (``PARTITION BY RANGE (year)``, one range sub-partitioned
  ``BY HASH``; primary key ``(id, year)``).
- ``Crate``/``Item``: keys and foreign keys of a DOMAIN type over ``integer``.
- ``Sample``: column types that are not keys (enum, arrays, range, money, interval, a generated
  column, citext, a domain over numeric).
- ``Entry``: ``REPLICA IDENTITY USING INDEX`` on a unique ``code``; its labels' through table
  ``USING INDEX`` on the (entry, label) pair; ``Label`` is ``REPLICA IDENTITY FULL``.
- ``Vault`` (schema ``archive``, UUID key) and ``Drawer`` (text key).
- ``Pairing``: a Django 5.2 ``CompositePrimaryKey`` (only refused, never in a channel here).

The tests write with raw SQL; ``on_delete`` documents what the SQL does by hand.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models


class Shelf(models.Model):
    name = models.TextField()

    class Meta:
        ordering = ["id"]


class Book(models.Model):
    """Rows live in the partitions of ``schemaapp_book`` (by year)."""

    shelf = models.ForeignKey(
        Shelf, on_delete=models.CASCADE, related_name="books", db_constraint=False
    )
    year = models.IntegerField()
    title = models.TextField()

    class Meta:
        ordering = ["year", "id"]


class Crate(models.Model):
    id = models.IntegerField(primary_key=True)  # DOMAIN schemaapp_key
    label = models.TextField()

    class Meta:
        ordering = ["id"]


class Item(models.Model):
    id = models.IntegerField(primary_key=True)  # DOMAIN schemaapp_key
    crate = models.ForeignKey(Crate, on_delete=models.CASCADE, related_name="items")
    name = models.TextField()

    class Meta:
        ordering = ["id"]


class Sample(models.Model):
    crate = models.ForeignKey(Crate, on_delete=models.CASCADE, related_name="samples")
    mood = models.TextField()  # enum schemaapp_mood
    scores = ArrayField(models.IntegerField())  # integer[]
    span = models.TextField()  # int4range
    price = models.TextField()  # money
    wait = models.DurationField()  # interval
    w = models.IntegerField()
    h = models.IntegerField()
    area = models.GeneratedField(
        expression=models.F("w") * models.F("h"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    nick = models.TextField()  # citext
    weight = models.DecimalField(max_digits=12, decimal_places=3)  # DOMAIN over numeric

    class Meta:
        ordering = ["id"]


class Ledger(models.Model):
    name = models.TextField()

    class Meta:
        ordering = ["id"]


class Label(models.Model):
    name = models.TextField()

    class Meta:
        ordering = ["name", "id"]


class Entry(models.Model):
    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="entries")
    code = models.TextField(unique=True)
    amount = models.IntegerField()
    labels = models.ManyToManyField(Label, related_name="entries", blank=True)

    class Meta:
        ordering = ["code"]


class Vault(models.Model):
    id = models.UUIDField(primary_key=True)
    name = models.TextField()

    class Meta:
        db_table = 'archive"."vault'
        ordering = ["name"]


class Drawer(models.Model):
    slug = models.TextField(primary_key=True)
    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="drawers")
    note = models.TextField()

    class Meta:
        ordering = ["slug"]


class Pairing(models.Model):
    pk = models.CompositePrimaryKey("shelf_id", "crate_id")
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="pairings")
    crate = models.ForeignKey(Crate, on_delete=models.CASCADE, related_name="pairings")
    note = models.TextField()

"""Models of the rxcdc.api tests (DCRF-style consumers and observers)."""

from django.db import models


class School(models.Model):
    name = models.CharField(max_length=100)


class Classroom(models.Model):
    school = models.ForeignKey(School, related_name="classrooms", on_delete=models.CASCADE)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Widget(models.Model):
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=20, default="red")
    size = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]


class Gadget(models.Model):
    """A string primary key."""

    code = models.CharField(max_length=32, primary_key=True)
    label = models.CharField(max_length=100)

"""The two models DCRF's tests import from ``tests.models`` (not shipped in its sdist)."""

from django.db import models


class TestModel(models.Model):
    __test__ = False  # a model, not a test class

    name = models.CharField(max_length=255)


class TestModelWithCustomPK(models.Model):
    __test__ = False

    name = models.CharField(max_length=255, primary_key=True)
    description = models.CharField(max_length=255, null=True, blank=True)

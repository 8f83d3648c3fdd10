"""The worker serializes an observed row only for groups somebody subscribed to."""

import logging

import pytest
from rest_framework import serializers

from rxcdc.api.observer import registry
from rxcdc.api.observer.model_observer import ModelObserver
from tests.api.test_sink import school_group
from tests.apiapp import consumers
from tests.apiapp.models import Classroom, School, Widget

pytestmark = pytest.mark.django_db(transaction=True)


class Broken(serializers.Serializer):
    def to_representation(self, instance):
        raise RuntimeError("no subscriber needs this body")


async def noop(self, message, **kwargs):
    pass


@pytest.fixture
def broken_observer():
    observer = ModelObserver(noop, Widget, serializer_class=Broken)
    yield observer
    registry.unregister(observer.observer_id)


def test_rows_nobody_listens_to_are_not_serialized(driver, listener, broken_observer, caplog):
    a, b = School.objects.create(name="a"), School.objects.create(name="b")
    listener.join(school_group(a))
    consumers.SERIALIZED.clear()
    with caplog.at_level(logging.INFO, logger="rxcdc.api"):
        in_a = Classroom.objects.create(school=a, name="heard")
        Classroom.objects.create(school=b, name="unheard")
        Widget.objects.create(name="w")
        driver.pump()
    assert [(in_a.pk, "create")] == consumers.SERIALIZED
    assert [m["body"]["name"] for m in listener.receive(1)] == ["heard"]
    assert "no subscriber needs this body" not in caplog.text

    listener.join(broken_observer.default_group())  # now someone does: its failure is logged
    with caplog.at_level(logging.INFO, logger="rxcdc.api"):
        Widget.objects.create(name="w2")
        driver.pump()
    assert "no subscriber needs this body" in caplog.text

"""``observer(signal)``: DCRF's signal observer, sent in the process that sends the signal."""

import django.dispatch
import pytest

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.decorators import action
from rxcdc.api.observer import observer
from tests.api.conftest import ask, connected, frame

pytestmark = pytest.mark.django_db(transaction=True)

price_changed = django.dispatch.Signal()


class PriceConsumer(AsyncAPIConsumer):
    @observer(price_changed)
    async def price_change(self, message, observer=None, subscribing_request_ids=(), **kwargs):
        await self.send_json({"message": message, "ids": subscribing_request_ids})

    @price_change.serializer
    def price_change(self, signal, sender=None, symbol=None, price=None, **kwargs):
        return {"symbol": symbol, "price": price}

    @price_change.groups_for_signal
    def price_change(self, symbol=None, **kwargs):
        yield f"symbol-{symbol}"

    @price_change.groups_for_consumer
    def price_change(self, symbol=None, **kwargs):
        yield f"symbol-{symbol}"

    @action()
    async def watch(self, symbol, request_id, **kwargs):
        await self.price_change.subscribe(symbol=symbol, request_id=request_id)
        return None, 201


async def test_signal_observer_sends_to_the_groups_of_the_signal():
    async with connected(PriceConsumer.as_asgi()) as comm:
        assert await ask(comm, action="watch", symbol="ACME", request_id=3) == frame(
            "watch", None, 201, 3
        )
        price_changed.send(sender=None, symbol="OTHER", price=1)
        price_changed.send(sender=None, symbol="ACME", price=2)
        assert await comm.receive_json_from(5) == {
            "message": {"symbol": "ACME", "price": 2},
            "ids": [3],
        }
        assert await comm.receive_nothing(0.2)

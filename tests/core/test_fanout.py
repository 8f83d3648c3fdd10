"""Publishing stays within the channel layer's connection pool."""

from rxcdc.fanout import Publisher


def test_one_transaction_can_publish_to_thousands_of_anchors(redis_url):
    publisher = Publisher(timeout=60)
    try:
        publisher.group_send([(f"rx.test.{i}", {"type": "rx.update"}) for i in range(3000)])
    finally:
        publisher.close()

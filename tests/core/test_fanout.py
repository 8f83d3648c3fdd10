"""Publishing one transaction to thousands of anchor groups: every group gets its own message."""

import redis

from rxcdc.fanout import PUBLISH_CONCURRENCY, Publisher
from rxcdc.testing.listener import Listener


def test_one_transaction_reaches_each_of_thousands_of_anchor_groups(redis_url):
    listener = Listener()
    watched = [0, 1, 1499, 2998, 2999]
    for i in watched:
        listener.join(f"rx.test.{i}")
    publisher = Publisher(timeout=60)
    try:
        failures = publisher.group_send(
            [(f"rx.test.{i}", {"type": "rx.update", "n": i}) for i in range(3000)]
        )
        assert failures == []
        got = listener.drain(timeout=1.0)  # quiet for 1 s after the last message
    finally:
        publisher.close()
        listener.close()
    assert sorted(m["n"] for m in got) == watched  # each once, none of the other groups'


def test_publishing_stays_within_its_concurrency_bound(redis_url):
    """3,000 sends do not open 3,000 connections: at most the publisher's concurrency."""
    admin = redis.Redis.from_url(redis_url)
    before = len(admin.client_list())
    publisher = Publisher(timeout=60)
    try:
        publisher.group_send([(f"rx.test.{i}", {"type": "rx.update"}) for i in range(3000)])
        during = len(admin.client_list())
    finally:
        publisher.close()
    assert during - before <= PUBLISH_CONCURRENCY

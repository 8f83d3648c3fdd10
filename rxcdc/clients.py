"""Process-wide MongoDB and Redis clients for consumers (both are thread-safe and pooled)."""

from __future__ import annotations

import functools

import redis

from rxcdc import conf
from rxcdc.cache import Cache
from rxcdc.conf import rx_settings
from rxcdc.heat import Heater

__all__ = ["cache", "heater"]


@functools.cache
def cache() -> Cache:
    """The cache, read by consumers (only the worker writes it)."""
    return Cache(conf.mongo_url(), rx_settings.MONGO_DB)


@functools.cache
def heater() -> Heater:
    """Heat requests and liveness keys."""
    return Heater(redis.Redis.from_url(conf.redis_url()))


def reset() -> None:
    """Forget the clients (tests that change settings call this)."""
    cache.cache_clear()
    heater.cache_clear()

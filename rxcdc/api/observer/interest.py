"""Which observer groups have subscribers, asked of the channel layer that holds the groups.

The worker serializes a row only for groups someone listens to. Each layer is asked where it
keeps its groups: channels_redis's pub/sub layer by ``PUBSUB NUMSUB`` of the groups' Redis
channels, its core layer by the groups' sorted sets, the in-memory layer (same process only:
the test worker of ``rxcdc.api.testing``) by its ``groups``. Any other layer, or a failed
question, counts every group as subscribed: an extra serialization, never a lost message.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from django.conf import settings

__all__ = ["subscribed"]

log = logging.getLogger("rxcdc.api")

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
CORE = "channels_redis.core.RedisChannelLayer"
MEMORY = "channels.layers.InMemoryChannelLayer"

_clients: dict[str, Any] = {}


def subscribed(groups: Collection[str]) -> set[str]:
    """The ``groups`` that have at least one subscriber (all of them when the layer cannot say)."""
    if not groups:
        return set()
    config = getattr(settings, "CHANNEL_LAYERS", {}).get(DEFAULT_CHANNEL_LAYER, {})
    backend = config.get("BACKEND", "")
    try:
        if backend == PUBSUB:
            return _redis(config, groups, pubsub=True)
        if backend == CORE:
            return _redis(config, groups, pubsub=False)
        if backend == MEMORY:
            return _memory(groups)
    except Exception:
        log.warning("could not ask %s for subscribers; serializing anyway", backend, exc_info=True)
    return set(groups)


def _memory(groups: Collection[str]) -> set[str]:
    from channels.layers import get_channel_layer

    held = getattr(get_channel_layer(), "groups", None)
    if held is None:
        return set(groups)
    return {g for g in groups if held.get(g)}


def _redis(config: dict[str, Any], groups: Collection[str], *, pubsub: bool) -> set[str]:
    from channels_redis.utils import _consistent_hash

    options = config.get("CONFIG", {})
    prefix = options.get("prefix", "asgi")
    hosts = _hosts(options.get("hosts"))
    if any("master_name" in host for host in hosts):
        return set(groups)  # Sentinel: not asked (yet)
    # The names the layer uses: a Redis channel per group (pub/sub), a sorted set (core).
    by_shard: dict[int, dict[str, str]] = defaultdict(dict)
    for group in groups:
        key = f"{prefix}__group__{group}" if pubsub else f"{prefix}:group:{group}"
        shard = _consistent_hash(key if pubsub else group, len(hosts))
        by_shard[shard][key] = group
    found: set[str] = set()
    for shard, keys in by_shard.items():
        client = _client(hosts[shard])
        names = list(keys)
        if pubsub:
            counts = dict(client.pubsub_numsub(*names))
            found |= {keys[_text(k)] for k, n in counts.items() if n and _text(k) in keys}
        else:
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.exists(name)
            found |= {keys[name] for name, n in zip(names, pipe.execute(), strict=True) if n}
    return found


def _hosts(hosts: Any) -> list[dict[str, Any]]:
    from channels_redis.utils import decode_hosts

    return list(decode_hosts(hosts))


def _client(host: dict[str, Any]) -> Any:
    import redis

    key = repr(sorted(host.items(), key=str))
    if key not in _clients:
        options = {k: v for k, v in host.items() if k != "address"}
        if "address" in host:
            _clients[key] = redis.Redis.from_url(host["address"], **options)
        else:
            _clients[key] = redis.Redis(**options)
    return _clients[key]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

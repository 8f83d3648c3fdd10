"""Heat requests (consumer → worker) and liveness keys that decide when anchors cool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis

from rxcdc.serialize import jsonable

__all__ = ["HeatRequest", "Heater", "alive_key"]

HEAT_QUEUE = "rx:heat"
COOL_QUEUE = "rx:cool"
WORKER_KEY = "rx:worker"
# Delete the key only if it still names this worker: compare and delete in one step.
_RETRACT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def alive_key(label: str, anchor: Any) -> str:
    """Redis key a connected consumer keeps alive (with a TTL) for each anchor it shows."""
    return f"rx:alive:{label}:{jsonable(anchor)}"


@dataclass(frozen=True)
class HeatRequest:
    """A consumer asks for ``anchor`` of channel ``label``; the answer goes to ``reply``."""

    label: str
    anchor: Any
    reply: str


class Heater:
    """Both ends of the heat queue and the liveness keys, over plain Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # consumer side
    def request(self, req: HeatRequest, ttl: float) -> None:
        """Queue a heat request and mark the anchor alive."""
        pipe = self.redis.pipeline()
        pipe.set(alive_key(req.label, req.anchor), 1, px=int(ttl * 1000))
        pipe.rpush(
            HEAT_QUEUE,
            json.dumps({"label": req.label, "anchor": jsonable(req.anchor), "reply": req.reply}),
        )
        pipe.execute()

    def touch(self, label: str, anchor: Any, ttl: float) -> None:
        """Keep an anchor alive for another ``ttl`` seconds."""
        self.redis.set(alive_key(label, anchor), 1, px=int(ttl * 1000))

    def worker_alive(self) -> bool:
        """Whether a replication worker announced itself recently."""
        return bool(self.redis.exists(WORKER_KEY))

    def watch(self) -> tuple[bool, str]:
        """(worker alive, the Redis server's ``run_id``) in one round trip.

        The ``run_id`` changes whenever Redis restarts (or fails over): what was published
        meanwhile is lost, and so is everything a restart without persistence forgets.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(WORKER_KEY)
        pipe.info("server")
        alive, info = pipe.execute()
        return bool(alive), str(info["run_id"])

    # worker side
    def pop(self, limit: int = 100) -> tuple[list[HeatRequest], list[tuple[str | None, Any]]]:
        """Take up to ``limit`` queued heat and cool requests, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpop(HEAT_QUEUE, limit)
        pipe.lpop(COOL_QUEUE, limit)
        heats, cools = cast("list[list[bytes] | None]", pipe.execute())
        requests = [
            HeatRequest(d["label"], d["anchor"], d["reply"])
            for d in (json.loads(i) for i in heats or ())
        ]
        cooling = [(d["label"], d["anchor"]) for d in (json.loads(i) for i in cools or ())]
        return requests, cooling

    def expired(self, keys: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Which of these (label, anchor) pairs nobody has kept alive."""
        if not keys:
            return []
        pipe = self.redis.pipeline()
        for label, anchor in keys:
            pipe.exists(alive_key(label, anchor))
        return [k for k, alive in zip(keys, pipe.execute(), strict=True) if not alive]

    def request_cool(self, label: str | None, anchor: Any = None) -> None:
        """Ask the worker to drop anchors from the cache (all, a channel's, or one)."""
        self.redis.rpush(COOL_QUEUE, json.dumps({"label": label, "anchor": jsonable(anchor)}))

    def announce_worker(self, pid: int, ttl: float) -> None:
        """Tell consumers a worker is running (so a missing one is reported, not waited on)."""
        self.redis.set(WORKER_KEY, pid, px=int(ttl * 1000))

    def retract_worker(self, pid: int) -> None:
        """On a clean stop: consumers hear the worker is gone now, not when its key expires.

        Only this worker's own announcement is removed (a standby may already have taken over).
        """
        self.redis.eval(_RETRACT, 1, WORKER_KEY, str(pid))

"""Issue 19: connections' checks against the cache spread out and share queries (no burst).

Connections opened together used to check together every ``RX_RESYNC_INTERVAL``, and a Redis
restart or the worker's return made every connection of the process query the cache at the
same moment. Over real consumers (one room each), a live worker, real Redis and the cache; the
cache's ``anchors_behind`` is wrapped to record when it runs and for which anchors.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rxcdc import liveness
from rxcdc.cache import Cache
from rxcdc.testing.waiting import until
from tests.testapp.models import Room
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)


class Queries:
    """Every ``Cache.anchors_behind`` call: (monotonic time, anchors asked about)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[float, set[Any]]] = []
        self.lock = threading.Lock()  # called from sync_to_async threads
        real = Cache.anchors_behind

        def recorded(cache: Cache, label: str, lsns: dict[Any, int]) -> set[Any]:
            with self.lock:
                self.calls.append((time.monotonic(), set(lsns)))
            return real(cache, label, lsns)

        monkeypatch.setattr(Cache, "anchors_behind", recorded)

    def since(self, start: float) -> list[tuple[float, set[Any]]]:
        with self.lock:
            return [c for c in self.calls if c[0] >= start]

    def first(self, anchor: Any) -> float | None:
        with self.lock:
            return next((t for t, anchors in self.calls if anchor in anchors), None)


async def open_rooms(n: int) -> tuple[list[Client], dict[int, float]]:
    """``n`` rooms, one live connection each; returns them and when each one's auth.ok came."""

    @sync_to_async
    def setup() -> tuple[list[int], str]:
        user = User.objects.create(username="spread")
        rooms = [Room.objects.create(name=f"r{i}").pk for i in range(n)]
        return rooms, Token.objects.create(user=user).key

    rooms, token = await setup()
    clients, opened = [], {}
    for room in rooms:
        c = Client(f"/ws/room/{room}/")
        assert (await c.connect(token=token) or {})["type"] == "auth.ok"
        opened[room] = time.monotonic()
        clients.append(c)
    for c in clients:
        await c.until(lambda f: f["type"] == "snapshot.end")
    return clients, opened


async def test_connections_opened_together_check_at_spread_points_of_the_interval(
    live_worker, settings, monkeypatch
):
    interval = 6.0
    settings.RX_RESYNC_INTERVAL = interval
    queries = Queries(monkeypatch)
    clients, opened = await open_rooms(20)
    await until(
        lambda: all(queries.first(room) is not None for room in opened),
        "every connection checked its anchor once",
        2 * interval + 10,
    )
    # Where in its interval each connection checks (a check that falls while the snapshot still
    # loads has nothing to ask: the first query comes one interval later, at the same phase).
    phases = [((queries.first(room) or 0.0) - at) % interval for room, at in opened.items()]
    # Unspread, every connection checks a whole interval after it opened (phase about 0);
    # uniform phases put about 10 of 20 in the middle half of the interval.
    middle = [p for p in phases if 0.25 * interval <= p < 0.75 * interval]
    assert len(middle) >= 3, sorted(phases)
    for c in clients:
        await c.close()


async def test_every_connection_told_of_a_redis_restart_checks_in_a_few_shared_queries(
    live_worker, settings, monkeypatch
):
    settings.RX_RESYNC_INTERVAL = 3600  # only the event makes them check
    queries = Queries(monkeypatch)
    n = 30
    clients, opened = await open_rooms(n)
    watch = liveness.watch()
    start = time.monotonic()
    watch.run_id = "the server before the restart"  # the next reading differs: a restart
    await watch.check()
    await until(
        lambda: set(opened) <= set().union(*(a for _t, a in queries.since(start))),
        "every connection checked its anchor",
        20,
    )
    calls = queries.since(start)
    # One query per connection before; checks within 50 ms of each other now share one.
    assert len(calls) <= n // 3, [(round(t - start, 3), sorted(a)) for t, a in calls]
    for c in clients:
        await c.close()

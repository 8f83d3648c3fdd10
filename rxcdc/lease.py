"""The worker's lease on its slot: renewed from its loop, checked before it writes or streams.

See docs/reliability.md ("A frozen worker"): a standby fences a worker whose lease lapsed, and
a worker that wakes up after that finds out here, before it writes, publishes or acknowledges.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from replication.errors import ConnectionLost
from replication.leader import SlotLock

__all__ = ["Lease"]


class Lease:
    """Renew ``lock`` every quarter of its lease; ``position()``: the LSN acknowledged so far."""

    def __init__(self, lock: SlotLock, position: Callable[[], int]) -> None:
        assert lock.lease is not None, "a SlotLock with a lease"
        self.lock, self.position, self.timeout = lock, position, lock.lease
        self.renewed = time.monotonic()  # when the last successful renewal was sent

    def check(self, *, force: bool = False) -> None:
        """Renew if a quarter of the lease passed (always with ``force``).

        The local clock is monotonic and counts time stopped (SIGSTOP), so a worker that wakes
        after its lease lapsed always asks the server first. Raises ``LeaseLost`` when another
        worker took over; ``ConnectionError`` (an outage, waited out) when Postgres is down.
        """
        sent = time.monotonic()
        if not force and sent - self.renewed < self.timeout / 4:
            return
        try:
            self.lock.renew(self.position())
        except ConnectionLost as exc:
            raise ConnectionError(str(exc)) from exc
        self.renewed = sent

    def before_connect(self) -> None:
        """For ``ReplicationStream(before_connect=…)``: never stream again once fenced."""
        try:
            self.check(force=True)
        except ConnectionError as exc:
            raise ConnectionLost(str(exc)) from exc

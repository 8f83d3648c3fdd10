"""The worker's lease on its slot: renewed from its loop, checked before it writes or streams.

See docs/reliability.md ("A frozen worker"): a standby fences a worker whose lease lapsed, and
a worker that wakes up after that finds out here, before it writes, publishes or acknowledges.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from replication.errors import ConnectionLost
from replication.leader import SlotLock

__all__ = ["DEFAULT_TIMEOUT", "Lease", "timeout"]

# Seconds a worker may go without renewing before a standby takes over (RX_LEASE_TIMEOUT).
DEFAULT_TIMEOUT = 10.0


def timeout() -> float:
    """``RX_LEASE_TIMEOUT`` in seconds (``DEFAULT_TIMEOUT`` unless set)."""
    return float(getattr(settings, "RX_LEASE_TIMEOUT", DEFAULT_TIMEOUT))


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

"""The worker process's cycle-collector policy: no full collection while transactions wait.

The hot state is millions of small objects without reference cycles (reference counting frees
a replaced row). CPython's full collection walks every tracked object the collector has not
frozen: with every room of bench_worker (a) hot, a 100,000-row UPDATE ran 6 full collections
of ≈ 0.7 s each, a quarter of its time, and every transaction behind them waited. So a
``Collector`` (one per process: the thresholds and the frozen set are the process's):

- turns automatic full collections off (young ones run as before, and never walk the old
  generation, where the hot state ends up);
- runs a full collection, then freezes what survived, every ``interval`` seconds: at the first
  idle tick after that, or at any event once twice that passed, so that cyclic garbage stays
  bounded under steady load. Only a full collection is followed by a freeze: freezing after a
  young one would also freeze the old generation's dead cycles, for good.

An object frozen while alive that later becomes cyclic garbage is not freed (only reference
counting reaches it): the price of not walking the hot state.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from replication import Tick

__all__ = ["Collector"]

_NEVER = 2**31 - 1  # a third-generation threshold never reached: no automatic full collection


class Collector:
    """Runs the policy above from the worker's thread: ``install()``, ``after()`` each event.

    ``interval``: seconds between full collections (see the module). ``clock``: seconds.
    """

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self.full = 0  # full collections this policy ran
        self._last = clock()
        self._saved: tuple[int, int, int] | None = None

    def install(self) -> None:
        """Turn automatic full collections off (process-wide) and freeze what is alive now."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _full = self._saved
            gc.set_threshold(young, middle, _NEVER)
        self._collect_and_freeze()

    def uninstall(self) -> None:
        """Restore the thresholds ``install`` found and unfreeze everything (once installed)."""
        if self._saved is None:
            return  # never installed: what is frozen is someone else's
        gc.set_threshold(*self._saved)
        self._saved = None
        gc.unfreeze()

    def after(self, event: object) -> None:
        """Called after each stream event: a full collection, then a freeze, when one is due."""
        since = self.clock() - self._last
        if since >= 2 * self.interval or (since >= self.interval and isinstance(event, Tick)):
            self._collect_and_freeze()

    def _collect_and_freeze(self) -> None:
        # Collected first, so that only what is alive is frozen.
        gc.collect()
        self.full += 1
        self._last = self.clock()
        gc.freeze()

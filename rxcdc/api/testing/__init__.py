"""Run ``rxcdc.api`` observers for real in a test process (DCRF-style test suites).

``ObserverWorker`` streams the test database's WAL into the observers; ``CommitHook`` makes
every commit of the test process wait until the worker has sent what it caused. The pytest
plugin ``rxcdc.api.testing.plugin`` wires both to pytest-django's test database.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from rxcdc.api.testing.commits import CommitHook
from rxcdc.api.testing.worker import ObserverWorker

__all__ = ["CommitHook", "ObserverWorker", "acatch_up", "catch_up", "current", "running"]

_current: ObserverWorker | None = None


def running(worker: ObserverWorker | None) -> None:
    """Make ``worker`` the one ``catch_up()`` uses (None: none)."""
    global _current
    _current = worker


def current() -> ObserverWorker:
    """The running test worker; ``RuntimeError`` when none was started."""
    if _current is None:
        raise RuntimeError(
            "no observer worker runs: enable the pytest plugin rxcdc.api.testing.plugin"
        )
    return _current


def catch_up(timeout: float | None = None) -> int:
    """Wait until observers have sent what was committed so far (by any process).

    Commits of the test process do this on their own; call it after writes made elsewhere
    (``psql``, a subprocess, another service). Returns how many messages were sent.
    """
    return current().catch_up(timeout)


async def acatch_up(timeout: float | None = None) -> Any:
    """``catch_up`` for async tests."""
    return await database_sync_to_async(catch_up)(timeout)

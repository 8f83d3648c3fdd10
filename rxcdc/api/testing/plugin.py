"""pytest plugin: observers run for real in tests that use pytest-django's database.

Enable with ``-p rxcdc.api.testing.plugin`` (or ``pytest_plugins`` in a conftest). The first
test that uses the database starts an ``ObserverWorker`` on the test database for the session
and installs the ``CommitHook``: a commit returns once its observer messages are sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rxcdc.api import testing
from rxcdc.api.testing.commits import CommitHook
from rxcdc.api.testing.worker import ObserverWorker

DB_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


@pytest.fixture(scope="session")
def rx_observer_worker(django_db_setup: Any, django_db_blocker: Any) -> Iterator[ObserverWorker]:
    """The session's observer worker on the test database (its slot is dropped at the end)."""
    with django_db_blocker.unblock():
        worker = ObserverWorker()
        worker.start()
    hook = CommitHook(worker.catch_up)
    hook.install()
    testing.running(worker)
    try:
        yield worker
    finally:
        testing.running(None)
        hook.uninstall()
        with django_db_blocker.unblock():
            worker.stop()


@pytest.fixture(autouse=True)
def _rx_observers(request: pytest.FixtureRequest) -> None:
    """Start the worker for tests that use the database (before their transaction begins)."""
    if request.node.get_closest_marker("django_db") or DB_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("rx_observer_worker")

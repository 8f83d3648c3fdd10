"""Suite-wide fixtures."""

import pytest
from django.db import connection


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, django_db_blocker):
    """Threads and subprocesses of the websocket tests may keep sessions on the test database;
    end them so pytest-django can drop it."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

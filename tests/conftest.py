"""Suite-wide fixtures."""

import psycopg
import pytest
from django.db import connection


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, services):
    """Threads and subprocesses of the websocket tests may keep sessions on the test database;
    end them so pytest-django can drop it."""
    yield
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )

"""Suite-wide fixtures."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from rxcdc import clients, conf
from rxcdc.testing.live import LiveWorker
from tests.processes import drop_slot_when_free


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


@pytest.fixture
def live_worker(settings, redis_url, transactional_db) -> Iterator[LiveWorker]:
    """``rx_replicate`` in a thread, on a slot and a cache database of its own."""
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_HEAT_TIMEOUT = 10
    clients.reset()
    w = LiveWorker()
    yield w
    w.stop()
    w.worker.cache.client.drop_database(settings.RX_MONGO_DB)
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)
    clients.reset()

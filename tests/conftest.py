"""Suite-wide fixtures."""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymongo
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
def rx_settings(settings, redis_url, transactional_db) -> Iterator[Any]:
    """A replication slot and a cache database of the test's own, both dropped afterwards."""
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    clients.reset()
    mongo_url = conf.mongo_url()  # the suite's: a test may point the worker at its own server
    yield settings
    with pymongo.MongoClient(mongo_url) as mongo:
        mongo.drop_database(settings.RX_MONGO_DB)
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)
    clients.reset()


@pytest.fixture
def live_worker(rx_settings) -> Iterator[LiveWorker]:
    """``rx_replicate`` in a thread of the test process, on the test's slot and cache."""
    rx_settings.RX_HEAT_TIMEOUT = 10
    w = LiveWorker()
    yield w
    w.stop()

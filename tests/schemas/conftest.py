"""A live worker (thread), real Redis, the Mongo stand-in and Postgres; clients judged by DRF."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rxcdc import clients, conf
from tests.live import LiveWorker
from tests.processes import drop_slot_when_free


@pytest.fixture
def live_worker(settings, redis_url, transactional_db) -> Iterator[LiveWorker]:
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

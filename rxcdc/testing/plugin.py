"""Pytest plugin: real Postgres, Redis and MongoDB for the session, isolated per test.

Enable with ``-p rxcdc.testing.plugin`` (in ``addopts``). The services start before Django reads
its settings, so a settings module can take them from the environment (see ``LocalServices.env``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import psycopg
import pymongo
import pytest
from psycopg import sql
from pymongo.database import Database

from rxcdc.testing.services import LocalServices, ServiceError

_services: LocalServices | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Start the services before pytest-django imports the settings module."""
    global _services
    if _services is not None:
        return
    services = LocalServices()
    try:
        services.start()
    except ServiceError as exc:
        # One actionable line instead of a traceback.
        raise pytest.UsageError(f"rxcdc services: {exc}") from None
    _services = services
    os.environ.update(_services.env())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the services when the run ends (atexit and parent-death signals back this up)."""
    if _services is not None:
        _services.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    """Show where the services run."""
    if _services is None:
        return None
    s = _services
    return (
        f"rxcdc services: postgres :{s.postgres.port}, redis :{s.redis.port}, mongo {s.mongo.url}"
    )


@pytest.fixture(scope="session")
def services() -> LocalServices:
    """The session's running services."""
    assert _services is not None, "rxcdc.testing.plugin was not loaded with -p"
    return _services


@pytest.fixture
def pg_dsn(services: LocalServices) -> Iterator[str]:
    """DSN of a fresh, empty database, dropped (with its replication slots) after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = services.postgres.dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield services.postgres.dsn(name)
    drop_database(admin, name)


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database and the replication slots that live in it (they would block the drop)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE database = %s AND active_pid IS NOT NULL",
            (name,),
        )
        # A terminated walsender lets go of its slot a moment later: dropping it before
        # then fails ("active for PID"), and the slot would outlive the database.
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE database = %s AND active_pid IS NOT NULL",
                (name,),
            ).fetchone()
        ):
            time.sleep(0.05)  # polling the server, with a deadline
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE database = %s",
            (name,),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def redis_url(services: LocalServices) -> Iterator[str]:
    """URL of the session's Redis, flushed after the test."""
    import redis

    yield services.redis.url
    redis.Redis.from_url(services.redis.url).flushall()


@pytest.fixture
def mongo_db(services: LocalServices) -> Iterator[Database[dict[str, object]]]:
    """A pymongo database with a unique name, dropped after the test."""
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(services.mongo.url)
    db = client[f"t_{uuid.uuid4().hex[:12]}"]
    yield db
    client.drop_database(db.name)
    client.close()

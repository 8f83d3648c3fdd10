"""The database checks belong to the worker and to ``check --deploy``, and never wait."""

from __future__ import annotations

import threading
import uuid

import psycopg
from django.core import checks
from django.db import connection

from rxcdc.checks import check_database


def _ids(messages: list[checks.CheckMessage]) -> set[str]:
    return {m.id for m in messages if m.id and m.id.startswith("rxcdc")}


def test_database_checks_run_with_deploy_not_with_every_command(settings, transactional_db):
    settings.RX_SLOT_NAME = "Bad-Name"  # the preflight refuses it: rxcdc.E001
    assert "rxcdc.E001" not in _ids(checks.run_checks())  # migrate, runserver, manage.py test
    assert "rxcdc.E001" in _ids(checks.run_checks(include_deployment_checks=True))


def test_the_database_check_does_not_wait_for_open_transactions(settings, transactional_db):
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"  # no slot yet: wal2json is probed
    params = connection.get_connection_params()
    dsn = f"host={params['host']} port={params['port']} dbname={params['dbname']} user=postgres"
    result: list[list[checks.CheckMessage]] = []
    with psycopg.connect(dsn) as other:
        # A transaction with an xid: creating any logical slot waits until it ends.
        other.execute("CREATE TEMPORARY TABLE held (x int)")
        probe = threading.Thread(target=lambda: result.append(check_database()), daemon=True)
        probe.start()
        probe.join(timeout=20)  # a deadline: the check gives up after 2 s, not at our commit
        finished = not probe.is_alive()
        other.rollback()
    probe.join(timeout=20)
    assert finished, "the check waited for another session's transaction"
    assert "rxcdc.W005" in _ids(result[0])


def test_a_project_with_only_redis_url_gets_the_recommended_channel_layer(settings):
    from rxcdc.checks import check_settings
    from rxcdc.conf import ensure_channel_layers

    settings.REDIS_URL = "redis://example.invalid:6379/3"
    del settings.CHANNEL_LAYERS  # the seeds' settings name REDIS_URL, no channel layer
    ensure_channel_layers()  # (what RxcdcConfig.ready does)
    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layer["CONFIG"]["hosts"] == ["redis://example.invalid:6379/3"]
    assert not [e for e in check_settings() if e.id in ("rxcdc.E012", "rxcdc.E013")]

"""Helpers for tests that run rx_replicate or daphne in another process."""

import os

from django.conf import settings
from django.db import connection


def django_env(**extra: str) -> dict[str, str]:
    """Environment for a process running ``tests.settings`` against this test's database,
    slot and cache (the services' URLs are already in ``os.environ``)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RXCDC_PG_NAME": connection.settings_dict["NAME"],
        "RX_SLOT_NAME": settings.RX_SLOT_NAME,
        "RX_MONGO_DB": settings.RX_MONGO_DB,
        **extra,
    }


def wait_slot_released(dsn: str, slot: str, timeout: float = 15.0) -> None:
    """Wait until the slot's WAL sender has gone (it exits a moment after its client closed)."""
    from replication.slot import slot_status
    from rxcdc.testing.waiting import wait_until

    wait_until(lambda: not slot_status(dsn, slot).active, f"slot {slot} is released", timeout)


def drop_slot_when_free(dsn: str, slot: str, timeout: float = 15.0) -> None:
    """Drop a slot once its WAL sender has gone."""
    from replication.slot import drop_slot

    wait_slot_released(dsn, slot, timeout)
    drop_slot(dsn, slot)

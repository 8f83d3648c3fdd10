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

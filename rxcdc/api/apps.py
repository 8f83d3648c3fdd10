"""The ``rxcdc.api`` app: registers the observer sink and imports the modules with observers."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import autodiscover_modules


class ApiConfig(AppConfig):
    """Observers must exist in ``rx_replicate`` too: their modules are imported at startup."""

    name = "rxcdc.api"
    label = "rxcdc_api"
    verbose_name = "rxcdc API consumers"

    def ready(self) -> None:
        from rxcdc import sinks
        from rxcdc.api import checks  # noqa: F401  (registers the system checks)
        from rxcdc.api.observer.sink import SINK

        if SINK not in sinks.registered():
            sinks.register(SINK)
        modules = getattr(settings, "RX_API_OBSERVERS", None)
        if modules is None:
            autodiscover_modules("consumers")
        else:
            for name in modules:
                import_module(name)

"""Django app config: discovers each installed app's ``channels.py`` and registers checks."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class RxcdcConfig(AppConfig):
    """The rxcdc app."""

    name = "rxcdc"
    verbose_name = "rxcdc"

    def ready(self) -> None:
        from rxcdc import checks, conf  # noqa: F401  (importing checks registers them)

        conf.ensure_channel_layers()
        from rxcdc.reauth import connect_signals

        connect_signals()  # a revoked token or deactivated user closes their sockets at once

        autodiscover_modules("channels")

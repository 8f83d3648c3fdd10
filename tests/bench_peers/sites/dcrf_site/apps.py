# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from django.apps import AppConfig


class DcrfSiteConfig(AppConfig):
    name = "tests.bench_peers.sites.dcrf_site"
    label = "dcrf_site"

    def ready(self) -> None:
        # A model_observer connects its signal receivers when its consumer class is created: any
        # process with these settings (the writer too, not only daphne) must import it.
        from tests.bench_peers.sites.dcrf_site import consumers  # noqa: F401

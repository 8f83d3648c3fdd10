# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "tests.bench_peers.chat"
    label = "peerchat"
    default_auto_field = "django.db.models.BigAutoField"

# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from typing import Any

from rxdjango.channels import ContextChannel  # type: ignore[import-not-found]

from tests.bench_peers.chat.serializers import RoomSerializer


class RoomChannel(ContextChannel):
    class Meta:
        state = RoomSerializer()

    @staticmethod
    def has_permission(user: Any, **kwargs: Any) -> bool:
        return bool(user.is_authenticated)

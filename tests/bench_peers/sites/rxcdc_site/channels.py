# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from typing import Any

from rxcdc.channels import StateChannel
from tests.bench_peers.chat.serializers import RoomSerializer


class RoomChannel(StateChannel):
    class Meta:
        anchor = RoomSerializer()

    def has_permission(self, user: Any, **kwargs: Any) -> bool:
        return bool(user.is_authenticated)

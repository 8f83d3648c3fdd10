# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False
from collections.abc import Iterator, Sequence
from typing import Any

from djangochannelsrestframework.decorators import action  # type: ignore[import-not-found]
from djangochannelsrestframework.generics import (  # type: ignore[import-not-found]
    GenericAsyncAPIConsumer,
)
from djangochannelsrestframework.mixins import RetrieveModelMixin  # type: ignore[import-not-found]
from djangochannelsrestframework.observer import model_observer  # type: ignore[import-not-found]

from tests.bench_peers.chat.models import Message, Room
from tests.bench_peers.chat.serializers import MessageSerializer, RoomSerializer


class RoomConsumer(RetrieveModelMixin, GenericAsyncAPIConsumer):
    """``retrieve`` loads a room; ``subscribe_room`` streams its messages' changes."""

    queryset = Room.objects.prefetch_related("messages__author", "messages__likes")
    serializer_class = RoomSerializer

    @model_observer(Message, serializer_class=MessageSerializer, many_to_many=True)
    async def message_activity(
        self, message: Any, action: str, subscribing_request_ids: Sequence[int] = (), **kwargs: Any
    ) -> None:
        for request_id in subscribing_request_ids:
            await self.reply(data=message, action=action, request_id=request_id)

    # The README's pattern: the group functions take the observer's name.
    @message_activity.groups_for_signal  # type: ignore[no-redef]
    def message_activity(self, instance: Message, **kwargs: Any) -> Iterator[str]:
        yield f"-room__{instance.room_id}"

    @message_activity.groups_for_consumer  # type: ignore[no-redef]
    def message_activity(self, room: int | None = None, **kwargs: Any) -> Iterator[str]:
        if room is not None:
            yield f"-room__{room}"

    @action()
    async def subscribe_room(
        self, room: int, request_id: int, **kwargs: Any
    ) -> tuple[dict[str, Any], int]:
        await self.message_activity.subscribe(room=room, request_id=request_id)
        return {}, 201

import dataclasses

from channels.db import database_sync_to_async

from rxcdc.actions import ActionError, action, consumer
from rxcdc.channels import StateChannel
from tests.testapp.models import Board, Message
from tests.testapp.serializers import BoardSerializer, MessageSerializer, RoomSerializer


@dataclasses.dataclass
class Labelled:
    name: str
    tags: set


class RoomChannel(StateChannel):
    class Meta:
        anchor = RoomSerializer()
        writable = {MessageSerializer: ["save", "create", "delete"]}

    def has_permission(self, user, **kwargs):
        return user.is_authenticated and not user.username.startswith("banned")

    async def on_connect(self):
        await self.set_runtime_var("greeting", f"hello {self.user.username}")
        await self.group_add(f"typing.{self.url_kwargs['room']}")

    @action
    async def post(self, text: str) -> int:
        message = await database_sync_to_async(Message.objects.create)(
            room_id=self.url_kwargs["room"], text=text
        )
        return message.pk

    @action
    def echo(
        self, when: "datetime.datetime", amount: "decimal.Decimal", ident: "uuid.UUID"
    ) -> dict:
        return {
            "when": when,
            "amount": amount,
            "ident": ident,
            "types": [type(when).__name__, type(amount).__name__, type(ident).__name__],
        }

    @action
    def explode(self) -> None:
        raise RuntimeError("internal detail that must not leak")

    @action
    def refuse(self) -> None:
        raise ActionError("not today", "nope")

    @action
    def as_dataclass(self) -> "Labelled":
        return Labelled(name="x", tags={"b", "a"})

    @action
    def unsendable(self) -> object:
        return object()

    def helper(self):
        return "not an action"

    @consumer("room.typing")
    async def typing(self, message):
        await self.consumer.send_frame({"type": "typing", "who": message["who"]})

    def can_save(self, user, instance, data):
        return data.get("text") != "forbidden"

    def can_create(self, user, serializer, parent, data):
        return True

    def can_delete(self, user, instance):
        return instance.text != "keep"


class BoardsChannel(StateChannel):
    class Meta:
        anchor = BoardSerializer(many=True)
        auto_update = True

    def has_permission(self, user, **kwargs):
        return user.is_authenticated

    def list_instances(self, user, **kwargs):
        return Board.objects.filter(owner=user).order_by("pk")

    def is_visible(self, user, instance, **kwargs):
        return instance.owner_id == user.id

    @action
    async def hide(self, board: int) -> None:
        await self.remove_instance(board)

    @action
    async def hide_all(self) -> None:
        await self.clear()


import datetime  # noqa: E402  (string annotations above resolve through these)
import decimal  # noqa: E402
import uuid  # noqa: E402

"""``ChatRoomChannel``: the room named in the URL, live in every browser that shows it."""

from rxcdc.actions import ActionError, action
from rxcdc.channels import StateChannel

from chat.models import ChatRoom, Message
from chat.serializers import ChatRoomSerializer


class ChatRoomChannel(StateChannel):
    class Meta:
        anchor = ChatRoomSerializer()

    def has_permission(self, user, room_name):
        # check permission: any signed-in user may read any room
        return user.is_authenticated

    def get_anchor(self, room_name):
        """The URL names the room; the anchor is its primary key."""
        pk = ChatRoom.objects.filter(name=room_name).values_list("pk", flat=True).first()
        if pk is None:
            raise LookupError(f"there is no chat room {room_name!r}")
        return pk

    @action
    def post_message(self, text: str) -> int:
        """Post ``text`` as the connected user; every page of the room gets it from the WAL."""
        text = text.strip()
        if not text or len(text) > 500:
            raise ActionError("a message has 1 to 500 characters", "invalid")
        room = self.get_anchor(**self.url_kwargs)
        return Message.objects.create(room_id=room, author=self.user, text=text).pk

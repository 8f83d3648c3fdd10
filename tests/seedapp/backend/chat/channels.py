# The quickstart's text as written (rxdjango → rxcdc): no lint, no formatting.
# ruff: noqa
# fmt: off
# chat/channels.py
from rxcdc.channels import StateChannel
from chat.serializers import ChatRoomSerializer


class ChatRoomChannel(StateChannel):

    class Meta:
        anchor = ChatRoomSerializer()

    def has_permission(self, user, chat_room):
        # check permission
        return True

from rxcdc.channels import StateChannel
from tests.testapp.models import Board
from tests.testapp.serializers import BoardSerializer, RoomSerializer


class RoomChannel(StateChannel):
    class Meta:
        anchor = RoomSerializer()

    def has_permission(self, user, **kwargs):
        return user.is_authenticated


class BoardsChannel(StateChannel):
    class Meta:
        anchor = BoardSerializer(many=True)
        auto_update = True

    def has_permission(self, user, **kwargs):
        return user.is_authenticated

    def list_instances(self, user, **kwargs):
        return Board.objects.filter(owner=user)

    def is_visible(self, user, instance, **kwargs):
        return instance.owner_id == user.id

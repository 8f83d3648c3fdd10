"""Consumers with observers, imported by rxcdc.api's autodiscovery (so the worker knows them)."""

from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.decorators import action
from rxcdc.api.generics import GenericAsyncAPIConsumer
from rxcdc.api.observer import model_observer
from rxcdc.api.observer.generics import ObserverModelInstanceMixin
from tests.apiapp.models import Classroom, Gadget, Widget
from tests.apiapp.serializers import (
    ClassroomSerializer,
    GadgetSerializer,
    UserGroupsSerializer,
    WidgetSerializer,
)

SERIALIZED = []  # (pk, action) per call of the classroom serializer hook, in the worker


class WidgetActivityConsumer(AsyncAPIConsumer):
    """Every widget change, default body ``{"pk"}``."""

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        await self.widget_activity.subscribe()

    @model_observer(Widget)
    async def widget_activity(self, message, action, message_type, observer=None, **kwargs):
        await self.send_json({"body": message, "action": action, "type": message_type})


class WidgetFeedConsumer(AsyncAPIConsumer):
    """Every widget change serialized with ``serializer_class``, sent as a reply."""

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        await self.widget_feed.subscribe()

    @model_observer(Widget, serializer_class=WidgetSerializer)
    async def widget_feed(self, message, action, **kwargs):
        if message.get("name") == "explode":
            raise RuntimeError("handler failure")
        await self.reply(data=message, action=action)


class ClassroomConsumer(AsyncAPIConsumer):
    """Classrooms partitioned by school: subscribe per school with a request id."""

    @model_observer(Classroom)
    async def classroom_change(
        self, message, action, message_type, subscribing_request_ids=None, **kwargs
    ):
        await self.send_json(
            {"body": message, "action": action, "request_ids": subscribing_request_ids}
        )

    @classroom_change.groups_for_signal
    def classroom_change(self, instance, **kwargs):
        yield f"-school__{instance.school_id}"

    @classroom_change.groups_for_consumer
    def classroom_change(self, school=None, **kwargs):
        if school is not None:
            yield f"-school__{school}"

    @classroom_change.serializer
    def classroom_change(self, instance, action, **kwargs):
        SERIALIZED.append((instance.pk, str(action)))
        return ClassroomSerializer(instance).data

    @action()
    async def subscribe_school(self, school, request_id, **kwargs):
        await self.classroom_change.subscribe(school=school, request_id=request_id)
        return None, 201

    @action()
    async def unsubscribe_school(self, school, request_id, **kwargs):
        await self.classroom_change.unsubscribe(school=school, request_id=request_id)
        return None, 204


class WidgetInstanceConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    queryset = Widget.objects.all()
    serializer_class = WidgetSerializer

    @action()
    async def rename(self, pk=None, name=None, **kwargs):
        widget = await database_sync_to_async(self.get_object)(pk=pk)
        widget.name = name
        await database_sync_to_async(widget.save)()
        return {"pk": pk}, 200


class GadgetInstanceConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    """No ``queryset``: the model comes from the ModelSerializer (DCRF needs ``queryset``)."""

    serializer_class = GadgetSerializer

    def get_queryset(self, **kwargs):
        return Gadget.objects.all()


class GadgetLabelConsumer(AsyncAPIConsumer):
    """One function for both group hooks (DCRF's ``@handler.groups``)."""

    @model_observer(Gadget)
    async def gadget_by_label(self, message, action, **kwargs):
        await self.send_json({"body": message, "action": action})

    @gadget_by_label.groups
    def gadget_by_label(self, instance=None, label=None, **kwargs):
        yield f"-label-{label if label is not None else instance.label}"

    @action()
    async def watch(self, label, **kwargs):
        await self.gadget_by_label.subscribe(label=label)
        return None, 201


class UserInstanceConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    """A user's M2M links (``user.groups``) added or removed are updates of the user."""

    queryset = User.objects.all()
    serializer_class = UserGroupsSerializer
    observer_many_to_many_relationships = True


class UserLinksConsumer(AsyncAPIConsumer):
    """``model_observer(..., many_to_many=True)``: every user, links included."""

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        await self.user_links.subscribe()

    @model_observer(User, serializer_class=UserGroupsSerializer, many_to_many=True)
    async def user_links(self, message, action, **kwargs):
        await self.send_json({"body": message, "action": action})

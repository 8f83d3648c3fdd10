"""``ObserverModelInstanceMixin``: ``subscribe_instance`` / ``unsubscribe_instance`` by pk."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError

from rxcdc.api.decorators import action
from rxcdc.api.mixins import RetrieveModelMixin
from rxcdc.api.observer.committed import ObserverState, observer_state
from rxcdc.api.observer.registry import Action, clean_group_name, register
from rxcdc.serialize import jsonable

__all__ = ["InstanceObserver", "ObserverModelInstanceMixin"]

log = logging.getLogger("rxcdc.api")
HANDLER = "handle_instance_change"


class InstanceObserver:
    """One per (model, serializer, M2M tracking), shared by the consumer classes that use them.

    The worker serializes a changed row once, when its pk group has subscribers.
    """

    message_type = HANDLER.replace("_", ".")
    stateful = False
    state_version = ""
    needs_old_rows = False  # deletes carry {"pk"}, as in DCRF

    def __init__(self, model_cls: Any, serializer_class: Any, many_to_many: bool = False) -> None:
        self.model_cls, self.serializer_class = model_cls, serializer_class
        self.many_to_many = many_to_many
        meta = model_cls._meta
        name = (
            f"{serializer_class.__module__}.{serializer_class.__qualname__}"
            if serializer_class is not None
            else "-"
        )
        links = "+m2m" if many_to_many else ""
        self.observer_id = f"instance:{meta.app_label}.{meta.model_name}:{name}{links}"

    def group_for_pk(self, pk: Any) -> str:
        """The group of one instance."""
        return clean_group_name(f"{self.observer_id}-pk-{jsonable(pk)}")

    def group_names_for_signal(self, instance: Any) -> set[str]:
        """The instance's pk group."""
        return {self.group_for_pk(instance.pk)}

    def static_groups(self, pk: Any) -> set[str]:
        """The pk group: known without reading the row."""
        return {self.group_for_pk(pk)}

    def get_observer_state(self, instance: Any) -> ObserverState:
        """DCRF's state of ``instance``: ``current_groups`` of its committed row."""
        return observer_state(
            self.observer_id, self.model_cls, instance, self.group_names_for_signal
        )

    def serialize(self, instance: Any, action: Action) -> Any:
        """``serializer_class(instance).data`` (None: consumers run ``retrieve`` instead)."""
        if self.serializer_class is None:
            return None
        return jsonable(self.serializer_class(instance).data)

    def deleted_body(self, pk: Any, old: Any) -> Any:
        """``{"pk": pk}``, as DCRF sends."""
        return {"pk": jsonable(pk)}


class InstanceChangeHandler:
    """``handle_instance_change``: receives the instance observer's messages.

    Also DCRF's ``consumer.handle_instance_change.get_observer_state(instance)``.
    """

    def __get__(self, consumer: Any, owner: Any = None) -> Any:
        return self if consumer is None else BoundInstanceChangeHandler(consumer)


class BoundInstanceChangeHandler:
    """``handle_instance_change`` of one consumer."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.consumer.relay_instance_change(message)

    def get_observer_state(self, instance: Any) -> ObserverState:
        """See ``InstanceObserver.get_observer_state``."""
        return self.consumer._observer().get_observer_state(instance)  # type: ignore[no-any-return]


class ObserverModelInstanceMixin(RetrieveModelMixin):
    """Adds ``subscribe_instance`` and ``unsubscribe_instance`` actions.

    Changes arrive as ``update`` and ``delete`` replies carrying the subscribing ``request_id``;
    with ``observer_many_to_many_relationships = True`` an M2M link added or removed is an update.
    """

    observer_many_to_many_relationships = False
    _instance_observer: InstanceObserver | None = None
    handle_instance_change: Any = InstanceChangeHandler()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = _observed_model(cls)
        if model is not None:
            observer = InstanceObserver(
                model,
                getattr(cls, "serializer_class", None),
                many_to_many=bool(cls.observer_many_to_many_relationships),
            )
            register(observer)
            cls._instance_observer = observer

    def _observer(self) -> InstanceObserver:
        if self._instance_observer is None:
            raise TypeError(
                f"{type(self).__name__} needs a `queryset` or a ModelSerializer `serializer_class` "
                "to observe instances"
            )
        return self._instance_observer

    @action()
    async def subscribe_instance(self: Any, request_id: Any = None, **kwargs: Any) -> Any:
        if request_id is None:
            raise ValidationError("request_id must have a value set")
        instance = await database_sync_to_async(self.get_object)(**kwargs)
        observer = self._observer()
        group = observer.group_for_pk(instance.pk)
        self._observer_group_to_request_id[observer.observer_id][group].add(request_id)
        await self.add_group(group)
        return None, status.HTTP_201_CREATED

    @action()
    async def unsubscribe_instance(self: Any, request_id: Any = None, **kwargs: Any) -> Any:
        if request_id is None:
            raise ValidationError("request_id must have a value set")
        lookup = self.lookup_url_kwarg or self.lookup_field
        if lookup == "pk" and "pk" in kwargs:
            pk = self.get_queryset(**kwargs).model._meta.pk.to_python(kwargs["pk"])
        else:
            pk = (await database_sync_to_async(self.get_object)(**kwargs)).pk
        observer = self._observer()
        group = observer.group_for_pk(pk)
        by_group = self._observer_group_to_request_id[observer.observer_id]
        ids = by_group.get(group, set())
        ids.discard(request_id)
        if not ids:
            by_group.pop(group, None)
            await self.remove_group(group)
        return None, status.HTTP_204_NO_CONTENT

    async def relay_instance_change(self: Any, message: dict[str, Any]) -> None:
        """Relay one change to every request that subscribed to the instance."""
        observer = self._observer()
        group, action, body = message.get("group"), message["action"], message.get("body")
        if action == Action.CREATE:  # the row existed when subscribed: the worker was behind
            action = Action.UPDATE.value
        ids = sorted(
            self._observer_group_to_request_id[observer.observer_id].get(group, ()), key=repr
        )
        if not ids:
            return
        try:
            await self.check_permissions("retrieve")
        except PermissionDenied:
            return
        for request_id in ids:
            try:
                if action == Action.DELETE:
                    await self.reply(action=action, data=body, status=204, request_id=request_id)
                elif body is None:  # no serializer_class: read it the way retrieve does
                    data, code = await self.retrieve(
                        request_id=request_id, action=action, pk=message["pk"]
                    )
                    await self.reply(action=action, data=data, status=code, request_id=request_id)
                else:
                    await self.reply(action=action, data=body, status=200, request_id=request_id)
            except Exception as exc:
                await self.handle_exception(exc, action=action, request_id=request_id)


def _observed_model(cls: Any) -> Any:
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer_class = getattr(cls, "serializer_class", None)
    meta = getattr(serializer_class, "Meta", None)
    return getattr(meta, "model", None)

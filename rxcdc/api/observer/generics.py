"""``ObserverModelInstanceMixin``: ``subscribe_instance`` / ``unsubscribe_instance`` by pk."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError

from rxcdc.api.decorators import action
from rxcdc.api.mixins import RetrieveModelMixin
from rxcdc.api.observer.registry import Action, clean_group_name, register
from rxcdc.serialize import jsonable

__all__ = ["InstanceObserver", "ObserverModelInstanceMixin"]

log = logging.getLogger("rxcdc.api")
HANDLER = "handle_instance_change"


class InstanceObserver:
    """One per (model, serializer), shared by the consumer classes that use them.

    The worker serializes a changed row once and sends it to the row's pk group.
    """

    message_type = HANDLER.replace("_", ".")
    stateful = False
    state_version = ""

    def __init__(self, model_cls: Any, serializer_class: Any) -> None:
        self.model_cls, self.serializer_class = model_cls, serializer_class
        meta = model_cls._meta
        name = (
            f"{serializer_class.__module__}.{serializer_class.__qualname__}"
            if serializer_class is not None
            else "-"
        )
        self.observer_id = f"instance:{meta.app_label}.{meta.model_name}:{name}"

    def group_for_pk(self, pk: Any) -> str:
        """The group of one instance."""
        return clean_group_name(f"{self.observer_id}-pk-{jsonable(pk)}")

    def group_names_for_signal(self, instance: Any) -> set[str]:
        """The instance's pk group."""
        return {self.group_for_pk(instance.pk)}

    def serialize(self, instance: Any, action: Action) -> Any:
        """``serializer_class(instance).data`` (None: consumers run ``retrieve`` instead)."""
        if self.serializer_class is None:
            return None
        return jsonable(self.serializer_class(instance).data)

    def deleted_body(self, pk: Any, old: Any) -> Any:
        """``{"pk": pk}``, as DCRF sends."""
        return {"pk": jsonable(pk)}


class ObserverModelInstanceMixin(RetrieveModelMixin):
    """Adds ``subscribe_instance`` and ``unsubscribe_instance`` actions.

    Changes arrive as ``update`` and ``delete`` replies carrying the subscribing ``request_id``.
    """

    _instance_observer: InstanceObserver | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = _observed_model(cls)
        if model is not None:
            observer = InstanceObserver(model, getattr(cls, "serializer_class", None))
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

    async def handle_instance_change(self: Any, message: dict[str, Any]) -> None:
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

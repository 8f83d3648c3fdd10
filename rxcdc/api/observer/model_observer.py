"""``@model_observer(Model)``: a consumer handler for changes the replication worker captured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from rxcdc.api.observer.registry import Action, clean_group_name, code_version, register
from rxcdc.serialize import jsonable

__all__ = ["BoundObserver", "ModelObserver", "model_observer"]

log = logging.getLogger("rxcdc.api")


class ModelObserver:
    """Replaces the decorated handler; ``subscribe()`` joins the consumer to groups.

    The worker serializes each change once and sends it to the groups of the row.
    """

    def __init__(self, func: Callable[..., Any], model_cls: Any, **kwargs: Any) -> None:
        options = kwargs.get("kwargs", kwargs)
        if options.get("many_to_many"):
            raise TypeError(
                "model_observer(many_to_many=True) is not supported: observe the "
                "through model instead"
            )
        self.func = func
        self.model_cls = model_cls
        self.serializer_class = options.get("serializer_class")
        self._serializer: Callable[..., Any] | None = None
        self._groups_for_signal: Callable[..., Iterable[Any]] | None = None
        self._groups_for_consumer: Callable[..., Iterable[Any]] | None = None
        self._state_version: str | None = None
        self.observer_id = f"{func.__module__}.{func.__qualname__}"
        self.message_type = func.__name__.replace("_", ".")
        register(self)

    def __get__(self, consumer: Any, owner: Any = None) -> Any:
        return self if consumer is None else BoundObserver(self, consumer)

    # -- decorators ----------------------------------------------------------------------------

    def serializer(self, func: Callable[..., Any]) -> ModelObserver:
        """``func(observer, instance, action)`` builds the message body, once per change."""
        self._serializer = func
        return self

    def groups_for_signal(self, func: Callable[..., Iterable[Any]]) -> ModelObserver:
        """``func(observer, instance)`` yields the groups of a row (no database queries)."""
        self._groups_for_signal, self._state_version = func, None
        return self

    def groups_for_consumer(self, func: Callable[..., Iterable[Any]]) -> ModelObserver:
        """``func(observer, *args, consumer=..., **kwargs)`` yields the groups to subscribe to."""
        self._groups_for_consumer = func
        return self

    def groups(self, func: Callable[..., Iterable[Any]]) -> ModelObserver:
        """One function for both ``groups_for_signal`` and ``groups_for_consumer``."""
        self._groups_for_signal = self._groups_for_consumer = func
        self._state_version = None
        return self

    # -- groups --------------------------------------------------------------------------------

    def default_group(self) -> str:
        """The one group of an observer without custom groups."""
        meta = self.model_cls._meta
        return clean_group_name(f"{self.observer_id}-model-{meta.app_label}.{meta.model_name}")

    def group_names_for_signal(self, instance: Any) -> set[str]:
        """The groups ``instance`` belongs to."""
        if self._groups_for_signal is None:
            return {self.default_group()}
        return {
            clean_group_name(f"{self.observer_id}-{g}")
            for g in self._groups_for_signal(self, instance=instance)
        }

    def group_names_for_consumer(self, *args: Any, consumer: Any, **kwargs: Any) -> list[str]:
        """The groups ``subscribe(*args, **kwargs)`` joins."""
        if self._groups_for_consumer is None:
            return [self.default_group()]
        return [
            clean_group_name(f"{self.observer_id}-{g}")
            for g in self._groups_for_consumer(self, *args, consumer=consumer, **kwargs)
        ]

    @property
    def stateful(self) -> bool:
        """Custom groups can change with any field: the worker keeps each row's groups."""
        return self._groups_for_signal is not None

    @property
    def state_version(self) -> str:
        """Digest of the group function: editing it rebuilds the kept groups."""
        if self._state_version is None:
            self._state_version = code_version(self._groups_for_signal)
        return self._state_version

    # -- bodies (in the worker) ----------------------------------------------------------------

    def serialize(self, instance: Any, action: Action) -> Any:
        """The ``serializer`` hook's output, ``serializer_class(instance).data``, or ``{"pk"}``."""
        if self._serializer is not None:
            return jsonable(self._serializer(self, instance, action))
        if self.serializer_class is not None:
            return jsonable(self.serializer_class(instance).data)
        return {"pk": jsonable(instance.pk)}

    def deleted_body(self, pk: Any, old: Any) -> Any:
        """Serialized from the WAL's old row (REPLICA IDENTITY FULL), else ``{"pk": pk}``."""
        if old is not None and (self._serializer is not None or self.serializer_class):
            return self.serialize(old, Action.DELETE)
        return {"pk": jsonable(pk)}

    # -- consumers -----------------------------------------------------------------------------

    async def subscribe(
        self, consumer: Any, *args: Any, request_id: Any = None, **kwargs: Any
    ) -> list[str]:
        """Join ``consumer`` to the groups for ``args``/``kwargs``; remember ``request_id``."""
        groups = self.group_names_for_consumer(*args, consumer=consumer, **kwargs)
        by_group = consumer._observer_group_to_request_id[self.observer_id]
        for group in groups:
            if request_id is not None:
                by_group[group].add(request_id)
            await consumer.add_group(group)
        return groups

    async def unsubscribe(
        self, consumer: Any, *args: Any, request_id: Any = None, **kwargs: Any
    ) -> list[str]:
        """Forget ``request_id`` (all of them when None); leave groups no request still uses."""
        groups = self.group_names_for_consumer(*args, consumer=consumer, **kwargs)
        by_group = consumer._observer_group_to_request_id[self.observer_id]
        for group in groups:
            ids = by_group.get(group, set())
            if request_id is None:
                ids.clear()
            else:
                ids.discard(request_id)
            if not ids:
                by_group.pop(group, None)
                await consumer.remove_group(group)
        return groups

    async def handle(self, consumer: Any, message: dict[str, Any]) -> None:
        """Call the handler for one channel-layer message; its errors are logged, not raised."""
        extra = {k: v for k, v in message.items() if k not in ("type", "body")}
        group = message.get("group")
        ids = consumer._observer_group_to_request_id[self.observer_id].get(group, ())
        try:
            await self.func(
                consumer,
                message.get("body"),
                observer=self,
                message_type=message["type"],
                subscribing_request_ids=sorted(ids, key=repr),
                **extra,
            )
        except Exception:
            log.exception("observer %s failed on %s", self.observer_id, message.get("action"))


class BoundObserver:
    """A consumer's view of its observer: ``subscribe``, ``unsubscribe``, and message dispatch."""

    def __init__(self, observer: ModelObserver, consumer: Any) -> None:
        self.observer, self.consumer = observer, consumer

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.observer.handle(self.consumer, message)

    async def subscribe(self, *args: Any, **kwargs: Any) -> list[str]:
        """See ``ModelObserver.subscribe``."""
        return await self.observer.subscribe(self.consumer, *args, **kwargs)

    async def unsubscribe(self, *args: Any, **kwargs: Any) -> list[str]:
        """See ``ModelObserver.unsubscribe``."""
        return await self.observer.unsubscribe(self.consumer, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.observer, name)


def model_observer(model: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], ModelObserver]:
    """Make an async consumer method ``(self, message, action, **kwargs)`` receive changes.

    The replication worker sends every change of ``model`` (``serializer_class=`` for the body).
    """

    def decorator(func: Callable[..., Any]) -> ModelObserver:
        return ModelObserver(func, model, **kwargs)

    return decorator

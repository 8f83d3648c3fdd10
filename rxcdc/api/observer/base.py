"""What every observer shares: its handler, its groups, ``subscribe``, ``unsubscribe``, dispatch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from rxcdc.api.observer.registry import clean_group_name

__all__ = ["BaseObserver", "BoundObserver"]

log = logging.getLogger("rxcdc.api")


class BaseObserver:
    """Replaces a decorated consumer method; ``subscribe()`` joins the consumer to groups.

    A message reaching one of those groups is handed to the method as
    ``(consumer, body, observer=, message_type=, subscribing_request_ids=, action=, group=)``.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self._serializer: Callable[..., Any] | None = None
        self._groups_for_signal: Callable[..., Iterable[Any]] | None = None
        self._groups_for_consumer: Callable[..., Iterable[Any]] | None = None
        self._state_version: str | None = None
        self.observer_id = f"{func.__module__}.{func.__qualname__}"
        self.message_type = func.__name__.replace("_", ".")

    def __get__(self, consumer: Any, owner: Any = None) -> Any:
        return self if consumer is None else BoundObserver(self, consumer)

    # -- decorators ----------------------------------------------------------------------------

    def serializer(self, func: Callable[..., Any]) -> Any:
        """``func(observer, ...)`` builds the message body, once per event."""
        self._serializer = func
        return self

    def groups_for_signal(self, func: Callable[..., Iterable[Any]]) -> Any:
        """``func(observer, ...)`` yields the groups an event goes to."""
        self._groups_for_signal, self._state_version = func, None
        return self

    def groups_for_consumer(self, func: Callable[..., Iterable[Any]]) -> Any:
        """``func(observer, *args, consumer=..., **kwargs)`` yields the groups to subscribe to."""
        self._groups_for_consumer = func
        return self

    def groups(self, func: Callable[..., Iterable[Any]]) -> Any:
        """One function for both ``groups_for_signal`` and ``groups_for_consumer``."""
        self._groups_for_signal = self._groups_for_consumer = func
        self._state_version = None
        return self

    # -- groups --------------------------------------------------------------------------------

    def default_group(self) -> str:
        """The one group of an observer without custom groups."""
        return clean_group_name(f"{self.observer_id}-signal")

    def group_name(self, group: Any) -> str:
        """The channel-layer name of one custom group."""
        return clean_group_name(f"{self.observer_id}-{group}")

    def group_names_for_consumer(self, *args: Any, consumer: Any, **kwargs: Any) -> list[str]:
        """The groups ``subscribe(*args, **kwargs)`` joins."""
        if self._groups_for_consumer is None:
            return [self.default_group()]
        return [
            self.group_name(g)
            for g in self._groups_for_consumer(self, *args, consumer=consumer, **kwargs)
        ]

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

    def __init__(self, observer: BaseObserver, consumer: Any) -> None:
        self.observer, self.consumer = observer, consumer

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.observer.handle(self.consumer, message)

    async def subscribe(self, *args: Any, **kwargs: Any) -> list[str]:
        """See ``BaseObserver.subscribe``."""
        return await self.observer.subscribe(self.consumer, *args, **kwargs)

    async def unsubscribe(self, *args: Any, **kwargs: Any) -> list[str]:
        """See ``BaseObserver.unsubscribe``."""
        return await self.observer.unsubscribe(self.consumer, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.observer, name)

"""``StateChannel``: a nested DRF serializer whose state is kept live in the browser."""

from __future__ import annotations

from typing import Any, ClassVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet

from rxcdc import hooks
from rxcdc.layers import StateModel, build_state

__all__ = ["StateChannel", "all_channels", "get_channel"]

_registry: dict[str, type[StateChannel]] = {}


class StateChannel:
    """Declare a live state: ``Meta.anchor`` is a nested ``ModelSerializer`` (``many=True`` lists).

    Access is denied unless ``has_permission`` says otherwise.
    """

    class Meta:
        abstract = True

    _state: ClassVar[StateModel | None] = None
    _rx_handlers: ClassVar[dict[str, Any]]  # set per class by consumer_handlers()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("Meta")
        if meta is None or vars(meta).get("abstract", False):
            return  # a base class for other channels
        if not hasattr(meta, "anchor") and not hasattr(meta, "state"):
            raise ImproperlyConfigured(f"{cls.__qualname__}.Meta needs an `anchor` serializer")
        cls._state = None
        _registry[f"{cls.__module__}.{cls.__qualname__}"] = cls

    # -- declaration -------------------------------------------------------------------------

    @classmethod
    def label(cls) -> str:
        """``"<app_label>.<ClassName>"``: names groups, cache collections and generated code."""
        config = apps.get_containing_app_config(cls.__module__)
        app = config.label if config is not None else cls.__module__.split(".")[0]
        return f"{app}.{cls.__name__}"

    @classmethod
    def state(cls) -> StateModel:
        """The channel's flat layers (built on first use, once apps are ready)."""
        if cls._state is None:
            meta = cls.Meta
            anchor = getattr(meta, "anchor", None) or getattr(meta, "state", None)
            cls._state = build_state(anchor, cls.label())
        return cls._state

    @classmethod
    def is_list(cls) -> bool:
        """Whether ``Meta.anchor`` has ``many=True`` (one anchor per listed instance)."""
        return cls.state().many

    @classmethod
    def auto_update(cls) -> bool:
        """List channels only: offer new instances to connected clients (via ``is_visible``)."""
        return bool(getattr(cls.Meta, "auto_update", False))

    @classmethod
    def cache_ttl(cls) -> float | None:
        """Per-channel ``Meta.cache_ttl`` in seconds, overriding ``RX_CACHE_TTL``."""
        value = getattr(cls.Meta, "cache_ttl", None)
        return None if value is None else float(value)

    # -- hooks (deny by default) -------------------------------------------------------------

    def has_permission(self, user: Any, **url_kwargs: Any) -> bool:
        """May ``user`` open this channel with these URL arguments? Default: no.

        Declared ``has_permission(self, user, anchor)`` instead, it gets the anchor row.
        """
        return False

    def list_instances(self, user: Any, **url_kwargs: Any) -> QuerySet[Any]:
        """List channels: the anchors this user starts with."""
        raise NotImplementedError(
            f"{type(self).__name__} is a list channel: define list_instances()"
        )

    def is_visible(self, user: Any, instance: Model, **url_kwargs: Any) -> bool:
        """List channels with ``auto_update``: should a new anchor reach this user? Default: no."""
        return False

    def get_anchor(self, **url_kwargs: Any) -> Any:
        """Single channels: the anchor's primary key from the URL (by default its only kwarg)."""
        if len(url_kwargs) != 1:
            raise ImproperlyConfigured(
                f"{type(self).__name__}: the route has {len(url_kwargs)} "
                "URL arguments; override get_anchor() to pick the anchor"
            )
        (value,) = url_kwargs.values()
        return self.state().root.model._meta.pk.to_python(value)

    def anchor_instance(self) -> Model:
        """Single channels: the anchor row named by ``url_kwargs`` (through ``get_anchor``).

        Raises ``ObjectDoesNotExist`` when there is no such row, ``ValueError``/``ValidationError``
        when the URL argument is no key of the anchor's model.
        """
        model = self.state().root.model
        return model._default_manager.get(pk=self.get_anchor(**self.url_kwargs))

    def permitted(self, user: Any, anchor: Model | None = None) -> bool:
        """Ask ``has_permission``, with the anchor row when it takes one positionally.

        RxDjango's ``has_permission(self, user, chat_room)`` gets the row (loaded when not given;
        raises what ``anchor_instance`` raises); others get the URL arguments by name.
        """
        cls = type(self)
        if not hooks.takes_anchor(cls, self.url_kwargs):
            return bool(self.has_permission(user, **self.url_kwargs))
        row = anchor if anchor is not None else self.anchor_instance()
        rest = hooks.permission_arguments(cls, self.url_kwargs)
        return bool(self.has_permission(user, row, **rest))  # type: ignore[call-arg]

    def can_save(self, user: Any, instance: Model, data: dict[str, Any]) -> bool:
        """May ``user`` update ``instance`` with ``data``? Default: no."""
        return False

    def can_create(self, user: Any, serializer: type, parent: Model, data: dict[str, Any]) -> bool:
        """May ``user`` create a row of ``serializer`` under ``parent``? Default: no."""
        return False

    def can_delete(self, user: Any, instance: Model) -> bool:
        """May ``user`` delete ``instance``? Default: no."""
        return False

    # -- per connection (valid inside actions and hooks) -------------------------------------

    user: Any = None
    url_kwargs: dict[str, Any] = {}
    consumer: Any = None  # the StateConsumer serving this connection

    async def on_connect(self) -> None:
        """Called once the connection is authenticated, before any snapshot."""

    async def on_disconnect(self) -> None:
        """Called when the socket closes."""

    async def set_runtime_var(self, name: str, value: Any) -> None:
        """Set a runtime variable of this connection and send it to the client."""
        await self.consumer.set_runtime_var(name, value)

    async def add_instance(self, pk: Any) -> None:
        """List channels: add an anchor to this connection (snapshot follows)."""
        await self.consumer.anchors.add(pk)

    async def remove_instance(self, pk: Any) -> None:
        """List channels: remove an anchor from this connection."""
        await self.consumer.anchors.remove(pk)

    async def clear(self) -> None:
        """List channels: remove every anchor from this connection."""
        for pk in self.consumer.anchors.pks():
            await self.consumer.anchors.remove(pk)

    async def group_add(self, group: str) -> None:
        """Join a custom group (left automatically on disconnect); see ``@consumer``."""
        await self.consumer.join(group)

    @classmethod
    def consumer_handlers(cls) -> dict[str, Any]:
        """``@consumer`` methods by event type (inherited ones included)."""
        # Looked up for every message a connection receives: scan the MRO once per class.
        if "_rx_handlers" not in cls.__dict__:
            handlers: dict[str, Any] = {}
            for klass in reversed(cls.__mro__):
                for value in vars(klass).values():
                    event = getattr(value, "_rx_consumer", None)
                    if event is not None:
                        handlers[event] = value
            cls._rx_handlers = handlers
        return cls._rx_handlers

    @classmethod
    def as_asgi(cls) -> Any:
        """The ASGI application serving this channel, for ``websocket_urlpatterns``."""
        from rxcdc.consumer import StateConsumer

        return StateConsumer.as_asgi(channel_class=cls)


def all_channels() -> list[type[StateChannel]]:
    """Every declared channel whose app is installed, in a stable order."""
    out = [c for c in _registry.values() if apps.get_containing_app_config(c.__module__)]
    return sorted(out, key=lambda c: c.label())


def get_channel(label: str) -> type[StateChannel]:
    """Find a channel by its label."""
    for channel in all_channels():
        if channel.label() == label:
            return channel
    raise LookupError(f"no StateChannel labelled {label!r}")

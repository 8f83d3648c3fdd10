"""``@model_observer(Model)``: a consumer handler for changes the replication worker captured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rxcdc.api.observer.base import BaseObserver, BoundObserver
from rxcdc.api.observer.committed import ObserverState, observer_state
from rxcdc.api.observer.registry import Action, clean_group_name, code_version, register
from rxcdc.serialize import jsonable

__all__ = ["BoundObserver", "ModelObserver", "model_observer"]


class ModelObserver(BaseObserver):
    """Observes every committed change of ``model_cls`` (and, with ``many_to_many``, of its links).

    The worker serializes each change once, for the groups of the row that have subscribers.
    """

    def __init__(self, func: Callable[..., Any], model_cls: Any, **kwargs: Any) -> None:
        super().__init__(func)
        options = kwargs.get("kwargs", kwargs)
        self.model_cls = model_cls
        self.serializer_class = options.get("serializer_class")
        self.many_to_many = bool(options.get("many_to_many", False))
        register(self)

    # -- groups --------------------------------------------------------------------------------

    def default_group(self) -> str:
        """The one group of an observer without custom groups."""
        meta = self.model_cls._meta
        return clean_group_name(f"{self.observer_id}-model-{meta.app_label}.{meta.model_name}")

    def group_names_for_signal(self, instance: Any) -> set[str]:
        """The groups ``instance`` belongs to."""
        if self._groups_for_signal is None:
            return {self.default_group()}
        return {self.group_name(g) for g in self._groups_for_signal(self, instance=instance)}

    def static_groups(self, pk: Any) -> set[str] | None:
        """The groups of row ``pk`` whatever its fields (None: custom groups, read the row)."""
        return {self.default_group()} if self._groups_for_signal is None else None

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

    def get_observer_state(self, instance: Any) -> ObserverState:
        """DCRF's state of ``instance``: ``current_groups`` of its committed row."""
        return observer_state(
            self.observer_id, self.model_cls, instance, self.group_names_for_signal
        )

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

    @property
    def needs_old_rows(self) -> bool:
        """Whether delete bodies are serialized (then the table needs REPLICA IDENTITY FULL)."""
        return self._serializer is not None or self.serializer_class is not None


def model_observer(
    model: Any, serializer_class: Any = None, many_to_many: bool = False, **kwargs: Any
) -> Callable[[Callable[..., Any]], ModelObserver]:
    """Make an async consumer method ``(self, message, action, **kwargs)`` receive changes.

    The replication worker sends every committed change of ``model`` (``serializer_class=`` for
    the body); ``many_to_many=True`` also sends an ``update`` when a row's M2M links change.
    """

    def decorator(func: Callable[..., Any]) -> ModelObserver:
        return ModelObserver(
            func, model, serializer_class=serializer_class, many_to_many=many_to_many, **kwargs
        )

    return decorator

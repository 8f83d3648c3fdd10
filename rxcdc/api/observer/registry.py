"""What the replication worker observes: every model observer created in this process."""

from __future__ import annotations

import enum
import hashlib
import inspect
from typing import Any, Protocol

__all__ = [
    "Action",
    "Observed",
    "clean_group_name",
    "code_version",
    "observers",
    "register",
    "unregister",
    "version",
]


class Action(enum.StrEnum):
    """What happened to a row, as the receiving group sees it (compares equal to its value)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Observed(Protocol):
    """A model observer as the worker uses it (``ModelObserver``, the instance observer)."""

    observer_id: str
    model_cls: Any
    message_type: str
    many_to_many: bool  # an M2M link added or removed is an update of the row

    @property
    def needs_old_rows(self) -> bool:
        """Whether delete bodies are serialized from the old row (REPLICA IDENTITY FULL)."""

    @property
    def stateful(self) -> bool:
        """True when a row's groups depend on more than its primary key (the worker keeps them)."""

    @property
    def state_version(self) -> str:
        """Changes when the way groups are computed changes (its kept groups are then rebuilt)."""

    def group_names_for_signal(self, instance: Any) -> set[str]:
        """The (cleaned) groups a row belongs to."""

    def static_groups(self, pk: Any) -> set[str] | None:
        """The groups of row ``pk`` when they do not depend on its fields, else None."""

    def serialize(self, instance: Any, action: Action) -> Any:
        """The message body for a row that still exists."""

    def deleted_body(self, pk: Any, old: Any) -> Any:
        """The body for a deleted row; ``old`` is an unsaved instance from the WAL, or None."""


_observers: dict[str, Observed] = {}
_version = 0


def register(observer: Observed) -> None:
    """Observe from now on (a later observer with the same id replaces the earlier one)."""
    global _version
    _observers[observer.observer_id] = observer
    _version += 1


def unregister(observer_id: str) -> None:
    """Stop observing (tests)."""
    global _version
    _observers.pop(observer_id, None)
    _version += 1


def observers() -> list[Observed]:
    """Every registered observer."""
    return list(_observers.values())


def version() -> int:
    """Increases on every registration (to rebuild derived lookups)."""
    return _version


def clean_group_name(name: str) -> str:
    """A channel-layer-safe group name (short, ASCII) for any observer group."""
    return "rx.api." + hashlib.sha256(name.encode()).hexdigest()


def code_version(*funcs: Any) -> str:
    """A digest of functions' source (their qualified name when the source is unavailable)."""
    digest = hashlib.sha256()
    for func in funcs:
        try:
            text = inspect.getsource(func)
        except (OSError, TypeError):
            text = getattr(func, "__qualname__", repr(func))
        digest.update(text.encode())
    return digest.hexdigest()[:16]

"""Primary keys from the wire: whether a client's value can name a row of a model at all."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models

__all__ = ["bad_key", "bad_write_keys"]


def bad_key(model: type[models.Model], value: Any) -> str | None:
    """Why ``value`` cannot be a primary key of ``model`` (None when it can)."""
    if isinstance(value, bool | float | dict | list):
        return f"{value!r} is not a key of {model._meta.label}"
    field = model._meta.pk
    try:
        key = field.to_python(value)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return f"{value!r} is not a key of {model._meta.label}"
    if isinstance(key, int):
        # Out of the column's range no row can have it, and MongoDB refuses past 64 bits.
        ops = connections[model._default_manager.db].ops
        low, high = ops.integer_field_ranges.get(field.get_internal_type(), (-(2**63), 2**63 - 1))
        if (low is not None and key < low) or (high is not None and key > high):
            return f"{value!r} is out of the range of {model._meta.label}'s keys"
    return None


def bad_write_keys(channel_class: Any, frame: dict[str, Any]) -> str | None:
    """Why the ``pk``/``parent_pk`` of a write frame cannot name rows of their types, if so.

    Types the channel does not have are left to the write's own checks (``not_writable``).
    """
    models_by_type = {layer.type_key: layer.model for layer in channel_class.state().layers}
    for key, type_field in (("pk", "instance_type"), ("parent_pk", "parent_type")):
        model = models_by_type.get(frame.get(type_field))
        if model is not None and frame.get(key) is not None:
            problem = bad_key(model, frame[key])
            if problem:
                return problem
    return None

"""API settings: ``RX_API`` (or DCRF's ``DJANGO_CHANNELS_REST_API``), read on every access."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

__all__ = ["api_settings"]

DEFAULTS: dict[str, Any] = {
    "DEFAULT_PERMISSION_CLASSES": ("rxcdc.api.permissions.AllowAny",),
    "DEFAULT_PAGINATION_CLASS": None,
    "PAGE_SIZE": None,
}


class _Settings:
    """Attribute access to the API settings; dotted paths are imported."""

    def _raw(self) -> dict[str, Any]:
        own = getattr(settings, "RX_API", None)
        if own is None:
            own = getattr(settings, "DJANGO_CHANNELS_REST_API", None) or {}
        return {**DEFAULTS, **own}

    @property
    def DEFAULT_PERMISSION_CLASSES(self) -> tuple[Any, ...]:
        return tuple(_load(p) for p in self._raw()["DEFAULT_PERMISSION_CLASSES"])

    @property
    def DEFAULT_PAGINATION_CLASS(self) -> Any:
        value = self._raw()["DEFAULT_PAGINATION_CLASS"]
        return None if value is None else _load(value)

    @property
    def PAGE_SIZE(self) -> int | None:
        value = self._raw()["PAGE_SIZE"]
        return None if value is None else int(value)


def _load(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


api_settings = _Settings()

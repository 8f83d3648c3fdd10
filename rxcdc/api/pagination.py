"""Limit/offset pagination with ``limit`` and ``offset`` taken from the action's arguments."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination

from rxcdc.api.settings import api_settings

__all__ = ["WebsocketLimitOffsetPagination"]


class WebsocketLimitOffsetPagination(LimitOffsetPagination):
    """Pages ``{"count", "results", "limit", "offset"}``; ``PAGE_SIZE`` is the default limit."""

    default_limit: int | None

    def __init__(self) -> None:
        if self.default_limit is None:
            self.default_limit = api_settings.PAGE_SIZE

    def paginate_queryset(
        self, queryset: Any, scope: Any = None, view: Any = None, **kwargs: Any
    ) -> list[Any] | None:
        """One page, or None when no limit applies (then the list is not paginated)."""
        self.limit = self.get_limit(**kwargs)
        if self.limit is None:
            return None
        self.count = self.get_count(queryset)
        self.offset = self.get_offset(**kwargs)
        if self.count == 0 or self.offset > self.count:
            return []
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: Any) -> dict[str, Any]:
        """The page's ``data`` in DCRF's envelope."""
        return {"count": self.count, "results": data, "limit": self.limit, "offset": self.offset}

    def get_limit(self, **kwargs: Any) -> int | None:
        """``limit`` (positive, capped by ``max_limit``), else the default."""
        try:
            return _positive(
                kwargs.get("limit", self.default_limit), strict=True, cap=self.max_limit
            )
        except (TypeError, ValueError):
            return self.default_limit

    def get_offset(self, **kwargs: Any) -> int:
        """``offset`` (zero or positive), else 0."""
        try:
            return _positive(kwargs.get("offset", 0))
        except (TypeError, ValueError):
            return 0


def _positive(value: Any, strict: bool = False, cap: int | None = None) -> int:
    number = int(value)
    if number < 0 or (number == 0 and strict):
        raise ValueError(value)
    return min(number, cap) if cap else number

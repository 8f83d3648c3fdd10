"""``GenericAsyncAPIConsumer``: DRF's GenericAPIView for a websocket."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework.generics import get_object_or_404
from rest_framework.serializers import BaseSerializer

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.exceptions import InvalidMessage
from rxcdc.api.scope import request_from_scope

__all__ = ["GenericAsyncAPIConsumer"]


class GenericAsyncAPIConsumer(AsyncAPIConsumer):
    """``queryset``, ``serializer_class``, ``lookup_field`` and the methods DRF views have."""

    queryset: Any = None
    serializer_class: Any = None
    lookup_field = "pk"
    lookup_url_kwarg: str | None = None
    pagination_class: Any = None

    def get_queryset(self, **kwargs: Any) -> QuerySet[Any]:
        """A fresh copy of ``queryset``; override to scope it (e.g. to the user)."""
        assert self.queryset is not None, (
            f"'{type(self).__name__}' should either include a `queryset` attribute, "
            "or override the `get_queryset()` method."
        )
        queryset = self.queryset
        if isinstance(queryset, QuerySet):
            queryset = queryset.all()
        return queryset

    def get_object(self, **kwargs: Any) -> Model:
        """The object named by the ``lookup_url_kwarg`` argument (``Http404`` when absent)."""
        queryset = self.filter_queryset(self.get_queryset(**kwargs), **kwargs)
        lookup = self.lookup_url_kwarg or self.lookup_field
        if lookup not in kwargs:
            raise InvalidMessage(f'Expected the argument "{lookup}".')
        return get_object_or_404(queryset, **{self.lookup_field: kwargs[lookup]})

    def get_serializer(
        self, action_kwargs: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> BaseSerializer[Any]:
        """An instance of ``get_serializer_class()`` with ``get_serializer_context()``."""
        action_kwargs = action_kwargs or {}
        serializer_class = self.get_serializer_class(**action_kwargs)
        kwargs["context"] = self.get_serializer_context(**action_kwargs)
        return serializer_class(*args, **kwargs)

    def get_serializer_class(self, **kwargs: Any) -> Any:
        """``serializer_class``; override to vary it by action or user."""
        assert self.serializer_class is not None, (
            f"'{type(self).__name__}' should either include a `serializer_class` attribute, "
            "or override the `get_serializer_class()` method."
        )
        return self.serializer_class

    def get_serializer_context(self, **kwargs: Any) -> dict[str, Any]:
        """``scope``, ``consumer`` and a ``request`` built from the scope (``request.user``)."""
        return {"scope": self.scope, "consumer": self, "request": request_from_scope(self.scope)}

    def filter_queryset(self, queryset: QuerySet[Any], **kwargs: Any) -> QuerySet[Any]:
        """Hook to narrow the queryset by the action's arguments (identity by default)."""
        return queryset

"""DCRF's CRUD actions: list (optionally paginated), retrieve, create, update, patch, delete."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from rxcdc.api.decorators import action
from rxcdc.api.settings import api_settings

__all__ = [
    "CreateModelMixin",
    "DeleteModelMixin",
    "ListModelMixin",
    "PaginatedModelListMixin",
    "PatchModelMixin",
    "RetrieveModelMixin",
    "StreamedPaginatedListMixin",
    "UpdateModelMixin",
]

_DEFAULT = object()


class CreateModelMixin:
    """``create`` with ``data``: 201 and the new object."""

    @action()
    def create(self: Any, data: Any, **kwargs: Any) -> tuple[Any, int]:
        serializer = self.get_serializer(data=data, action_kwargs=kwargs)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer, **kwargs)
        return serializer.data, status.HTTP_201_CREATED

    def perform_create(self, serializer: Any, **kwargs: Any) -> None:
        """Save a validated new object."""
        serializer.save()


class ListModelMixin:
    """``list``: every object, or a page of them when the consumer has a ``pagination_class``."""

    @action()
    def list(self: Any, **kwargs: Any) -> tuple[Any, int]:
        queryset = self.filter_queryset(self.get_queryset(**kwargs), **kwargs)
        page = self.paginate_queryset(queryset, **kwargs)
        if page is not None:
            serializer = self.get_serializer(instance=page, many=True, action_kwargs=kwargs)
            return self.get_paginated_response(serializer.data), status.HTTP_200_OK
        serializer = self.get_serializer(instance=queryset, many=True, action_kwargs=kwargs)
        return serializer.data, status.HTTP_200_OK

    @property
    def paginator(self) -> Any:
        """The pagination instance, or None."""
        if not hasattr(self, "_paginator"):
            cls = getattr(self, "pagination_class", None)
            if cls is _DEFAULT:
                cls = api_settings.DEFAULT_PAGINATION_CLASS
            self._paginator = cls() if cls is not None else None
        return self._paginator

    def paginate_queryset(self, queryset: Any, **kwargs: Any) -> Any:
        """The requested page, or None when not paginating."""
        if self.paginator is None:
            return None
        return self.paginator.paginate_queryset(
            queryset, getattr(self, "scope", None), view=self, **kwargs
        )

    def get_paginated_response(self, data: Any) -> Any:
        """The page in the paginator's envelope."""
        return self.paginator.get_paginated_response(data)


class PaginatedModelListMixin(ListModelMixin):
    """``list`` paginated by ``DEFAULT_PAGINATION_CLASS`` unless ``pagination_class`` is set."""

    pagination_class: Any = _DEFAULT


class StreamedPaginatedListMixin(PaginatedModelListMixin):
    """``list`` answered page after page, one reply each, until the last page (DCRF 1.3).

    Needs a paginator (``pagination_class`` or ``DEFAULT_PAGINATION_CLASS``); without one the
    whole list is one reply.
    """

    @action()
    async def list(self: Any, action: str, request_id: Any = None, **kwargs: Any) -> None:
        while True:
            data, code = await super().list(request_id=request_id, action=action, **kwargs)
            await self.reply(action=action, data=data, status=code, request_id=request_id)
            if not isinstance(data, dict) or "offset" not in data:
                return
            offset, limit, count = data["offset"], data["limit"], data["count"]
            if not limit or offset + limit >= count:
                return
            kwargs["offset"] = offset + limit


class RetrieveModelMixin:
    """``retrieve`` by the lookup argument (``pk``)."""

    @action()
    def retrieve(self: Any, **kwargs: Any) -> tuple[Any, int]:
        instance = self.get_object(**kwargs)
        serializer = self.get_serializer(instance=instance, action_kwargs=kwargs)
        return serializer.data, status.HTTP_200_OK


class UpdateModelMixin:
    """``update`` (every field) with the lookup argument and ``data``."""

    @action()
    def update(self: Any, data: Any, **kwargs: Any) -> tuple[Any, int]:
        return _save(self, data, kwargs, partial=False, perform=self.perform_update)

    def perform_update(self, serializer: Any, **kwargs: Any) -> None:
        """Save a validated object."""
        serializer.save()


class PatchModelMixin:
    """``patch`` (some fields) with the lookup argument and ``data``."""

    @action()
    def patch(self: Any, data: Any, **kwargs: Any) -> tuple[Any, int]:
        return _save(self, data, kwargs, partial=True, perform=self.perform_patch)

    def perform_patch(self, serializer: Any, **kwargs: Any) -> None:
        """Save a validated object."""
        serializer.save()


class DeleteModelMixin:
    """``delete`` by the lookup argument: 204 and ``data: null``."""

    @action()
    def delete(self: Any, **kwargs: Any) -> tuple[None, int]:
        instance = self.get_object(**kwargs)
        self.perform_delete(instance, **kwargs)
        return None, status.HTTP_204_NO_CONTENT

    def perform_delete(self, instance: Any, **kwargs: Any) -> None:
        """Delete the object."""
        instance.delete()


def _save(
    consumer: Any, data: Any, kwargs: dict[str, Any], partial: bool, perform: Any
) -> tuple[Any, int]:
    instance = consumer.get_object(data=data, **kwargs)
    serializer = consumer.get_serializer(
        instance=instance, data=data, action_kwargs=kwargs, partial=partial
    )
    serializer.is_valid(raise_exception=True)
    perform(serializer, **kwargs)
    if getattr(instance, "_prefetched_objects_cache", None):
        instance._prefetched_objects_cache = {}
    return serializer.data, status.HTTP_200_OK

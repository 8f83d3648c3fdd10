"""Calling a Django or DRF view over the socket (``view_as_consumer``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.scope import request_from_scope

__all__ = ["DjangoViewAsConsumer"]


class DjangoViewAsConsumer(AsyncAPIConsumer):
    """Maps each action to an HTTP method of ``view``; replies with the response and its status.

    ``query`` becomes ``request.GET`` (its JSON values as they came, as DCRF does),
    ``parameters`` the view's keyword arguments and ``data`` the JSON body (DRF's ``request.data``).
    """

    view: Any = None
    actions: ClassVar[dict[str, str]] = {}

    async def handle_action(self, action: str, request_id: Any, **kwargs: Any) -> None:
        """Check permissions, call the view in a thread, reply with its content and status."""
        try:
            await self.check_permissions(action, **kwargs)
            if not isinstance(action, str) or action not in self.actions:
                raise MethodNotAllowed(method=action)
            content, status = await database_sync_to_async(self.call_view)(action, **kwargs)
            await self.reply(action=action, request_id=request_id, data=content, status=status)
        except Exception as exc:
            await self.handle_exception(exc, action=action, request_id=request_id)

    def call_view(self, action: str, **kwargs: Any) -> tuple[Any, int]:
        """Run the view (sync); JSON-able ``Response.data`` as is, else the rendered content."""
        request = request_from_scope(self.scope, self.actions[action], kwargs.get("data"))
        # Values keep their JSON type (``{"value": 1}`` reads back as 1): DCRF's views get them
        # that way, and a string would break ``Response(request.GET)`` round trips.
        for key, value in (kwargs.get("query") or {}).items():
            if isinstance(value, list):
                request.GET.setlist(key, list(value))
            else:
                request.GET[key] = value
        args, view_kwargs = self.get_view_args(action=action, **kwargs)
        response = self.view(request, *args, **view_kwargs)
        if isinstance(response, Response):
            try:
                json.dumps(response.data)
                return response.data, response.status_code
            except (TypeError, ValueError):
                pass
        if isinstance(response, SimpleTemplateResponse):
            response.render()
        content: Any = response.content
        if isinstance(content, bytes):
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError:
                content = content.hex()
        return content, response.status_code

    def get_view_args(self, action: str, **kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the view (``parameters`` by default)."""
        return [], dict(kwargs.get("parameters") or {})

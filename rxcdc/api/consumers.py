"""DCRF's request/response frames over a JSON websocket (`AsyncAPIConsumer`); views as consumers."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import APIException, MethodNotAllowed, PermissionDenied
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from rxcdc.api.exceptions import ActionMissingException, InvalidMessage, format_errors
from rxcdc.api.permissions import wrap
from rxcdc.api.scope import ensure_async, request_from_scope
from rxcdc.api.settings import api_settings
from rxcdc.origin import foreign_origin, has_cookie, origin_of

__all__ = ["AsyncAPIConsumer", "DjangoViewAsConsumer", "view_as_consumer"]

log = logging.getLogger("rxcdc.api")
SERVER_ERROR = "A server error occurred."
RESERVED = frozenset({"scope", "consumer"})  # permission hooks take these as keywords


class AsyncAPIConsumer(AsyncJsonWebsocketConsumer):
    """Runs ``@action`` methods for ``{"action", "request_id", ...kwargs}`` frames.

    Replies are ``{"errors", "data", "action", "response_status", "request_id"}``. A failing
    action is answered (500 for unexpected exceptions, which are logged); the socket stays open.
    """

    permission_classes: Sequence[Any] | None = None  # None: DEFAULT_PERMISSION_CLASSES
    available_actions: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.available_actions = {}
        for name in dir(cls):
            attr = inspect.getattr_static(cls, name, None)
            if getattr(attr, "action", False) is True:
                cls.available_actions[getattr(attr, "kwargs", {}).get("name", name)] = name

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: set[str] = set(getattr(self, "groups", None) or [])
        self.detached_tasks: list[asyncio.Task[Any]] = []
        # observer id → group → request ids that subscribed through it
        self._observer_group_to_request_id: dict[str, dict[str, set[Any]]] = defaultdict(
            lambda: defaultdict(set)
        )

    # -- connection ----------------------------------------------------------------------------

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Check the whole Origin, then every permission's ``can_connect``; close on a refusal.

        A foreign Origin is refused at the handshake (HTTP 403), as ``rxcdc.origin`` rules.
        """
        if foreign_origin(self.scope):
            await self.close()  # before accept: the handshake is refused
            return
        if origin_of(self.scope) is None and has_cookie(self.scope):
            await self._forget_session_user()
        for permission in await self.get_permissions(action="connect"):
            allowed = await ensure_async(permission.can_connect)(
                scope=self.scope, consumer=self, message=message
            )
            if not allowed:
                await self.close()
                return
        await super().websocket_connect(message)

    async def _forget_session_user(self) -> None:
        # No Origin: not a browser page we can vouch for, so the session cookie it carries does
        # not authenticate it (a user a token middleware put in the scope stays).
        from django.contrib.auth import SESSION_KEY
        from django.contrib.auth.models import AnonymousUser

        user, session = self.scope.get("user"), self.scope.get("session")
        if user is None or session is None or not user.is_authenticated:
            return
        owner = await database_sync_to_async(session.get)(SESSION_KEY)
        if owner is not None and str(owner) == str(user.pk):
            self.scope["user"] = AnonymousUser()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Cancel detached tasks (and wait for them), leave groups, stop."""
        tasks = list(self.detached_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await super().websocket_disconnect(message)

    async def add_group(self, name: str) -> None:
        """Join a channel-layer group (left again on disconnect)."""
        if name not in self.groups:
            await self.channel_layer.group_add(name, self.channel_name)
            self.groups.add(name)

    async def remove_group(self, name: str) -> None:
        """Leave a group joined with ``add_group``."""
        if name in self.groups:
            await self.channel_layer.group_discard(name, self.channel_name)
            self.groups.discard(name)

    def detach(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` alongside the consumer's message loop until it ends or the socket closes."""
        task = asyncio.ensure_future(coro)
        self.detached_tasks.append(task)
        task.add_done_callback(self._detached_done)
        return task

    def _detached_done(self, task: asyncio.Task[Any]) -> None:
        if task in self.detached_tasks:
            self.detached_tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("detached task failed", exc_info=task.exception())

    # -- permissions ---------------------------------------------------------------------------

    async def get_permissions(self, action: str, **kwargs: Any) -> list[Any]:
        """Instances of ``permission_classes`` (DRF permissions wrapped)."""
        classes = self.permission_classes
        if classes is None:
            classes = api_settings.DEFAULT_PERMISSION_CLASSES
        return [wrap(cls()) for cls in classes]

    async def check_permissions(self, action: str, **kwargs: Any) -> None:
        """Raise ``PermissionDenied`` unless every permission allows ``action``."""
        for permission in await self.get_permissions(action=action, **kwargs):
            if not await ensure_async(permission.has_permission)(
                scope=self.scope, consumer=self, action=action, **kwargs
            ):
                raise PermissionDenied()

    # -- frames --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Decode a frame; malformed JSON is answered with a 400 instead of closing the socket."""
        try:
            content = await self.decode_json(text_data if text_data is not None else bytes_data)
        except (ValueError, TypeError):
            await self.reply(action=None, errors=["Malformed JSON."], status=400)
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Split a frame into action, request id and keyword arguments, then run the action."""
        if not isinstance(content, dict):
            await self.reply(action=None, errors=["Expected a JSON object."], status=400)
            return
        request_id = content.pop("request_id", None)
        try:
            action, arguments = await self.get_action_name(content, **kwargs)
        except Exception as exc:
            await self.handle_exception(exc, action=None, request_id=request_id)
            return
        await self.handle_action(action, request_id=request_id, **arguments)

    async def get_action_name(
        self, content: dict[str, Any], **kwargs: Any
    ) -> tuple[str, dict[str, Any]]:
        """``(action, arguments)`` of a frame; override to use another envelope."""
        action = content.pop("action", None)
        if action is None:
            raise ActionMissingException()
        return action, content

    async def handle_action(self, action: str, request_id: Any, **kwargs: Any) -> None:
        """Check permissions, run the action, reply with its ``(data, status)``."""
        try:
            if not RESERVED.isdisjoint(kwargs):
                raise InvalidMessage(f"Invalid arguments: {sorted(RESERVED & set(kwargs))}.")
            await self.check_permissions(action, **kwargs)
            if not isinstance(action, str) or action not in self.available_actions:
                raise MethodNotAllowed(method=action)
            method = getattr(self, self.available_actions[action])
            _check_arguments(method, request_id=request_id, action=action, **kwargs)
            response = await method(request_id=request_id, action=action, **kwargs)
            if isinstance(response, tuple):
                data, status = response
                await self.reply(action=action, data=data, status=status, request_id=request_id)
        except Exception as exc:
            await self.handle_exception(exc, action=action, request_id=request_id)

    async def handle_exception(self, exc: Exception, action: Any, request_id: Any) -> None:
        """API errors become their status and details; anything else a logged 500."""
        if isinstance(exc, APIException):
            errors, status = format_errors(exc.detail), exc.status_code
        elif isinstance(exc, Http404):
            errors, status = ["Not found"], 404
        elif isinstance(exc, DjangoPermissionDenied):
            errors, status = [str(PermissionDenied.default_detail)], 403
        else:
            log.exception("action %r (request %r) failed", action, request_id)
            errors, status = [SERVER_ERROR], 500
        await self.reply(action=action, errors=errors, status=status, request_id=request_id)

    async def reply(
        self,
        action: Any,
        data: Any = None,
        errors: list[Any] | None = None,
        status: int = 200,
        request_id: Any = None,
    ) -> None:
        """Send a DCRF response frame."""
        await self.send_json(
            {
                "errors": errors if errors is not None else [],
                "data": data,
                "action": action,
                "response_status": status,
                "request_id": request_id,
            }
        )

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        """JSON with DRF's encoder (dates, decimals, UUIDs, lazy strings)."""
        return json.dumps(content, cls=JSONEncoder)


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _check_arguments(method: Any, **kwargs: Any) -> None:
    """A frame's arguments must fit the action: a 400, not a TypeError from inside it."""
    func = getattr(method, "__func__", method)
    try:
        _signature(func).bind(None, **kwargs)
    except TypeError as exc:
        raise InvalidMessage(f"Invalid arguments: {exc}.") from None


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


def view_as_consumer(view: Callable[..., Any], mapped_actions: dict[str, str] | None = None) -> Any:
    """An ASGI app calling a Django/DRF view for ``{action, request_id, query, parameters, data}``.

    ``mapped_actions`` maps actions to HTTP methods (default: create PUT, update PATCH, list and
    retrieve GET).
    """
    actions = mapped_actions or {
        "create": "PUT",
        "update": "PATCH",
        "list": "GET",
        "retrieve": "GET",
    }
    wrapper: Any = type(
        "DjangoViewWrapper",
        (DjangoViewAsConsumer,),
        {"view": staticmethod(view), "actions": dict(actions)},
    )
    return wrapper.as_asgi()

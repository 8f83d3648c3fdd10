"""``@action`` marks consumer methods clients may call; ``@detached`` runs a method as a task."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

__all__ = ["action", "detached"]


def action(atomic: bool | None = None, detached: bool | None = None, **kwargs: Any) -> Any:
    """Expose a method as an action (``name=`` renames it).

    Sync methods run in a thread with database connection cleanup, inside ``transaction.atomic``
    when ``atomic`` (default: ``ATOMIC_REQUESTS``); async ones may be ``detached``.
    """

    def decorator(func: Callable[..., Any]) -> Any:
        wrapped: Any
        if asyncio.iscoroutinefunction(func):
            if atomic:
                raise ValueError("Only synchronous actions can be atomic")
            wrapped = _detached_action(func) if detached else func
        else:
            if detached:
                raise ValueError("Only asynchronous actions can be detached")
            wrapped = _in_thread(func, atomic)
        func.action = True  # type: ignore[attr-defined]
        func.kwargs = kwargs  # type: ignore[attr-defined]
        wrapped.action = True
        wrapped.kwargs = kwargs
        return wrapped

    return decorator


def detached(func: Callable[..., Any]) -> Any:
    """Run an async method as a task of the consumer (cancelled on disconnect); returns the task."""

    @functools.wraps(func)
    async def start(self: Any, *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return self.detach(func(self, *args, **kwargs))  # type: ignore[no-any-return]

    return start


def _in_thread(func: Callable[..., Any], atomic: bool | None) -> Any:
    @functools.wraps(func)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            if _atomic(atomic):
                with transaction.atomic():
                    return func(self, *args, **kwargs)
            return func(self, *args, **kwargs)

        return await database_sync_to_async(call)()

    return run


def _atomic(atomic: bool | None) -> bool:
    if atomic is not None:
        return atomic
    return bool(settings.DATABASES.get("default", {}).get("ATOMIC_REQUESTS", False))


def _detached_action(func: Callable[..., Any]) -> Any:
    @functools.wraps(func)
    async def start(self: Any, *args: Any, **kwargs: Any) -> None:
        name, request_id = kwargs.get("action"), kwargs.get("request_id")

        async def run() -> None:
            try:
                response = await func(self, *args, **kwargs)
                if isinstance(response, tuple):
                    data, status = response
                    await self.reply(action=name, data=data, status=status, request_id=request_id)
            except Exception as exc:
                await self.handle_exception(exc, action=name, request_id=request_id)

        self.detach(run())

    return start

"""``@observer(signal)``: DCRF's signal observer, for signals other than model changes.

A Django signal fires only in the process that sends it, so this observer is blind to what
that process does not signal: ``QuerySet.update()``, ``bulk_create``, raw SQL, other processes.
Use ``model_observer`` (fed from the WAL) for model changes.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from rxcdc.api.observer.base import BaseObserver
from rxcdc.serialize import jsonable

__all__ = ["SignalObserver", "observer"]


class SignalObserver(BaseObserver):
    """Sends each ``signal`` it receives to its groups through the channel layer, in the sender.

    The body is the ``serializer`` hook's ``func(observer, signal, *args, **kwargs)``, else ``{}``.
    """

    def __init__(self, func: Callable[..., Any], signal: Any, **connect_kwargs: Any) -> None:
        super().__init__(func)
        self.signal = signal
        # Weakly, as DCRF: the receiver goes away with the consumer class that holds the observer.
        signal.connect(self.receive, **connect_kwargs)

    def group_names_for_signal(self, *args: Any, message: Any = None, **kwargs: Any) -> list[str]:
        """The groups one signal goes to (``groups_for_signal`` gets the signal's arguments)."""
        if self._groups_for_signal is None:
            return [self.default_group()]
        return [
            self.group_name(g)
            for g in self._groups_for_signal(self, *args, message=message, **kwargs)
        ]

    def receive(self, signal: Any, *args: Any, **kwargs: Any) -> None:
        """The signal receiver: serialize once, send to every group."""
        body = self._serializer(self, signal, *args, **kwargs) if self._serializer else {}
        message = {"type": self.message_type, "body": jsonable(body)}
        sends = []
        for group in self.group_names_for_signal(*args, message=message, **kwargs):
            sends.append((group, {**copy.deepcopy(message), "group": group}))
        _send(sends)


_pending: set[asyncio.Task[None]] = set()  # sends scheduled from the loop's thread, until done


def _send(messages: list[tuple[str, dict[str, Any]]]) -> None:
    async def send_all() -> None:
        layer = get_channel_layer()
        for group, message in messages:
            await layer.group_send(group, message)

    if not messages:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(send_all)()
    else:  # sent from async code in the loop's own thread: send once it yields
        task = loop.create_task(send_all())
        _pending.add(task)
        task.add_done_callback(_pending.discard)


def observer(signal: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], SignalObserver]:
    """Make an async consumer method receive ``signal`` (``signal.connect`` takes ``kwargs``)."""

    def decorator(func: Callable[..., Any]) -> SignalObserver:
        return SignalObserver(func, signal, **kwargs)

    return decorator

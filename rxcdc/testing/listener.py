"""A channel-layer channel for tests: joins groups and collects what the worker publishes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

__all__ = ["Listener"]


class Listener:
    """A channel on a layer instance and an event loop of its own, usable from sync tests.

    Its own layer instance: closing the worker's publisher closes the pools of the global one.
    One receive() runs for the listener's whole life: cancelling one is how a consumer leaves,
    and the pub/sub layer then unsubscribes its channel.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.channel: str = self._run(self.layer.new_channel())
        self.inbox: asyncio.Queue[dict[str, Any]] = self._run(self._start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _start(self) -> asyncio.Queue[dict[str, Any]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def receive_forever() -> None:
            while True:
                inbox.put_nowait(await self.layer.receive(self.channel))

        self._receiver = asyncio.ensure_future(receive_forever())
        return inbox

    def join(self, *groups: str) -> None:
        """Add the channel to these groups."""
        for group in groups:
            self._run(self.layer.group_add(group, self.channel))

    def receive(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``n`` messages; raises ``TimeoutError`` after ``timeout`` s without one."""

        async def take() -> list[dict[str, Any]]:
            return [await asyncio.wait_for(self.inbox.get(), timeout) for _ in range(n)]

        return asyncio.run_coroutine_threadsafe(take(), self.loop).result()

    def drain(self, timeout: float = 0.3) -> list[dict[str, Any]]:
        """Everything received until the channel stays quiet for ``timeout`` seconds."""

        async def collect() -> list[dict[str, Any]]:
            out = []
            while True:
                try:
                    out.append(await asyncio.wait_for(self.inbox.get(), timeout))
                except TimeoutError:
                    return out

        return asyncio.run_coroutine_threadsafe(collect(), self.loop).result()

    def close(self) -> None:
        """Leave, close the layer's connections and stop the loop."""

        async def stop() -> None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
            close = getattr(self.layer, "close_pools", None)  # the pub/sub layer has none
            if close is not None:
                await close()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

"""Waiting on a condition with a deadline: the one polling loop of rxcdc's tests and services.

A test waits for what it needs (a frame, a row, a process's output), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WaitFailed", "until", "wait_until"]

T = TypeVar("T")


class WaitFailed(AssertionError):
    """The condition did not hold in time, or the process it depended on exited."""


def wait_until(
    condition: Callable[[], T],
    what: str = "the condition held",
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
    process: subprocess.Popen[bytes] | None = None,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy; return it.

    Raises ``WaitFailed`` naming ``what`` after ``timeout`` seconds, or as soon as ``process``
    exits; ``context()`` (a log's tail, say) is added to the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            _fail(f"waiting until {what}: the process exited ({process.returncode})", context)
        if time.monotonic() > deadline:
            _fail(f"timed out after {timeout:g} s waiting until {what}", context)
        time.sleep(interval)  # polling a condition with a deadline


async def until(
    condition: Callable[[], T],
    what: str = "the condition held",
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
) -> T:
    """``wait_until`` for coroutines: the event loop runs while it polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            _fail(f"timed out after {timeout:g} s waiting until {what}", None)
        await asyncio.sleep(interval)  # polling a condition with a deadline


def _fail(message: str, context: Callable[[], str] | None) -> None:
    raise WaitFailed(f"{message}\n{context()}" if context is not None else message)

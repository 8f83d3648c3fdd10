"""Notifications to an anchor's clients and system messages to every client."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from rxcdc import frames
from rxcdc.fanout import SYSTEM_GROUP, anchor_group
from rxcdc.serialize import jsonable

__all__ = ["abroadcast_notification", "broadcast_notification", "broadcast_system_message"]


async def abroadcast_notification(
    channel: Any, anchor: Any, payload: dict[str, Any], user: Any = None
) -> None:
    """Send ``payload`` to every client of ``anchor`` (or only ``user``'s); not cached."""
    await get_channel_layer().group_send(
        anchor_group(channel.label(), anchor),
        frames.rx_notification(jsonable(anchor), payload, jsonable(getattr(user, "pk", user))),
    )


def broadcast_notification(
    channel: Any, anchor: Any, payload: dict[str, Any], user: Any = None
) -> None:
    """Synchronous ``abroadcast_notification`` (views, management commands, tasks)."""
    async_to_sync(abroadcast_notification)(channel, anchor, payload, user)


def broadcast_system_message(source: str, message: str) -> None:
    """Send a system message to every connected client (``manage.py rx_broadcast``)."""
    async_to_sync(get_channel_layer().group_send)(SYSTEM_GROUP, frames.rx_system(source, message))

"""Admission of a new connection: who it is, whether the channel lets it in, which anchors.

Everything here runs on the ``auth`` frame, before ``auth.ok``; a refusal is an exception that
the consumer turns into ``auth.error`` and a close code (docs/protocol.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError

from rxcdc import hooks, protocol, reauth
from rxcdc.anchors import listed_anchors
from rxcdc.origin import has_cookie, origin_of

__all__ = ["Admission", "Refused", "admit", "hook_failed"]

log = logging.getLogger("rxcdc.admission")

# What a bad URL argument or a missing row raises from the channel's lookups ("general" for an
# integer pk raises ValueError, a malformed UUID ValidationError).
NOT_FOUND = (ValueError, TypeError, LookupError, ObjectDoesNotExist, DjangoValidationError)


class Refused(Exception):
    """The connection is refused: ``auth.error`` with ``code`` and ``message``, then close."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code


@dataclass
class Admission:
    """An admitted connection: its ``StateChannel`` instance, user, token and anchors."""

    channel: Any  # user, url_kwargs and consumer set
    user: Any
    token: str | None
    pks: list[Any]
    cut: bool  # RX_MAX_ANCHORS cut a list channel's anchors


def hook_failed(channel_class: type, what: str) -> Refused:
    """Log the exception being handled (a hook of the channel raised) and refuse with 4500."""
    log.exception("%s.%s raised", channel_class.__name__, what)
    return Refused("server_error", f"the server failed in {what}", protocol.CLOSE_SERVER_ERROR)


async def admit(channel_class: Any, scope: Any, frame: dict[str, Any], consumer: Any) -> Admission:
    """Authenticate the ``auth`` frame on ``scope``, ask the channel, list its anchors.

    Raises ``Refused`` (4401, 4403, 4404 or 4500) when the connection may not go on.
    """
    user = scope.get("user")
    token = frame.get("token")
    # No Origin: not a browser page we can vouch for, so the cookie it carries cannot
    # authenticate it (a token can: another site cannot send one it does not know).
    cookie_only = not token and origin_of(scope) is None and has_cookie(scope)
    if cookie_only and user is not None and user.is_authenticated:
        message = "a session needs an Origin header; clients without one send a token"
        raise Refused("bad_origin", message, protocol.CLOSE_FORBIDDEN)
    if token:
        user = await reauth.token_user(token)
        if user is None:
            raise Refused("unauthenticated", "invalid token", protocol.CLOSE_UNAUTHENTICATED)
    kwargs = dict(scope.get("url_route", {}).get("kwargs", {}))
    channel = channel_class()
    channel.user, channel.url_kwargs, channel.consumer = user, kwargs, consumer
    single = not channel_class.is_list()
    anchor = None
    if single and hooks.takes_anchor(channel_class, kwargs):
        # has_permission(self, user, chat_room) (RxDjango's style) gets the row itself.
        anchor = await _anchor_row(channel)
    try:
        allowed = user is not None and await database_sync_to_async(channel.permitted)(user, anchor)
    except Exception as exc:
        raise hook_failed(channel_class, "has_permission") from exc
    if not allowed:
        if user is None or not user.is_authenticated:
            raise Refused("unauthenticated", "log in first", protocol.CLOSE_UNAUTHENTICATED)
        raise Refused("forbidden", "permission denied", protocol.CLOSE_FORBIDDEN)
    if single:
        # Before auth.ok: a missing anchor is refused here, never heated by the worker.
        if anchor is None:
            anchor = await _anchor_row(channel)
        return Admission(channel, user, token, [anchor.pk], False)
    try:
        pks, cut = await database_sync_to_async(listed_anchors)(channel)
    except NOT_FOUND as exc:
        raise Refused("not_found", "no such anchors", protocol.CLOSE_NOT_FOUND) from exc
    except Exception as exc:
        raise hook_failed(channel_class, "list_instances") from exc
    return Admission(channel, user, token, pks, cut)


async def _anchor_row(channel: Any) -> Any:
    """The anchor row of a single channel; raises ``Refused`` (4404, 4500) without one."""
    try:
        return await database_sync_to_async(channel.anchor_instance)()
    except NOT_FOUND as exc:
        raise Refused("not_found", "no such anchor", protocol.CLOSE_NOT_FOUND) from exc
    except Exception as exc:
        raise hook_failed(type(channel), "get_anchor") from exc

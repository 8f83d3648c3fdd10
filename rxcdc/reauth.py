"""Re-authentication of open sockets: revoked credentials close 4401, lost permission 4403.

Checked every ``RX_REAUTH_INTERVAL`` seconds, and at once when a ``Token`` or user row changes
through the ORM in any process that loaded rxcdc (signals → the user's group ``rx.user.<pk>``).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from rxcdc import frames, protocol

__all__ = ["Verdict", "connect_signals", "credentials", "user_group", "verdict"]

log = logging.getLogger("rxcdc.reauth")

# (auth.error code, message, close code), or None: the connection may stay.
Verdict = tuple[str, str, int] | None


def user_group(pk: Any) -> str:
    """The channel-layer group of a user's sockets (told to re-check when the user changes)."""
    return f"rx.user.{pk}"


def credentials(scope: dict[str, Any], token: str | None) -> dict[str, Any]:
    """What a connection authenticated with, to check again later."""
    session = scope.get("session")
    return {"token": token, "session_key": getattr(session, "session_key", None)}


async def current_user(creds: dict[str, Any], user: Any) -> Any:
    """The user these credentials name now (None once revoked; anonymous stays anonymous)."""
    if creds["token"]:
        return await token_user(creds["token"])
    if user is None or not user.is_authenticated:
        return user
    if creds["session_key"]:
        return await _session_user(creds["session_key"])
    return await _reloaded(user)  # put in the scope by a middleware of the project's own


async def verdict(channel: Any, creds: dict[str, Any]) -> Verdict:
    """Check the connection's credentials and ``has_permission`` again; refreshes ``channel.user``.

    Raises what ``has_permission`` raises.
    """
    was_authenticated = channel.user is not None and channel.user.is_authenticated
    user = await current_user(creds, channel.user)
    if user is None or (was_authenticated and not user.is_authenticated):
        return "unauthenticated", "the credentials were revoked", protocol.CLOSE_UNAUTHENTICATED
    channel.user = user
    try:
        allowed = await database_sync_to_async(channel.permitted)(user)
    except ObjectDoesNotExist:  # has_permission takes the anchor row, and it was deleted
        return "not_found", "the anchor was deleted", protocol.CLOSE_NOT_FOUND
    if not allowed:
        return "forbidden", "permission withdrawn", protocol.CLOSE_FORBIDDEN
    return None


async def token_user(key: str) -> Any:
    """The active user of a DRF token, or None."""
    from rest_framework.authtoken.models import Token

    def lookup() -> Any:
        token = Token.objects.select_related("user").filter(key=key).first()
        return token.user if token is not None and _active(token.user) else None

    return await database_sync_to_async(lookup)()


async def _session_user(session_key: str) -> Any:
    # A fresh store: the scope's own keeps what it loaded at the handshake.
    from channels.auth import get_user
    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.utils.module_loading import import_string

    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user = await get_user({"session": store})
    return user if _active(user) else AnonymousUser()


async def _reloaded(user: Any) -> Any:
    def load() -> Any:
        # _meta, not type(): the scope's user may be a lazy proxy
        fresh = user._meta.model._default_manager.filter(pk=user.pk).first()
        return fresh if fresh is not None and _active(fresh) else None

    return await database_sync_to_async(load)()


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_active", True))


# -- signals: re-check at once ------------------------------------------------------------------


def _tell(pk: Any, ended_session: str | None = None) -> None:
    from channels.layers import get_channel_layer

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(user_group(pk), frames.rx_reauth(ended_session))
        except Exception as exc:  # the row change itself must not fail; the interval catches up
            log.warning("could not tell user %s's sockets to re-authenticate: %s", pk, exc)

    # After the commit: a re-check that ran before it would still find the old row.
    transaction.on_commit(send)


def _token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    _tell(instance.user_id)


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # every login saves this; nothing about access changed
    _tell(instance.pk)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        # Sent before logout() flushes the session: name it, or a re-check could still find it.
        session = getattr(request, "session", None)
        _tell(user.pk, ended_session=getattr(session, "session_key", None))


def connect_signals() -> None:
    """Re-check a user's sockets when their token or user row changes (``AppConfig.ready``)."""
    from django.contrib.auth import get_user_model, user_logged_out
    from django.db.models.signals import post_delete, post_save

    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="rxcdc.reauth.user")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="rxcdc.reauth.user.del")
    user_logged_out.connect(_logged_out, dispatch_uid="rxcdc.reauth.logout")
    from django.apps import apps

    if apps.is_installed("rest_framework.authtoken"):
        from rest_framework.authtoken.models import Token

        post_delete.connect(_token_changed, sender=Token, dispatch_uid="rxcdc.reauth.token")
        post_save.connect(_token_changed, sender=Token, dispatch_uid="rxcdc.reauth.token.save")

"""Issue 19, item 2: revoked credentials close open sockets (4401), lost permission too (4403).

Deleting a token through the ORM is heard at once (signal → the user's group); everything else
(a raw ``UPDATE``, a flushed session, ``has_permission`` turning false) within the re-check
interval, which the tests set small and wait on with a deadline.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, user_logged_out
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from tests.testapp.models import Message, Room
from tests.ws.conftest import Client, application

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def room_and_user(name: str = "alice") -> tuple[Room, User, str]:
    room = Room.objects.create(name="r")
    user = User.objects.create(username=name)
    return room, user, Token.objects.create(user=user).key


@sync_to_async
def session_of(user: User) -> str:
    """A logged-in session of ``user`` in the database; its key."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def session_headers(key: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"cookie", f"sessionid={key}".encode()),
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
    ]


async def live(c: Client, token: str | None = None) -> None:
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")


async def refused(c: Client, timeout: float = 10) -> tuple[str, int]:
    """The ``auth.error`` code and the close code that follow (other frames skipped)."""
    frame = await c.until(lambda f: f["type"] == "auth.error", timeout)
    closed = await c.comm.receive_output(5)
    assert closed["type"] == "websocket.close", closed
    return frame["code"], closed["code"]


async def test_deleting_the_token_closes_its_sockets_at_once(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 3600  # only the signal can be this quick
    room, _, token = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/")
    await live(c, token)
    await sync_to_async(lambda: Token.objects.get(key=token).delete())()  # logged out
    assert await refused(c) == ("unauthenticated", 4401)


async def test_deactivating_the_user_closes_within_the_interval(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 0.3
    room, user, token = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/")
    await live(c, token)
    # A queryset update sends no signal: the interval catches it.
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
    assert await refused(c) == ("unauthenticated", 4401)


async def test_deactivating_a_user_put_in_the_scope_closes_too(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 0.3
    room, user, _ = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/", user=user)  # a project's own auth middleware
    await live(c)
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
    assert await refused(c) == ("unauthenticated", 4401)


async def test_a_flushed_session_closes_its_sockets(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 0.3
    room, user, _ = await room_and_user()

    key = await session_of(user)
    url = f"/ws/room/{room.pk}/"
    c = Client(url)
    c.comm = WebsocketCommunicator(application, url, headers=session_headers(key))
    await live(c)
    await sync_to_async(Session.objects.filter(session_key=key).delete)()  # logged out elsewhere
    assert await refused(c) == ("unauthenticated", 4401)


async def test_logging_out_closes_that_sessions_sockets_before_the_session_is_flushed(
    live_worker, settings
):
    """``user_logged_out`` comes before ``logout()`` flushes the session: the socket must not
    re-check and find it still valid (it stayed open until the next interval)."""
    settings.RX_REAUTH_INTERVAL = 3600  # only the signal can close it in time
    room, user, token = await room_and_user()
    key = await session_of(user)
    url = f"/ws/room/{room.pk}/"
    c = Client(url)
    c.comm = WebsocketCommunicator(application, url, headers=session_headers(key))
    await live(c)
    other = Client(url)  # the same user with a token: logging out of a browser leaves it be
    await live(other, token)

    @sync_to_async
    def logged_out_not_yet_flushed() -> None:
        request = HttpRequest()
        request.session = SessionStore(key)
        user_logged_out.send(sender=User, request=request, user=user)

    await logged_out_not_yet_flushed()
    assert await refused(c, timeout=5) == ("unauthenticated", 4401)
    assert await other.comm.receive_nothing(0.5)  # still open, nothing refused


async def test_losing_permission_closes_with_4403(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 0.3
    room, user, token = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/")
    await live(c, token)
    # RoomChannel.has_permission refuses users named banned-*.
    await sync_to_async(User.objects.filter(pk=user.pk).update)(username="banned-alice")
    assert await refused(c) == ("forbidden", 4403)


async def test_a_revoked_socket_receives_no_more_updates(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 3600
    room, _, token = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/")
    await live(c, token)
    await sync_to_async(Token.objects.filter(key=token).delete)()  # no signal: ask directly
    await c.comm.send_input({"type": "rx.reauth"})
    assert await refused(c) == ("unauthenticated", 4401)
    await sync_to_async(Message.objects.create)(room=room, text="after revocation")
    assert await c.comm.receive_nothing(1.0)


async def test_a_valid_socket_stays_through_many_rechecks(live_worker, settings):
    settings.RX_REAUTH_INTERVAL = 0.1
    room, _, token = await room_and_user()
    c = Client(f"/ws/room/{room.pk}/")
    await live(c, token)
    await sync_to_async(Message.objects.create)(room=room, text="still here")
    frame: dict[str, Any] = await c.until(
        lambda f: (
            f["type"] == "update" and any(i.get("text") == "still here" for i in f["instances"])
        )
    )
    assert frame["anchor"] == room.pk
    assert await c.comm.receive_nothing(1.0)  # ten re-checks later: still open, nothing sent
    await c.comm.send_json_to({"type": "ping"})
    assert (await c.until(lambda f: f["type"] == "pong"))["type"] == "pong"
    await c.close()

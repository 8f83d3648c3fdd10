"""Issue 19, item 3: the whole Origin (scheme, host, port) decides, and a session cookie needs one.

Handshakes carry real ``Origin``/``Host``/``Cookie`` headers through channels' session and auth
middleware to a real consumer with a live worker; the session is a real database session.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from rest_framework.authtoken.models import Token

from tests.testapp.models import Room
from tests.ws.conftest import Client, application

pytestmark = pytest.mark.django_db(transaction=True)

SERVER = "127.0.0.1:8000"  # where the socket is served (its Host)


@sync_to_async
def alice() -> tuple[Room, str, str]:
    """A room, alice's token and a logged-in session of hers."""
    room = Room.objects.create(name="r")
    user = User.objects.create(username="alice")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return room, Token.objects.create(user=user).key, str(session.session_key)


def client(
    room: Room,
    origin: str | None,
    session: str | None,
    scheme: str = "ws",
    host: str = SERVER,
    app: Any = application,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> Client:
    headers = [(b"host", host.encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if session is not None:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    c = Client(f"/ws/room/{room.pk}/")
    c.comm = WebsocketCommunicator(app, f"/ws/room/{room.pk}/", headers=headers)
    c.comm.scope["scheme"] = scheme
    return c


async def outcome(c: Client, token: str | None = None) -> tuple[str, Any]:
    """``("ok", user)`` or ``(auth.error code, close code)``."""
    connected, _ = await c.comm.connect()
    assert connected
    frame: dict[str, Any] = {"type": "auth"}
    if token:
        frame["token"] = token
    await c.comm.send_json_to(frame)
    answer = await c.receive()
    if answer["type"] == "auth.ok":
        await c.close()
        return "ok", answer["user"]
    assert answer["type"] == "auth.error", answer
    closed = await c.comm.receive_output(5)
    assert closed["type"] == "websocket.close"
    return answer["code"], closed["code"]


@pytest.fixture
def hosts(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "app.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.example.net"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # the issue's page on another port
        "https://127.0.0.1",  # ... and on another scheme (and the default port)
        "http://127.0.0.1",  # port 80 is not 8000
        "http://evil.example.com:8000",
        "null",  # sandboxed frames, file: pages
        "http://127.0.0.1:8000.evil.example.com",
    ],
)
async def test_a_page_of_another_origin_cannot_use_the_session(live_worker, hosts, origin):
    room, token, session = await alice()
    assert await outcome(client(room, origin, session)) == ("bad_origin", 4403)
    # A token does not make a foreign page acceptable either: refused before any auth frame.
    assert await outcome(client(room, origin, None), token) == ("bad_origin", 4403)


async def test_the_issues_pages_are_refused_behind_allowed_hosts_origin_validator(
    live_worker, hosts
):
    """The stack docs/protocol.md used to recommend: channels compares the host only."""
    wrapped = AllowedHostsOriginValidator(application)
    room, _, session = await alice()
    for origin in ("http://127.0.0.1:9999", "https://127.0.0.1"):
        c = client(room, origin, session, app=wrapped)
        assert await outcome(c) == ("bad_origin", 4403)


async def test_the_sockets_own_origin_may_use_the_session(live_worker, hosts):
    room, _, session = await alice()
    state, user = await outcome(client(room, "http://127.0.0.1:8000", session))
    assert state == "ok" and user is not None
    # Behind TLS: wss:// on the default port is the page https://app.example.com.
    secure = client(room, "https://app.example.com", session, scheme="wss", host="app.example.com")
    assert (await outcome(secure))[0] == "ok"


async def test_a_fresh_debug_project_allows_its_own_localhost_origin(live_worker, settings):
    # startproject: DEBUG on, ALLOWED_HOSTS empty; Django itself then accepts localhost hosts.
    settings.DEBUG, settings.ALLOWED_HOSTS = True, []
    room, _, session = await alice()
    assert (await outcome(client(room, "http://127.0.0.1:8000", session)))[0] == "ok"
    assert await outcome(client(room, "http://127.0.0.1:9999", session)) == ("bad_origin", 4403)
    settings.DEBUG = False  # and without DEBUG, an empty ALLOWED_HOSTS allows no host at all
    assert await outcome(client(room, "http://127.0.0.1:8000", session)) == ("bad_origin", 4403)


async def test_behind_a_tls_balancer_the_forwarded_scheme_counts(live_worker, hosts, settings):
    """daphne's websocket scope has no scheme: SECURE_PROXY_SSL_HEADER says, as for Django."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    room, _, session = await alice()
    https = ((b"x-forwarded-proto", b"https"),)
    page = "https://app.example.com"
    ok = client(room, page, session, host="app.example.com", extra=https)
    assert (await outcome(ok))[0] == "ok"
    plain = client(
        room, page, session, host="app.example.com", extra=((b"x-forwarded-proto", b"http"),)
    )
    assert await outcome(plain) == ("bad_origin", 4403)


async def test_csrf_trusted_origins_are_allowed(live_worker, hosts):
    room, _, session = await alice()
    assert (await outcome(client(room, "https://admin.example.net", session)))[0] == "ok"
    assert await outcome(client(room, "http://admin.example.net", session)) == ("bad_origin", 4403)


async def test_a_host_outside_allowed_hosts_has_no_own_origin(live_worker, hosts):
    room, _, session = await alice()
    c = client(room, "http://evil.test:8000", session, host="evil.test:8000")
    assert await outcome(c) == ("bad_origin", 4403)


async def test_rx_allowed_origins_replaces_the_default(live_worker, hosts, settings):
    settings.RX_ALLOWED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    room, _, session = await alice()
    assert (await outcome(client(room, "https://app.example.com", session)))[0] == "ok"
    assert (await outcome(client(room, "https://app.example.com:443", session)))[0] == "ok"
    assert (await outcome(client(room, "https://eu.example.org", session)))[0] == "ok"
    for refused in ("https://app.example.com:8443", "http://eu.example.org", f"http://{SERVER}"):
        assert await outcome(client(room, refused, session)) == ("bad_origin", 4403)


async def test_without_origin_a_token_works_and_a_session_cookie_does_not(live_worker, hosts):
    room, token, session = await alice()
    state, user = await outcome(client(room, None, None), token)
    assert state == "ok" and user is not None
    assert (await outcome(client(room, None, session), token))[0] == "ok"  # the token decides
    assert await outcome(client(room, None, session)) == ("bad_origin", 4403)


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (None, []),
        (["https://app.example.com", "http://localhost:5173", "https://*.example.org"], []),
        ("https://app.example.com", ["rxcdc.E031"]),  # a string, not a list
        (["app.example.com"], ["rxcdc.E031"]),  # no scheme
        (["https://app.example.com/path"], ["rxcdc.E031"]),
    ],
)
def test_rx_allowed_origins_is_checked_at_startup(settings, value, ids):
    from rxcdc.checks import check_socket_settings

    settings.RX_ALLOWED_ORIGINS = value
    assert [m.id for m in check_socket_settings()] == ids


def test_socket_intervals_are_checked_at_startup(settings):
    from rxcdc.checks import check_settings, check_socket_settings

    settings.RX_REAUTH_INTERVAL = 0
    settings.RX_WORKER_CHECK_INTERVAL = "2"
    assert [m.id for m in check_settings()] == ["rxcdc.E030", "rxcdc.E030"]
    assert check_socket_settings() == []  # not reported twice
    settings.RX_REAUTH_INTERVAL, settings.RX_WORKER_CHECK_INTERVAL = 600, 2
    assert [m.id for m in check_socket_settings()] == ["rxcdc.W030"]


async def test_origin_validator_middleware_applies_the_same_rules_to_any_route(live_worker, hosts):
    from rxcdc.origin import OriginValidator

    wrapped = OriginValidator(application)
    room, token, session = await alice()
    foreign = client(room, "http://127.0.0.1:9999", session, app=wrapped)
    connected, _ = await foreign.comm.connect()
    assert not connected  # refused at the handshake
    own = client(room, "http://127.0.0.1:8000", session, app=wrapped)
    assert (await outcome(own))[0] == "ok"
    # Without an Origin the cookie is dropped: the session does not authenticate, a token does.
    assert await outcome(client(room, None, session, app=wrapped)) == ("unauthenticated", 4401)
    assert (await outcome(client(room, None, session, app=wrapped), token))[0] == "ok"

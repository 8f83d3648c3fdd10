"""rxcdc.api consumers check the whole Origin as ``StateChannel`` routes do (issue 19, item 3).

Real handshakes through channels' session and auth middleware, with a real database session.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from rxcdc.api.consumers import AsyncAPIConsumer
from rxcdc.api.decorators import action
from tests.api.conftest import ask

pytestmark = pytest.mark.django_db(transaction=True)

SERVER = "127.0.0.1:8000"  # where the socket is served (its Host)


class WhoAmI(AsyncAPIConsumer):
    permission_classes: list[Any] = []

    @action()
    async def whoami(self, **kwargs: Any) -> tuple[Any, int]:
        user = self.scope["user"]
        return (user.username if user.is_authenticated else None), 200


app = AuthMiddlewareStack(WhoAmI.as_asgi())


@pytest.fixture
def hosts(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]


@sync_to_async
def alices_session() -> str:
    user = User.objects.create(username="alice")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


async def opened_as(origin: str | None, session: str, scheme: str = "ws") -> Any:
    """The user the socket's action sees, or ``"refused"`` when the handshake is refused."""
    headers = [(b"host", SERVER.encode()), (b"cookie", f"sessionid={session}".encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    comm = WebsocketCommunicator(app, "/ws/", headers=headers)
    comm.scope["scheme"] = scheme
    connected, _ = await comm.connect()
    if not connected:
        return "refused"
    try:
        return (await ask(comm, action="whoami", request_id=1))["data"]
    finally:
        await comm.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # a page on another port of an allowed host
        "https://127.0.0.1",  # ... on another scheme
        "http://evil.example.com:8000",
        "null",
    ],
)
async def test_a_page_of_another_origin_cannot_open_an_api_socket(hosts, origin):
    session = await alices_session()
    assert await opened_as(origin, session) == "refused"


async def test_the_sockets_own_origin_opens_it_with_the_session(hosts):
    session = await alices_session()
    assert await opened_as(f"http://{SERVER}", session) == "alice"


async def test_without_origin_the_session_cookie_does_not_authenticate(hosts):
    session = await alices_session()
    assert await opened_as(None, session) is None  # open, anonymous

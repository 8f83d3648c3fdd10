"""Issue 19, items 3 and 5 over a real daphne: the origins of the report, and frame sizes.

daphne serves ``tests.asgi`` (the recommended stack: the channels check the whole Origin) in
a subprocess; a live worker runs in this one; clients are ``websockets`` connections with real
``Origin`` and ``Cookie`` headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.processes import django_env
from tests.testapp.models import Room

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daphne(live_worker, tmp_path) -> Iterator[int]:
    """A daphne serving tests.asgi on a free port; yields the port."""
    port = free_port()
    log = tmp_path / "daphne.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*DAPHNE, "-p", str(port), "tests.asgi:application"],
            cwd=ROOT,
            env=django_env(RX_ALLOWED_HOSTS="127.0.0.1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, "daphne did not listen in time"
        time.sleep(0.05)  # polling the port with a deadline
    yield port
    proc.terminate()
    proc.wait(30)
    assert "Traceback" not in log.read_text(), log.read_text()


@sync_to_async
def alice() -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    user = User.objects.create(username="alice")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return room, str(session.session_key)


async def frames_until_close(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes, and the close code."""
    frames = []
    try:
        async with asyncio.timeout(15):
            async for text in ws:
                frames.append(json.loads(text))
    except ConnectionClosed:
        pass
    return frames, ws.close_code


async def test_the_reported_origins_cannot_use_alices_session(daphne):
    room, session = await alice()
    url = f"ws://127.0.0.1:{daphne}/ws/room/{room.pk}/"
    cookie = {"Cookie": f"sessionid={session}"}
    for origin in ("http://127.0.0.1:9999", "https://127.0.0.1"):
        async with connect(url, origin=origin, additional_headers=cookie) as ws:  # type: ignore[arg-type]
            with contextlib.suppress(ConnectionClosed):  # refused before it could be sent
                await ws.send(json.dumps({"type": "auth"}))
            frames, code = await frames_until_close(ws)
        assert [f["code"] for f in frames] == ["bad_origin"], frames
        assert code == 4403
    own = f"http://127.0.0.1:{daphne}"
    async with connect(url, origin=own, additional_headers=cookie) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "auth"}))
        ok = json.loads(await ws.recv())
        assert ok["type"] == "auth.ok" and ok["user"] is not None


async def test_frame_sizes_over_daphne(daphne, settings):
    """Over RX_MAX_FRAME_BYTES: ``too_large``, the socket stays; past 1 MiB daphne drops it."""
    room, session = await alice()
    url = f"ws://127.0.0.1:{daphne}/ws/room/{room.pk}/"
    headers = {"Cookie": f"sessionid={session}"}
    origin = f"http://127.0.0.1:{daphne}"
    async with connect(url, origin=origin, additional_headers=headers, max_size=None) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "auth"}))
        assert json.loads(await ws.recv())["type"] == "auth.ok"

        async def answer() -> dict[str, Any]:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] in ("pong", "error"):
                    return dict(frame)

        await ws.send(json.dumps({"type": "ping", "pad": "x" * 500_000}))
        assert (await answer())["code"] == "too_large"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await answer())["type"] == "pong"
        await ws.send(json.dumps({"type": "ping", "pad": "x" * (1024 * 1024)}))
        _, code = await frames_until_close(ws)
        # daphne's --websocket-max-message-size (1 MiB) fails the connection: it means 1009,
        # but drops the TCP connection under the client's unfinished send, which sees 1006.
        assert code in (1006, 1009)

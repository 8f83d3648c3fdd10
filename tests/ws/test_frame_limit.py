"""``RX_MAX_FRAME_BYTES`` counts the UTF-8 bytes of an inbound frame, not its characters.

Over a real consumer (channels' WebsocketCommunicator): a frame of emoji with fewer characters
than the limit but more bytes gets the typed ``too_large`` error, and the socket keeps working.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rxcdc import clients
from tests.testapp.models import Room
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 65_536
EMOJI = "\N{GRINNING FACE}"  # 1 character, 4 bytes in UTF-8


def ping(pad: str) -> str:
    """A ping frame padded with ``pad`` (extra keys are ignored by the server)."""
    return json.dumps({"type": "ping", "pad": pad}, ensure_ascii=False)


@sync_to_async
def room_and_token() -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    user = User.objects.create(username="bytes")
    return room, Token.objects.create(user=user).key


@pytest.fixture
async def client(settings, transactional_db, redis_url):
    settings.RX_MAX_FRAME_BYTES = LIMIT
    settings.RX_HEAT_TIMEOUT = 60  # no worker runs: keep its error out of this test's frames
    clients.reset()
    room, token = await room_and_token()
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    yield c
    await c.close()
    clients.reset()


async def answer(c: Client) -> dict:
    """The next pong or error frame (snapshot traffic skipped)."""
    return await c.until(lambda f: f["type"] in ("pong", "error"))


async def test_a_frame_of_emoji_over_the_limit_in_bytes_is_too_large(client: Client):
    text = ping(EMOJI * 60_000)  # 240 KB: under the limit in characters, four times over in bytes
    assert len(text) < LIMIT < len(text.encode())
    await client.comm.send_to(text_data=text)
    error = await answer(client)
    assert error["code"] == "too_large"
    assert f"exceeds {LIMIT}" in error["message"]
    await client.comm.send_to(text_data=ping(""))  # the socket keeps working
    assert await answer(client) == {"type": "pong"}


async def test_the_limit_is_exact_in_bytes(client: Client):
    overhead = len(ping("").encode())
    fits = ping("\N{LATIN SMALL LETTER E WITH ACUTE}" * ((LIMIT - overhead) // 2))  # 2 bytes each
    assert len(fits.encode()) <= LIMIT
    await client.comm.send_to(text_data=fits)
    assert await answer(client) == {"type": "pong"}
    # exactly LIMIT characters, one byte over: the last one takes two bytes
    over = ping("x" * (LIMIT - overhead - 1) + "\N{LATIN SMALL LETTER E WITH ACUTE}")
    assert (len(over), len(over.encode())) == (LIMIT, LIMIT + 1)
    await client.comm.send_to(text_data=over)
    assert (await answer(client))["code"] == "too_large"


async def test_binary_frames_count_bytes_too(client: Client):
    await client.comm.send_to(bytes_data=b"\x00" * (LIMIT + 1))
    assert (await answer(client))["code"] == "too_large"
    await client.comm.send_to(bytes_data=ping("").encode())
    assert (await answer(client))["code"] == "malformed"  # binary frames are refused, not read
    await client.comm.send_to(text_data=ping(""))
    assert await answer(client) == {"type": "pong"}

"""Exact handoff under load, and the whole path through a real daphne and websocket client."""

import asyncio
import json
import random
import subprocess
import sys
import threading
import time

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from rxcdc.testing.services import free_port
from tests.processes import django_env
from tests.testapp.models import Message, Room
from tests.ws.conftest import Client, recomputed

ROOM = "testapp.RoomChannel"
pytestmark = pytest.mark.django_db(transaction=True)


def _write_load(rooms, stop, errors, rate=200):
    """About ``rate`` transactions per second on the rooms: updates, inserts, deletes, moves."""
    rng = random.Random(3)
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            ids = list(Message.objects.filter(room_id__in=rooms).values_list("pk", flat=True))
            op = rng.random()
            if op < 0.5 and ids:
                Message.objects.filter(pk=rng.choice(ids)).update(text=str(rng.random()))
            elif op < 0.75 or not ids:
                Message.objects.create(room_id=rng.choice(rooms), text="new")
            elif op < 0.9:
                Message.objects.filter(pk=rng.choice(ids)).update(room_id=rng.choice(rooms))
            else:
                Message.objects.filter(pk=rng.choice(ids)).delete()
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))  # pacing the load
    except BaseException as exc:
        errors.append(exc)
    finally:
        connections.close_all()


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_clients_joining_under_load_converge_exactly(live_worker):
    rooms = await sync_to_async(lambda: [Room.objects.create(name=str(i)).pk for i in range(2)])()
    await sync_to_async(Message.objects.bulk_create)(
        [Message(room_id=r, text="seed") for r in rooms for _ in range(10)]
    )
    user = await sync_to_async(User.objects.create)(username="load")
    token = (await sync_to_async(Token.objects.create)(user=user)).key
    stop, errors = threading.Event(), []
    writer = threading.Thread(target=_write_load, args=(rooms, stop, errors))
    writer.start()
    rng = random.Random(5)
    clients = []

    async def join(delay):
        await asyncio.sleep(delay)  # a random moment during the load
        c = Client(f"/ws/room/{rooms[0]}/")
        await c.connect(token=token)
        await c.until(lambda f: f["type"] == "snapshot.end", timeout=60)
        clients.append(c)

    try:
        await asyncio.gather(*(join(rng.uniform(0, 4)) for _ in range(50)))
    finally:
        stop.set()
        await sync_to_async(writer.join)(30)
    assert not errors, errors
    expected = await sync_to_async(recomputed)(ROOM, rooms[0])
    deadline = time.monotonic() + 120
    for c in clients:
        while c.data() != expected:
            assert time.monotonic() < deadline, "a client did not converge"
            try:
                await c.receive(timeout=5)
            except TimeoutError:
                expected = await sync_to_async(recomputed)(ROOM, rooms[0])
    assert len(clients) == 50
    for c in clients:
        await c.close()


async def test_real_daphne_and_websocket_client(live_worker, settings, services):
    room = await sync_to_async(Room.objects.create)(name="r")
    await sync_to_async(Message.objects.create)(room=room, text="hello")
    user = await sync_to_async(User.objects.create)(username="real")
    token = (await sync_to_async(Token.objects.create)(user=user)).key
    port = free_port()
    env = django_env(RX_ALLOWED_HOSTS="127.0.0.1,localhost")
    daphne = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.asgi:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ws = await websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/room/{room.pk}/", origin=f"http://127.0.0.1:{port}"
                )
                break
            except OSError:
                assert time.monotonic() < deadline, "daphne did not start"
                await asyncio.sleep(0.1)  # polling for the server to listen
        async with ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            frames = []
            while not frames or frames[-1]["type"] != "snapshot.end":
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            assert frames[0]["type"] == "auth.ok"
            texts = [i.get("text") for f in frames for i in f.get("instances", ())]
            assert "hello" in texts

            @sync_to_async
            def raw():
                with connection.cursor() as cur:
                    cur.execute(
                        "UPDATE testapp_message SET text = 'over daphne' WHERE room_id = %s",
                        [room.pk],
                    )

            await raw()
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if frame["type"] == "update" and any(
                    i.get("text") == "over daphne" for i in frame["instances"]
                ):
                    break
        # A foreign page: told why (a typed bad_origin) and closed 4403, before any auth frame.
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/room/{room.pk}/", origin="http://evil.example"
        ) as evil:
            refusal = json.loads(await asyncio.wait_for(evil.recv(), 20))
            assert (refusal["type"], refusal["code"]) == ("auth.error", "bad_origin")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(evil.recv(), 20)
            assert evil.close_code == 4403
    finally:
        daphne.terminate()
        daphne.wait(10)

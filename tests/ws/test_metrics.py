"""Websocket processes count their connections and frames; the worker counts the anchors they open.

The websocket side is read through ``rxcdc.metrics.metrics_view``, as Prometheus would scrape a
daphne process; the worker's side from a worker process's endpoint and ``rx_replicate --status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from rxcdc.metrics import metrics_view
from rxcdc.testing.waiting import until
from tests.scrape import Samples, parse, value
from tests.testapp.models import Message, Room
from tests.worker_process import WorkerProcess, status, workers
from tests.ws.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "testapp.RoomChannel"


@pytest.fixture
def worker_process(settings, transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    yield from workers(settings, tmp_path)


def scrape_view() -> Samples:
    response = metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


class Delta:
    """Counter values of this process since the object was made."""

    def __init__(self) -> None:
        self.before = scrape_view()

    def __call__(self, name: str, **labels: str) -> float:
        now = value(scrape_view(), name, 0.0, **labels)
        return now - value(self.before, name, 0.0, **labels)


@sync_to_async
def room_and_token(username: str = "metrics") -> tuple[Room, str]:
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="first")
    user = User.objects.create(username=username)
    return room, Token.objects.create(user=user).key


async def test_connection_and_frame_counters_follow_a_real_consumer_connection(live_worker):
    room, token = await room_and_token()
    delta = Delta()
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")
    assert delta("rxcdc_ws_connections", channel=ROOM) == 1
    assert delta("rxcdc_ws_frames_received_total", type="auth") == 1
    for kind in ("auth.ok", "snapshot.begin", "snapshot.end"):
        assert delta("rxcdc_ws_frames_sent_total", type=kind) == 1, kind
    assert delta("rxcdc_ws_frames_sent_total", type="snapshot.instances") >= 1

    await c.comm.send_json_to({"type": "ping"})
    await c.until(lambda f: f["type"] == "pong")
    assert delta("rxcdc_ws_frames_received_total", type="ping") == 1
    assert delta("rxcdc_ws_frames_sent_total", type="pong") == 1

    await c.comm.send_to(text_data="{not json")
    error = await c.until(lambda f: f["type"] == "error")
    assert error["code"] == "malformed"
    assert delta("rxcdc_ws_errors_total", code="malformed") == 1
    assert delta("rxcdc_ws_frames_sent_total", type="error") == 1

    await sync_to_async(Message.objects.create)(room=room, text="live")
    await c.until(
        lambda f: f["type"] == "update" and any(i.get("text") == "live" for i in f["instances"])
    )
    # The room's own creation may come as an update too (committed before the worker heated the
    # anchor, read after): every update frame the socket got is counted, once.
    updates = [f for f in c.frames if f["type"] == "update"]
    assert delta("rxcdc_ws_frames_sent_total", type="update") == len(updates) >= 1

    await c.close()
    await until(lambda: delta("rxcdc_ws_connections", channel=ROOM) == 0, "the gauge went back")


async def test_refused_connections_are_counted_by_reason(settings):
    room, _token = await room_and_token()
    _room, banned = await room_and_token("banned-metrics")
    delta = Delta()
    for token, reason in ((banned, "forbidden"), ("not-a-token", "unauthenticated")):
        c = Client(f"/ws/room/{room.pk}/")
        refusal = await c.connect(token=token) or {}
        assert (refusal["type"], refusal["code"]) == ("auth.error", reason)
        assert delta("rxcdc_ws_refused_total", reason=reason) == 1
        assert delta("rxcdc_ws_frames_sent_total", type="auth.error") >= 1
        await c.close()
    await until(lambda: delta("rxcdc_ws_connections", channel=ROOM) == 0, "both were closed")


async def test_worker_endpoint_and_status_count_the_anchors_clients_open_and_quarantine(
    worker_process,
):
    worker = await sync_to_async(worker_process)()
    room, token = await room_and_token()
    c = Client(f"/ws/room/{room.pk}/")
    assert (await c.connect(token=token) or {})["type"] == "auth.ok"
    await c.until(lambda f: f["type"] == "snapshot.end")
    hot = await sync_to_async(worker.scrape)()
    assert value(hot, "rxcdc_hot_anchors", channel=ROOM) == 1
    assert value(hot, "rxcdc_quarantined_anchors", channel=ROOM) == 0
    text, code = await sync_to_async(status)()
    assert code == 0, text
    assert f"cache: 1 hot anchors ({ROOM} 1), 0 quarantined" in text

    # Django cannot load 'infinity' into a datetime: every re-read of the room fails.
    @sync_to_async
    def poison() -> None:
        with connection.cursor() as cur:
            cur.execute("UPDATE testapp_message SET due = 'infinity' WHERE room_id = %s", [room.pk])

    await poison()
    failed = await c.until(lambda f: f["type"] == "error")
    assert failed["code"] == "anchor_failed"
    broken = await sync_to_async(worker.until)(
        lambda s: value(s, "rxcdc_quarantined_anchors", channel=ROOM) == 1,
        "the worker counts the quarantined anchor",
    )
    assert value(broken, "rxcdc_hot_anchors", channel=ROOM) == 0
    assert value(broken, "rxcdc_faults_total") >= 1
    text, code = await sync_to_async(status)()
    assert code == 0, text  # the worker streams on: the anchor is isolated, not the stream
    assert "0 hot anchors, 1 quarantined" in text
    assert f"  quarantined {ROOM} {room.pk}: testapp_message pk " in text
    await c.close()


CHILD = """
import os, sys, django
django.setup()
from django.test import RequestFactory
from prometheus_client import multiprocess
from rxcdc import metrics

held = metrics.connection("testapp.RoomChannel")
held.__enter__()  # left open: the process ends with it
for _ in range(int(sys.argv[1])):
    metrics.frame_sent('{"type":"pong"}')
if len(sys.argv) > 2:
    print(metrics.metrics_view(RequestFactory().get("/metrics")).content.decode())
    print("----")
    multiprocess.mark_process_dead(int(sys.argv[2]))  # what a process manager does on exit
    print(metrics.metrics_view(RequestFactory().get("/metrics")).content.decode())
else:
    os._exit(0)  # dies as a killed process does: its connection never closed
"""


def test_the_view_adds_up_processes_sharing_a_multiprocess_directory(tmp_path):
    import subprocess
    import sys

    from tests.processes import django_env

    env = django_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))

    def child(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", CHILD, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True)

    first = subprocess.Popen([sys.executable, "-c", CHILD, "2"], env=env)
    assert first.wait(60) == 0
    # A second process reads both: counters add up; the first one's connection, never closed,
    # counts until it is marked dead (the gauge counts live processes only).
    before, after = map(parse, child("1", str(first.pid)).stdout.split("----"))
    assert value(before, "rxcdc_ws_frames_sent_total", type="pong") == 3
    assert value(before, "rxcdc_ws_connections", channel=ROOM) == 2
    assert value(after, "rxcdc_ws_frames_sent_total", type="pong") == 3
    assert value(after, "rxcdc_ws_connections", channel=ROOM) == 1

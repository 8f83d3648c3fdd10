"""Fan-out: one update to an anchor watched by 1,000 websocket clients of one daphne process.

``rx_replicate`` and daphne run as processes: ``tests.asgi`` with the garbage-collector tuning
docs/deployment.md recommends, and a second daphne without it. The 1,000 clients (the
``websockets`` package) share one event loop in the benchmark process. Each sample: from the
moment a single-row UPDATE of the room committed (its ``execute`` returned) to the moment the
last of the 1,000 clients had the update frame carrying it, over 100 updates, one at a time. The
clients' own JSON parsing shares the machine's two cores with daphne, the worker and Postgres,
so this is an upper bound.

Baseline, same run and same clients: a bare ``websockets`` server process that broadcasts a frame
of the same shape to all 1,000 when told to; from the moment the benchmark told it to the moment
the last client had the frame. It is what the clients and the kernel cost on their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import websockets

from replication import drop_slot
from rxcdc.testing.services import LocalServices, free_port

from .bench_socket import (
    DATABASE,
    LIVE_ROOM,
    ROOT,
    _connect,
    _listening,
    _percentile,
    _read,
    _settings_env,
    _setup,
    _stop,
    _until_snapshot_end,
    _wait_for,
    start_daphne,
    start_stack,
)
from .result import Result

CLIENTS = 1_000
UPDATES = 100


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Start the worker and daphne, connect the clients, time each update's fan-out."""
    env = {**os.environ, **services.env(), **_settings_env()}
    token = _setup(services, env)
    dsn = services.postgres.dsn(DATABASE)
    fig: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port, default_gc_port, bare_port = free_port(), free_port(), free_port()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            start_stack([sys.executable, "-m", "django", "rx_replicate"], env, tmp, port, procs)
            plain = {**env, "RX_BENCH_DEFAULT_GC": "1"}
            start_daphne(plain, tmp, default_gc_port, procs, "daphne-default-gc.log")
            server = subprocess.Popen(
                [sys.executable, "-m", __name__, "serve", str(bare_port)], cwd=ROOT
            )
            procs.append(server)
            _wait_for("the bare broadcast server", lambda: _listening(bare_port), server)
            urls = {
                "tuned": f"ws://127.0.0.1:{port}/ws/room/{LIVE_ROOM}/",
                "default": f"ws://127.0.0.1:{default_gc_port}/ws/room/{LIVE_ROOM}/",
            }
            kinds = ["bare", "tuned", "default"]
            for repeat in range(repeats):
                print(f"  repeat {repeat}: {CLIENTS} clients", file=sys.stderr, flush=True)
                # Rotate which goes first: all share the machine with whatever else runs.
                for kind in kinds[repeat % 3 :] + kinds[: repeat % 3]:
                    if kind == "bare":
                        lasts = asyncio.run(_bare_fan_out(f"ws://127.0.0.1:{bare_port}/", repeat))
                    else:
                        lasts = asyncio.run(_fan_out(urls[kind], token, dsn, f"{kind}{repeat}"))
                    fig.setdefault(f"{kind}.p50", []).append(_percentile(lasts, 50))
                    fig.setdefault(f"{kind}.p99", []).append(_percentile(lasts, 99))
        except BaseException:
            for name in ("worker.log", "daphne.log", "daphne-default-gc.log"):
                print(f"--- {name}\n{_read(tmp, name)[-3000:]}", file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                _stop(proc)
    drop_slot(dsn, DATABASE)
    return _results(fig)


def _results(fig: dict[str, list[float]]) -> list[Result]:
    bare = "bare websockets broadcast"
    out = [
        Result(
            f"fan-out to {CLIENTS:,} clients, {bare}: told → last client, p{p}",
            "ms",
            fig[f"bare.p{p}"],
        )
        for p in (50, 99)
    ]
    for kind, daphne in (("tuned", "recommended gc tuning"), ("default", "default gc")):
        out += [
            Result(
                f"fan-out to {CLIENTS:,} clients ({daphne}): commit → last client, p{p}",
                "ms",
                fig[f"{kind}.p{p}"],
                baseline=fig[f"bare.p{p}"],
                baseline_name=bare,
                at_most=250.0 if p == 99 else None,
            )
            for p in (50, 99)
        ]
    return out


async def _fan_out(url: str, token: str, dsn: str, run: str) -> list[float]:
    """Connect the clients (50 at a time), then time UPDATES updates; ms per update."""
    sockets = []
    for start in range(0, CLIENTS, 50):
        sockets += await asyncio.gather(*(_joined(url, token) for _ in range(start, start + 50)))
    with psycopg.connect(dsn, autocommit=True) as conn:

        async def update(text: str) -> None:
            conn.execute("UPDATE testapp_message SET text = %s WHERE id = 1", (text,))

        return await _time_updates(sockets, f"fan{run}-", update)


async def _bare_fan_out(url: str, repeat: int) -> list[float]:
    """The same clients and timing against the bare broadcast server."""
    sockets = []
    for start in range(0, CLIENTS, 50):
        sockets += await asyncio.gather(*(_connect(url) for _ in range(start, start + 50)))
    control = await _connect(url + "control")

    async def update(text: str) -> None:
        await control.send(text)

    try:
        return await _time_updates(sockets, f"bare{repeat}-", update)
    finally:
        await control.close()


async def _time_updates(
    sockets: list[object], marker: str, update: Callable[[str], Awaitable[None]]
) -> list[float]:
    """Make UPDATES updates one at a time; ms from each ``update`` returning to the last client."""
    seen: list[dict[int, float]] = [{} for _ in range(UPDATES)]
    done = [asyncio.Event() for _ in range(UPDATES)]

    async def listen(index: int, ws: object) -> None:
        while True:
            frame = json.loads(await ws.recv())  # type: ignore[attr-defined]
            if frame["type"] != "update":
                continue
            for inst in frame["instances"]:
                text = str(inst.get("text", ""))
                if text.startswith(marker):
                    n = int(text[len(marker) :])
                    seen[n].setdefault(index, time.monotonic())
                    if len(seen[n]) == CLIENTS:
                        done[n].set()

    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    lasts = []
    try:
        for n in range(UPDATES):
            await update(f"{marker}{n}")
            committed = time.monotonic()
            await asyncio.wait_for(done[n].wait(), 60)
            lasts.append((max(seen[n].values()) - committed) * 1000)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)  # type: ignore[attr-defined]
    return lasts


async def _joined(url: str, token: str) -> object:
    ws = await _connect(url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await _until_snapshot_end(ws)
    return ws


def _serve(port: int) -> None:
    """The baseline: broadcast an update-shaped frame to every client when ``/control`` says."""
    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        if ws.request.path != "/control":
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)
            return
        async for text in ws:
            # The shape and size of an rxcdc update frame of one message.
            instance = {"id": 1, "room": LIVE_ROOM, "author": 2, "text": text, "tags": [2]}
            instance.update({"_type": "testapp.Message", "_pk": 1, "_lsn": 123456789})
            frame = {"type": "update", "anchor": LIVE_ROOM, "lsn": 123456789, "part": 0}
            frame.update({"last": True, "instances": [instance], "tombstones": []})
            websockets.broadcast(clients, json.dumps(frame))

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", port, max_size=2**24):
            await asyncio.get_running_loop().create_future()  # until SIGTERM

    asyncio.run(main())


if __name__ == "__main__":
    _serve(int(sys.argv[2]))

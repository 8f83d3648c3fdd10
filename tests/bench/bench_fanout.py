"""Fan-out: one update to an anchor watched by 1,000 websocket clients of one daphne process.

``rx_replicate`` and one daphne run as processes; the 1,000 clients (the ``websockets`` package)
share one event loop in the benchmark process. Each sample: from the moment a single-row UPDATE
of the room committed (its ``execute`` returned) to the moment the last of the 1,000 clients had
the update frame carrying it, over 100 updates, one at a time. The clients' own JSON parsing
shares the machine's two cores with daphne, the worker and Postgres, so this is an upper bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time

import psycopg

from replication import drop_slot
from rxcdc.testing.services import LocalServices, free_port

from .bench_socket import (
    DATABASE,
    LIVE_ROOM,
    _connect,
    _percentile,
    _read,
    _settings_env,
    _setup,
    _stop,
    _until_snapshot_end,
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
    p50: list[float] = []
    p99: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        procs = []
        try:
            start_stack([sys.executable, "-m", "django", "rx_replicate"], env, tmp, port, procs)
            url = f"ws://127.0.0.1:{port}/ws/room/{LIVE_ROOM}/"
            for repeat in range(repeats):
                print(f"  repeat {repeat}: {CLIENTS} clients", file=sys.stderr, flush=True)
                lasts = asyncio.run(_fan_out(url, token, dsn, repeat))
                p50.append(_percentile(lasts, 50))
                p99.append(_percentile(lasts, 99))
        except BaseException:
            for name in ("worker.log", "daphne.log"):
                print(f"--- {name}\n{_read(tmp, name)[-3000:]}", file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                _stop(proc)
    drop_slot(dsn, DATABASE)
    return [
        Result(f"fan-out to {CLIENTS:,} clients: commit → last client has it, p50", "ms", p50),
        Result(
            f"fan-out to {CLIENTS:,} clients: commit → last client has it, p99",
            "ms",
            p99,
            at_most=250.0,
        ),
    ]


async def _fan_out(url: str, token: str, dsn: str, repeat: int) -> list[float]:
    """Connect the clients (50 at a time), then time UPDATES updates; ms per update."""
    sockets = []
    for start in range(0, CLIENTS, 50):
        batch = await asyncio.gather(*(_joined(url, token) for _ in range(start, start + 50)))
        sockets += batch
    seen: list[dict[int, float]] = [{} for _ in range(UPDATES)]
    done = [asyncio.Event() for _ in range(UPDATES)]
    marker = f"fan{repeat}-"

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
        with psycopg.connect(dsn, autocommit=True) as conn:
            for n in range(UPDATES):
                conn.execute("UPDATE testapp_message SET text = %s WHERE id = 1", (f"{marker}{n}",))
                committed = time.monotonic()
                await asyncio.wait_for(done[n].wait(), 60)
                lasts.append((max(seen[n].values()) - committed) * 1000)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return lasts


async def _joined(url: str, token: str) -> object:
    ws = await _connect(url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await _until_snapshot_end(ws)
    return ws

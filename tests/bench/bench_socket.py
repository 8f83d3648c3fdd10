"""The websocket side, through a real daphne, real websocket clients and ``rx_replicate``.

Latency: a writer process commits UPDATEs of one room at 100 transactions/s while 10 websocket
clients show that room, in two loads: one row per transaction, then ten (1,000 row changes/s).
Each sample is one (transaction, client): from the moment the writer's autocommit ``UPDATE``
returned (so the commit had returned) to the moment the client's ``recv()`` returned the
``update`` frame carrying it, both on this machine's monotonic clock. The worker
(``rx_replicate``, instrumented by ``python -m tests.bench.bench_socket worker``) records, per
transaction, when its chunk came out of the stream and when its group message was published:
the baselines show how much of the latency is Postgres and the stream, the worker, and the path
channel layer → daphne → client.

Snapshot: the time from sending ``auth`` to receiving ``snapshot.end`` for a room of 10,000 flat
instances (room, messages, authors, tags), over a connection opened beforehand; cold = after
``manage.py rx_cache clear`` dropped the room from the cache (the worker heats it), hot = cached.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import websockets
from websockets.typing import Origin

from replication import drop_slot
from rxcdc.cache import Cache
from rxcdc.testing.services import LocalServices, free_port
from rxcdc.testing.waiting import wait_until

from .result import Result

DATABASE = "bench_socket"
LABEL = "testapp.RoomChannel"
LIVE_ROOM, BIG_ROOM = 1, 2
LIVE_MESSAGES = 100  # messages 1..100 are the live room's
AUTHORS, TAGS = 100, 20
SNAPSHOT_INSTANCES = 10_000  # the big room: itself, its messages, every author and tag
BIG_MESSAGES = SNAPSHOT_INSTANCES - 1 - AUTHORS - TAGS
CLIENTS = 10
RATE = 100  # transactions per second
LOADS = (1, 10)  # rows per transaction: 100 and 1,000 row changes/s
TRANSACTIONS = 1_000  # per repeat
ROOT = Path(__file__).resolve().parents[2]


def run(services: LocalServices, repeats: int) -> list[Result]:
    """Set up the database, start rx_replicate and daphne, measure latency and snapshots.

    ``RX_BENCH_SOCKET_CASES=latency`` measures single rows only (for trying changes; use with
    ``--no-write``).
    """
    only_latency = os.environ.get("RX_BENCH_SOCKET_CASES") == "latency"
    env = {**os.environ, **services.env(), **_settings_env()}
    dsn = services.postgres.dsn(DATABASE)
    token = _setup(services, env)
    fig: dict[str, list[float]] = {}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        timings, port = Path(tmp) / "worker.timings", free_port()
        try:
            worker, _daphne = start_stack(
                [sys.executable, "-m", "tests.bench.bench_socket", "worker", str(timings)],
                env,
                tmp,
                port,
                procs,
            )
            url = f"ws://127.0.0.1:{port}/ws/room/"
            docs: Any = pymongo.MongoClient(services.mongo.url, directConnection=True)[DATABASE]
            for repeat in range(repeats):
                for rows in LOADS[:1] if only_latency else LOADS:
                    print(f"  repeat {repeat}: latency, {rows}/tx", file=sys.stderr, flush=True)
                    _latency(url, token, dsn, timings, f"r{repeat}x{rows}", rows, fig)
                if only_latency:
                    continue
                print(f"  repeat {repeat}: snapshots", file=sys.stderr, flush=True)
                # Alternate which comes first (the cold one clears the room just before).
                for kind in ("cold", "hot") if repeat % 2 == 0 else ("hot", "cold"):
                    if kind == "cold":
                        _clear(env, docs, worker)
                        heats_before = len(_heats(timings))
                    fig.setdefault(kind, []).append(asyncio.run(_snapshot(url, token)))
                    if kind == "cold":
                        # The longest: a heat that outlasts HEAT_RETRY is asked for again, and
                        # the second request, answered at once, is the last one recorded.
                        fig.setdefault("heat", []).append(max(_heats(timings)[heats_before:]))
                fig.setdefault("read", []).append(_read_docs(docs))
        except BaseException:
            for name in ("worker.log", "daphne.log"):
                print(f"--- {name}\n{_read(tmp, name)[-3000:]}", file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                _stop(proc)
    drop_slot(dsn, DATABASE)
    return _results(fig, only_latency)


def _results(fig: dict[str, list[float]], only_latency: bool) -> list[Result]:
    load = f"{RATE} tx/s, {CLIENTS} clients"
    stream = "commit → the worker has the chunk"
    if only_latency:
        return _single_row(fig, load, stream)
    return [*_single_row(fig, load, stream), *_bulk(fig, stream), *_snapshots(fig)]


def _single_row(fig: dict[str, list[float]], load: str, stream: str) -> list[Result]:
    return [
        Result(f"{stream} p50", "ms", fig["stream.p50"]),
        Result(f"{stream} p99", "ms", fig["stream.p99"]),
        Result("commit → the worker published it p50", "ms", fig["published.p50"]),
        Result("commit → the worker published it p99", "ms", fig["published.p99"]),
        Result(
            "the worker's busy time per transaction (chunk → cache written, acked), median",
            "ms",
            fig["busy"],
        ),
        Result(
            f"commit → client p50 ({load})",
            "ms",
            fig["client.p50"],
            baseline=fig["stream.p50"],
            baseline_name=stream,
            at_most=4,
        ),
        Result(
            f"commit → client p99 ({load})",
            "ms",
            fig["client.p99"],
            baseline=fig["stream.p99"],
            baseline_name=stream,
            at_most=10,
        ),
        Result(
            "the worker's longest full garbage collection during those transactions (0: none)",
            "ms",
            fig["gc"],
        ),
        Result(
            "the worker per transaction, median: re-read (Postgres, serialize)",
            "ms",
            fig["reread"],
        ),
        Result(
            "the worker per transaction, median: cache write (documents, MongoDB)",
            "ms",
            fig["write"],
        ),
        Result("the worker per transaction, median: publish (Redis)", "ms", fig["publish"]),
        Result("published → client p50 (channel layer, daphne, websocket)", "ms", fig["relay.p50"]),
        Result("published → client p99 (channel layer, daphne, websocket)", "ms", fig["relay.p99"]),
    ]


def _bulk(fig: dict[str, list[float]], stream: str) -> list[Result]:
    rows = LOADS[-1]
    load = f"{RATE * rows:,} row changes/s ({RATE} tx/s of {rows} rows), {CLIENTS} clients"
    x = f"x{rows}:"
    return [
        Result(f"the worker's busy time per {rows}-row transaction, median", "ms", fig[x + "busy"]),
        Result(
            f"commit → client p50 ({load})",
            "ms",
            fig[x + "client.p50"],
            baseline=fig[x + "stream.p50"],
            baseline_name=stream,
        ),
        Result(
            f"commit → client p99 ({load})",
            "ms",
            fig[x + "client.p99"],
            baseline=fig[x + "stream.p99"],
            baseline_name=stream,
            at_most=250,
        ),
    ]


def _snapshots(fig: dict[str, list[float]]) -> list[Result]:
    return [
        Result(
            f"snapshot, cold: auth → snapshot.end, {SNAPSHOT_INSTANCES:,} instances",
            "s",
            fig["cold"],
        ),
        Result(
            "snapshot, cold: of which the worker's heat (load, cache write)",
            "s",
            fig["heat"],
            baseline=fig["cold"],
            baseline_name="cold snapshot",
        ),
        Result(
            f"snapshot, hot: auth → snapshot.end, {SNAPSHOT_INSTANCES:,} instances",
            "s",
            fig["hot"],
            baseline=fig["cold"],
            baseline_name="cold snapshot",
            at_most=1.0,
        ),
        Result(
            "snapshot, cold / hot",
            "times",
            [c / h for c, h in zip(fig["cold"], fig["hot"], strict=True)],
            minimum=5,
        ),
        Result(
            f"snapshot floor: find() of the {SNAPSHOT_INSTANCES:,} cached documents (pymongo)",
            "s",
            fig["read"],
        ),
    ]


# -- setup and processes -----------------------------------------------------------------------


def _settings_env(database: str = DATABASE) -> dict[str, str]:
    """What tests/settings.py reads: database, slot and cache names, a long cache TTL."""
    return {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RXCDC_PG_NAME": database,
        "RX_SLOT_NAME": database,
        "RX_MONGO_DB": database,
        "RX_CACHE_TTL": "3600",
        "RX_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }


def fresh_database(services: LocalServices, env: dict[str, str], database: str) -> None:
    """Drop and create ``database`` (and its cache), then migrate it."""
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.execute(f"CREATE DATABASE {database}")
    pymongo.MongoClient(services.mongo.url, directConnection=True).drop_database(database)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        env=env,
        cwd=ROOT,
        check=True,
    )


def _setup(services: LocalServices, env: dict[str, str]) -> str:
    """A fresh migrated database with both rooms and a user; returns the user's token."""
    fresh_database(services, env, DATABASE)
    token = secrets.token_hex(20)
    last = LIVE_MESSAGES + BIG_MESSAGES
    with psycopg.connect(services.postgres.dsn(DATABASE), autocommit=True) as conn:
        conn.execute("ALTER TABLE testapp_message SET (autovacuum_enabled = false)")
        conn.execute(
            f"INSERT INTO testapp_author (id, name) SELECT i, 'author ' || i"
            f" FROM generate_series(1, {AUTHORS}) i"
        )
        conn.execute(
            f"INSERT INTO testapp_tag (id, name) SELECT i, 'tag ' || i"
            f" FROM generate_series(1, {TAGS}) i"
        )
        conn.execute(
            "INSERT INTO testapp_room (id, name) VALUES (%s, 'live'), (%s, 'big')",
            (
                LIVE_ROOM,
                BIG_ROOM,
            ),
        )
        conn.execute(
            "INSERT INTO testapp_message (id, room_id, author_id, text)"
            f" SELECT i, CASE WHEN i <= {LIVE_MESSAGES} THEN {LIVE_ROOM} ELSE {BIG_ROOM} END,"
            f" i % {AUTHORS} + 1, 'message ' || i FROM generate_series(1, {last}) i"
        )
        conn.execute(
            "INSERT INTO testapp_message_tags (message_id, tag_id)"
            f" SELECT i, i % {TAGS} + 1 FROM generate_series(1, {last}) i"
        )
        (user,) = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, 'bench', '', '', '', false, true, now()) RETURNING id"
        ).fetchone() or (None,)
        conn.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
            (token, user),
        )
        conn.execute("VACUUM ANALYZE")
    return token


def start_stack(
    worker_command: list[str],
    env: dict[str, str],
    tmp: str,
    port: int,
    procs: list[subprocess.Popen[bytes]],
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Start the worker, then daphne on ``port`` (logs in ``tmp``); both are added to ``procs``
    as they start, so the caller's ``finally`` stops whatever did start."""
    worker = _start(worker_command, env, Path(tmp) / "worker.log")
    procs.append(worker)
    _wait_for("rx_replicate", lambda: "streaming" in _read(tmp, "worker.log"), worker)
    return worker, start_daphne(env, tmp, port, procs)


def start_daphne(
    env: dict[str, str],
    tmp: str,
    port: int,
    procs: list[subprocess.Popen[bytes]],
    log: str = "daphne.log",
) -> subprocess.Popen[bytes]:
    """Start daphne serving ``tests.asgi`` on ``port`` and wait until it listens."""
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    daphne = _start([*command, "tests.asgi:application"], env, Path(tmp) / log)
    procs.append(daphne)
    _wait_for("daphne", lambda: _listening(port), daphne)
    return daphne


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _read(tmp: str, name: str) -> str:
    path = Path(tmp) / name
    return path.read_text(errors="replace") if path.exists() else ""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(
    what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60.0
) -> None:
    wait_until(ready, what, timeout, interval=0.05, process=proc)


# -- latency ------------------------------------------------------------------------------------


def _latency(
    url: str, token: str, dsn: str, timings: Path, prefix: str, rows: int, fig: Any
) -> None:
    """One run of the writer (``rows`` rows per transaction) against CLIENTS connected clients;
    percentiles into ``fig`` (keys prefixed ``x<rows>:`` beyond one row).

    A frame is matched to its transaction by commit LSN (the worker logs each xid's), not by
    content: a worker that lags reads rows as they are now, so a frame may carry a later text.
    """
    collections_before = len(_full_collections(timings))
    with tempfile.NamedTemporaryFile("r", suffix=".json") as commits_file:

        def covered() -> dict[int, list[tuple[float, float, float, float]]]:
            """Frame LSN → the transactions it carries (a run's frame carries several)."""
            returned = dict(json.loads(Path(commits_file.name).read_text() or "[]"))
            out: dict[int, list[tuple[float, float, float, float]]] = {}
            for xid, got, published, done, frame in _chunk_times(timings).values():
                if xid in returned:
                    out.setdefault(frame, []).append((returned[xid], got, published, done))
            return out

        received = asyncio.run(
            _clients_during_writes(url, token, dsn, prefix, rows, commits_file.name, covered)
        )
        frames_of = covered()
        returned = dict(json.loads(Path(commits_file.name).read_text() or "[]"))
        ours = [lsn for lsn, (xid, *_) in _chunk_times(timings).items() if xid in returned]
    chunks = [c for carried in frames_of.values() for c in carried]
    assert len(chunks) == TRANSACTIONS, f"the worker saw {len(chunks)} of {TRANSACTIONS}"
    client, relay = [], []
    for frames in received:
        delivered = 0
        for at, raw in frames:
            frame = json.loads(raw)
            if frame["type"] != "update" or frame["lsn"] not in frames_of:
                continue
            for committed, _, published, _ in frames_of[frame["lsn"]]:
                delivered += 1
                client.append((at - committed) * 1000)
                relay.append((at - published) * 1000)
        assert delivered == TRANSACTIONS, f"a client got {delivered} of {TRANSACTIONS} updates"
    stream = [(got - committed) * 1000 for committed, got, _, _ in chunks]
    published = [(pub - committed) * 1000 for committed, _, pub, _ in chunks]
    busy = [(done - got) * 1000 for _, got, _, done in chunks]
    x = f"x{rows}:" if rows > 1 else ""
    fig.setdefault(x + "busy", []).append(statistics.median(busy))
    stages = _chunk_stages(timings)
    for index, stage in enumerate(("reread", "write", "publish")):
        fig.setdefault(f"{x}{stage}", []).append(
            statistics.median(stages[lsn][index] * 1000 for lsn in ours)
        )
    during = _full_collections(timings)[collections_before:]
    fig.setdefault(x + "gc", []).append(max(during, default=0.0) * 1000)
    for name, values in (
        ("client", client),
        ("stream", stream),
        ("published", published),
        ("relay", relay),
    ):
        fig.setdefault(f"{x}{name}.p50", []).append(_percentile(values, 50))
        fig.setdefault(f"{x}{name}.p99", []).append(_percentile(values, 99))


async def _clients_during_writes(
    url: str,
    token: str,
    dsn: str,
    prefix: str,
    rows: int,
    commits_path: str,
    covered: Callable[[], dict[int, Any]],
) -> list[list[tuple[float, str]]]:
    """Connect the clients, run the writer process, return each client's timed frames.

    Returns once every client has every frame ``covered()`` names (they may carry a run).
    """
    sockets = [await _connect(url + f"{LIVE_ROOM}/") for _ in range(CLIENTS)]
    readers: list[asyncio.Future[None]] = []
    try:
        for ws in sockets:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await _until_snapshot_end(ws)
        received: list[list[tuple[float, str]]] = [[] for _ in sockets]
        readers += [
            asyncio.ensure_future(_record(ws, out))
            for ws, out in zip(sockets, received, strict=True)
        ]
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.bench_socket",
            "writer",
            dsn,
            prefix,
            str(rows),
            commits_path,
            cwd=ROOT,
        )
        assert await writer.wait() == 0, "the writer failed"
        deadline = time.monotonic() + 30
        while True:
            frames = covered()
            carried = sum(len(c) for c in frames.values())
            got = [
                {json.loads(raw)["lsn"] for _, raw in out if '"update"' in raw} for out in received
            ]
            if carried >= TRANSACTIONS and all(set(frames) <= lsns for lsns in got):
                return received
            counts = [len(lsns) for lsns in got]
            assert time.monotonic() < deadline, f"updates per client after 30 s: {counts}"
            await asyncio.sleep(0.05)  # polling for the last frames with a deadline
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()


async def _connect(url: str) -> Any:
    port = url.split(":")[2].split("/")[0]
    return await websockets.connect(url, origin=Origin(f"http://127.0.0.1:{port}"), max_size=2**24)


async def _record(ws: Any, out: list[tuple[float, str]]) -> None:
    """Timestamp every frame as it arrives; parse later."""
    while True:
        raw = await ws.recv()
        out.append((time.monotonic(), raw))


async def _until_snapshot_end(ws: Any) -> int:
    """Read frames up to ``snapshot.end``; returns the number of instances received."""
    instances = 0
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if frame["type"] in ("error", "auth.error"):
            raise AssertionError(f"the server answered {frame}")
        instances += len(frame.get("instances", ()))
        if frame["type"] == "snapshot.end":
            return instances


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _chunk_times(timings: Path) -> dict[int, tuple[int, float, float, float, int]]:
    """Commit LSN → (xid, when the chunk left the stream, was published, was done with, and the
    LSN of the frame that carried it: its own, or its run's last)."""
    out = {}
    for line in timings.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "chunk":
            got, published, done = (float(t) for t in fields[2:5])
            out[int(fields[0])] = (int(fields[1]), got, published, done, int(fields[5]))
    return out


def _chunk_stages(timings: Path) -> dict[int, tuple[float, float, float]]:
    """Commit LSN → seconds the worker spent re-reading (serialize), writing the cache and
    publishing for the event that carried it."""
    out = {}
    for line in timings.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "chunk":
            out[int(fields[0])] = (float(fields[6]), float(fields[7]), float(fields[8]))
    return out


# -- snapshots ------------------------------------------------------------------------------------


async def _snapshot(url: str, token: str) -> float:
    """Seconds from sending auth to snapshot.end of the big room, on an open connection."""
    async with await _connect(url + f"{BIG_ROOM}/") as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"type": "auth", "token": token}))
        instances = await _until_snapshot_end(ws)
        seconds = time.monotonic() - started
    assert instances == SNAPSHOT_INSTANCES, instances
    return seconds


def _clear(env: dict[str, str], docs: Any, worker: subprocess.Popen[bytes]) -> None:
    """``rx_cache clear`` the big room (the running worker drops it), and wait until it did."""
    cache = Cache("", docs.name, client=docs.client)
    subprocess.run(
        [sys.executable, "-m", "django", "rx_cache", "clear", LABEL, str(BIG_ROOM)],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _wait_for(
        "the room to leave the cache",
        lambda: not cache.is_hot(LABEL, BIG_ROOM),
        worker,
    )


def _full_collections(timings: Path) -> list[float]:
    """The worker's full garbage collections so far, in seconds each, oldest first."""
    return [
        float(line.split()[1]) for line in timings.read_text().splitlines() if line[:3] == "gc "
    ]


def _heats(timings: Path) -> list[float]:
    """How long each of the worker's heats took so far, in seconds, oldest first."""
    lines = timings.read_text().splitlines()
    return [float(line.split()[2]) for line in lines if line.startswith("heat ")]


def _read_docs(docs: Any) -> float:
    from rxcdc.cache import collection_name

    started = time.monotonic()
    n = len(list(docs[collection_name(LABEL)].find({"a": BIG_ROOM, "del": False})))
    seconds = time.monotonic() - started
    assert n == SNAPSHOT_INSTANCES, n
    return seconds


# -- the processes this module starts -------------------------------------------------------------


def _worker_main(timings_path: str) -> None:
    """``rx_replicate``, recording per chunk when it left the stream, when its updates were
    published and when the worker was done with it, and per heat how long it took."""
    import django

    django.setup()
    from django.core.management import call_command

    from replication.changes import Chunk, Run
    from rxcdc.fanout import Publisher
    from rxcdc.worker import Worker

    out = open(timings_path, "a", buffering=1)  # noqa: SIM115 (open for the process lifetime)
    import gc

    collecting = [0.0]

    def timed_gc(phase: str, info: dict[str, Any]) -> None:
        # A full collection walks every object of the worker: a pause every event waits for.
        if phase == "start":
            collecting[0] = time.monotonic()
        elif info["generation"] == 2:
            out.write(f"gc {time.monotonic() - collecting[0]}\n")

    gc.callbacks.append(timed_gc)
    handle, heat, group_send = Worker.handle, Worker.heat, Publisher.group_send
    last_publish = [0.0]

    def timed_group_send(self: Publisher, *args: Any, **kwargs: Any) -> Any:
        refused = group_send(self, *args, **kwargs)
        last_publish[0] = last_publish[0] or time.monotonic()  # the chunk's updates: first call
        return refused

    def timed_handle(self: Worker, event: Any, ack: Any) -> None:
        if not isinstance(event, Chunk | Run):
            handle(self, event, ack)
            return
        got, last_publish[0] = time.monotonic(), 0.0
        before = dict(self.timings)
        handle(self, event, ack)
        published = last_publish[0]  # when the layer had accepted the chunk's messages
        done = time.monotonic()  # cache written, acknowledged, housekeeping done
        frame = event.transaction.commit_lsn  # a run's frames carry its last commit LSN
        # The event's stages (a run's for each of its transactions): where the worker's time goes.
        spent = {s: self.timings.get(s, 0.0) - before.get(s, 0.0) for s in self.timings}
        # (building the documents, a few microseconds per row, goes with their write)
        cache = spent.get("documents", 0.0) + spent.get("cache", 0.0)
        stages = f"{spent.get('serialize', 0.0)} {cache} {spent.get('publish', 0.0)}"
        for chunk in event.chunks if isinstance(event, Run) else (event,):
            txn = chunk.transaction
            out.write(
                f"chunk {txn.commit_lsn} {txn.xid} {got} {published} {done} {frame} {stages}\n"
            )

    def timed_heat(self: Worker, requests: Any) -> None:
        started = time.monotonic()
        heat(self, requests)
        out.write(f"heat {len(requests)} {time.monotonic() - started}\n")

    Worker.handle, Worker.heat = timed_handle, timed_heat  # type: ignore[method-assign]
    Publisher.group_send = timed_group_send  # type: ignore[method-assign]
    profile = os.environ.get("RX_BENCH_PROFILE")  # a cProfile stats file: where the time goes
    if not profile:
        call_command("rx_replicate")
        return
    import cProfile

    with cProfile.Profile() as profiler:
        call_command("rx_replicate")
    profiler.dump_stats(profile)


def _writer_main(dsn: str, prefix: str, rows: str, commits_path: str) -> None:
    """UPDATE ``rows`` live-room messages per transaction at RATE/s; save each transaction's
    xid and when its commit returned (autocommit: the statement returns once committed)."""
    n = int(rows)
    commits = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        next_at = time.monotonic()
        for seq in range(TRANSACTIONS):
            first = seq * n % LIVE_MESSAGES
            row = conn.execute(
                "UPDATE testapp_message SET text = %s WHERE id = ANY(%s)"
                " RETURNING pg_current_xact_id()::text",
                (f"{prefix}:{seq}", [(first + i) % LIVE_MESSAGES + 1 for i in range(n)]),
            ).fetchone()
            returned = time.monotonic()
            assert row is not None
            commits.append((int(row[0]) & 0xFFFFFFFF, returned))  # wal2json's 32-bit xid
            next_at += 1 / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))  # pacing the load
    Path(commits_path).write_text(json.dumps(commits))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        _worker_main(sys.argv[2])
    elif sys.argv[1] == "writer":
        _writer_main(*sys.argv[2:6])

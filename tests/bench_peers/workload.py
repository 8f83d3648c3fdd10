"""One repeat of the workload against one peer: latency, capture cases, snapshots.

Live room: 10 clients show room 1 (1,000 messages). A writer process with the peer's settings
saves one message per transaction at 100/s, open loop; a sample is one (save, client): from the
moment the writer's UPDATE returned (autocommit, so committed) to the client's receipt of the
frame carrying that text, both on this machine's monotonic clock. Then four writes each peer may
or may not see, each followed by a ``save()`` of another message as a fence: every peer delivers
that save, in order, so what a client received between the write and the fence is everything the
write produced.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from rxcdc.cache import Cache
from rxcdc.testing.services import LocalServices, find_pg_bindir
from rxcdc.testing.waiting import wait_until
from tests.bench_peers.clients import FrameLog, Row, connect
from tests.bench_peers.database import BIG_MESSAGES, BIG_ROOM
from tests.bench_peers.peers import ROOT, Peer
from tests.bench_peers.stack import Stack
from tests.bench_peers.writer import LIVE_MESSAGES, LIVE_ROOM

CLIENTS = 10
RATE = 100.0  # saves per second
SAVES = 500  # per repeat: 5 s at 100/s, every one a different message
DELIVERY_TIMEOUT = 60.0  # seconds for the last frames to arrive once the writer is done
BULK_ROWS = 1_000


@dataclass(frozen=True)
class Case:
    """A write that bypasses some peers' capture, and how to recognise its rows in frames."""

    key: str
    label: str
    expected: int  # rows a client that sees everything gets

    def matches(self, row: Row, tag: str) -> bool:
        if self.key == "m2m_add":
            return row.id == M2M_MESSAGE and row.likes is not None and int(tag) in row.likes
        if self.key == "bulk_create":
            return row.text is not None and row.text.startswith(tag + ":")
        return row.text == tag


M2M_MESSAGE = 5
RAW_MESSAGE = 4
CASES = (
    Case("update", f"`QuerySet.update()` of {LIVE_MESSAGES:,} rows", LIVE_MESSAGES),
    Case("bulk_create", f"`bulk_create` of {BULK_ROWS:,} rows", BULK_ROWS),
    Case("raw", "raw SQL `UPDATE` of one row from `psql`", 1),
    Case("m2m_add", "M2M `add` (a like)", 1),
)


@dataclass
class Figures:
    """Samples per (peer key, metric key), one per repeat (or one per run)."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # why there is no figure

    def add(self, peer: str, metric: str, value: float) -> None:
        self.samples.setdefault((peer, metric), []).append(value)

    def get(self, peer: str, metric: str) -> list[float]:
        return self.samples.get((peer, metric), [])


def plain_writer(services: LocalServices, env: dict[str, str], repeat: int, fig: Figures) -> None:
    """The same paced writer with no peer installed: ``save()``'s baseline, in ms."""
    result = run_paced(env, str(ROOT / ".venv" / "bin" / "python"), f"plain{repeat}")
    fig.add("plain", "save_ms", statistics.median(result["save_ms"]))
    fig.add("plain", "writer_rss", result["rss_kib"] / 1024)


def live(
    services: LocalServices,
    stack: Stack,
    env: dict[str, str],
    token: str,
    repeat: int,
    fig: Figures,
) -> None:
    """Latency and save() time at 100 saves/s, then the capture cases, with CLIENTS connected."""
    asyncio.run(_live(services, stack, env, token, repeat, fig))


async def _live(
    services: LocalServices,
    stack: Stack,
    env: dict[str, str],
    token: str,
    repeat: int,
    fig: Figures,
) -> None:
    peer = stack.peer
    url = stack.url + peer.protocol.path(LIVE_ROOM)
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    try:
        loads = []
        for _ in range(CLIENTS):
            sockets.append(await connect(url))
            started = time.monotonic()
            await peer.protocol.load(sockets[-1], LIVE_ROOM, token)
            loads.append(time.monotonic() - started)
        # The first load of a run is the cold one (for the peers with a cache); the median is hot.
        fig.add(peer.key, "load.live", statistics.median(loads))
        logs = [FrameLog(peer.protocol) for _ in sockets]
        readers = [
            asyncio.create_task(log.record(ws)) for log, ws in zip(logs, sockets, strict=True)
        ]
        prefix = f"{peer.key}{repeat}"
        result = await asyncio.to_thread(run_paced, env, str(peer.python), prefix)
        commits = {int(seq): at for seq, at in result["commits"].items()}
        texts = {f"{prefix}:{seq}": at for seq, at in commits.items()}
        last = f"{prefix}:{max(commits)}"
        # Frames arrive in commit order: the last save's frame comes last (a peer that drops
        # frames is reported by its delivered share, once the deadline passed).
        await _until(_all_seen(logs, last), DELIVERY_TIMEOUT, stack)
        latencies: list[float] = []
        for log in logs:
            for text, committed in texts.items():
                if text in log.first_seen:
                    latencies.append((log.first_seen[text] - committed) * 1000)
        assert len(latencies) > 1, f"{peer.name}: no save reached the clients"
        quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
        fig.add(peer.key, "p50", quantiles[49])
        fig.add(peer.key, "p99", quantiles[98])
        fig.add(peer.key, "delivered", len(latencies) / (len(commits) * len(logs)))
        fig.add(peer.key, "save_ms", statistics.median(result["save_ms"]))
        fig.add(peer.key, "writer_rss", result["rss_kib"] / 1024)
        await _cases(services, stack, env, logs, repeat, fig)
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()


async def _cases(
    services: LocalServices,
    stack: Stack,
    env: dict[str, str],
    logs: list[FrameLog],
    repeat: int,
    fig: Figures,
) -> None:
    """Each case, then the fence; count what a client got in between."""
    peer = stack.peer
    session = await asyncio.create_subprocess_exec(
        str(peer.python),
        "-m",
        "tests.bench_peers.writer",
        "session",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        for case in CASES:
            tag = f"{case.key}{peer.key}{repeat}"
            if case.key == "m2m_add":
                tag = str(repeat % 100 + 1)  # the author who likes the message
            marks = [len(log.parse()) for log in logs]
            if case.key == "raw":
                await asyncio.to_thread(_psql, services, peer, tag)
            else:
                args = {
                    "update": [tag],
                    "bulk_create": [tag, str(BULK_ROWS)],
                    "m2m_add": [str(M2M_MESSAGE), tag],
                }[case.key]
                await _command(session, case.key, *args)
            fence = f"fence{case.key}{peer.key}{repeat}"
            await _command(session, "save", fence)
            delivered = await _until(_all_seen(logs, fence), DELIVERY_TIMEOUT, stack)
            assert delivered, f"{peer.name}: the fence after {case.key} did not arrive"
            frames, rows = [], []
            for log, mark in zip(logs, marks, strict=True):
                window = _before(log.parse()[mark:], fence)
                frames.append(sum(found is not None for _, found in window))
                seen = {r.id for _, found in window for r in found or () if case.matches(r, tag)}
                rows.append(len(seen))
            fig.add(peer.key, f"{case.key}.frames", statistics.median(frames))
            fig.add(peer.key, f"{case.key}.rows", min(rows))
    finally:
        if session.stdin is not None:
            session.stdin.close()
        try:
            await asyncio.wait_for(session.wait(), 30)
        except TimeoutError:
            session.kill()
            await session.wait()


def snapshots(
    services: LocalServices, stack: Stack, env: dict[str, str], token: str, fig: Figures
) -> None:
    """The big room loaded cold (the peer's cache cleared first; no cache: the same) and hot.

    A peer whose load fails (the socket closed) gets the reason instead of a figure, and is not
    asked again in later repeats: nothing about the failure depends on the repeat.
    """
    peer = stack.peer
    if (peer.key, "snapshot.cold") in fig.failures:
        return
    if peer.key == "rxcdc":
        _rx_cache_clear(services, stack, env)
    elif peer.key == "rxdjango":
        subprocess.run(
            [str(peer.python), "-m", "tests.bench_peers.writer", "cold", str(BIG_ROOM)],
            env=env,
            cwd=ROOT,
            check=True,
        )
    for kind in ("cold", "hot"):
        if (peer.key, "snapshot.cold") in fig.failures:
            # RxDjango's failed load leaves the room cold: the next one would fail the same way.
            fig.failures[peer.key, "snapshot.hot"] = "not tried: the cold load failed"
            break
        started = time.monotonic()
        try:
            seconds, messages = asyncio.run(_snapshot(stack, token))
        except websockets.ConnectionClosed as exc:
            why = stack.failure() or "no error in its log"
            failed = time.monotonic() - started
            fig.failures[peer.key, f"snapshot.{kind}"] = (
                f"the server closed the socket ({exc.rcvd.code if exc.rcvd else 'no code'})"
                f" after {failed:.0f} s: {why}"
            )
            continue
        except RuntimeError as exc:  # an error frame: recorded, and asked again next repeat
            fig.failures[peer.key, f"snapshot.{kind}.error"] = str(exc)
            continue
        assert messages == BIG_MESSAGES, f"{peer.name}: {messages} of {BIG_MESSAGES} messages"
        fig.add(peer.key, f"snapshot.{kind}", seconds)


async def _snapshot(stack: Stack, token: str) -> tuple[float, int]:
    """Seconds from the first request to the full state, on a connection opened before."""
    ws = await connect(stack.url + stack.peer.protocol.path(BIG_ROOM))
    try:
        started = time.monotonic()
        messages = await stack.peer.protocol.load(ws, BIG_ROOM, token)
        return time.monotonic() - started, messages
    finally:
        await ws.close()


def _rx_cache_clear(services: LocalServices, stack: Stack, env: dict[str, str]) -> None:
    """``rx_cache clear`` the big room; the running worker drops it. Wait until it did."""
    label = "rxcdc_site.RoomChannel"
    subprocess.run(
        [str(stack.peer.python), "-m", "django", "rx_cache", "clear", label, str(BIG_ROOM)],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cache = Cache(services.mongo.url, stack.peer.database)
    try:

        def dropped() -> bool:
            stack.check()
            return not cache.is_hot(label, BIG_ROOM)

        wait_until(dropped, "the worker dropped the room", 60, interval=0.05)
    finally:
        cache.client.close()


def run_paced(env: dict[str, str], python: str, prefix: str) -> dict[str, Any]:
    """Run the writer's paced saves in a fresh process; its commit times and save() times."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "writer.json"
        command = ["-m", "tests.bench_peers.writer", "paced", prefix, str(SAVES), str(RATE)]
        subprocess.run([python, *command, str(out)], env=env, cwd=ROOT, check=True, timeout=600)
        return dict(json.loads(out.read_text()))


def _psql(services: LocalServices, peer: Peer, text: str) -> None:
    """An UPDATE from another process that never imports Django: psql."""
    sql = f"UPDATE peerchat_message SET text = '{text}' WHERE id = {RAW_MESSAGE}"
    psql = str(find_pg_bindir() / "psql")
    subprocess.run(
        [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            services.postgres.dsn(peer.database),
        ],
        check=True,
        timeout=60,
    )


async def _command(session: asyncio.subprocess.Process, *words: str) -> None:
    assert session.stdin is not None and session.stdout is not None
    session.stdin.write((" ".join(words) + "\n").encode())
    await session.stdin.drain()
    answer = await asyncio.wait_for(session.stdout.readline(), 300)
    if answer.strip() != b"ok":
        raise RuntimeError(f"the writer's session failed on {words} (exit {session.returncode})")


async def _until(ready: Callable[[], bool], timeout: float, stack: Stack) -> bool:
    """Wait until ``ready()``, up to ``timeout`` seconds; False if it never became true."""
    deadline = time.monotonic() + timeout
    while not ready():
        stack.check()
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # polling the clients' frame logs with a deadline
    return True


def _all_seen(logs: list[FrameLog], text: str) -> Callable[[], bool]:
    return lambda: all(log.seen(text) for log in logs)


def _before(
    window: list[tuple[float, list[Row] | None]], fence: str
) -> list[tuple[float, list[Row] | None]]:
    """The frames of ``window`` that came before the one carrying ``fence``."""
    for i, (_, rows) in enumerate(window):
        if any(row.text == fence for row in rows or ()):
            return window[:i]
    return window


def log_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

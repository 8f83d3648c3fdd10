"""The exactness harness: rx_replicate and daphne as subprocesses on the suite's services.

Writes come from a psycopg connection of their own (``Workload``); clients are real websocket
connections (``LiveClient``). ``Stack.settle`` is the quiescence point: it waits until the worker
has acknowledged everything written so far, then until every connected client holds exactly
the database (``ground_truth`` per user) and the cache of every watched board equals DRF's
unscoped output. A difference that outlives the deadline, or that stays while no frame arrives
for ``QUIET`` seconds, is a ``Divergence`` carrying ``oracle.diff``'s lines and the path of the
frame logs and server logs saved for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pymongo
import redis
from django.db import connection
from rest_framework.renderers import JSONRenderer

from replication import HEARTBEAT_PREFIX, parse_lsn
from rxcdc.cache import Cache
from rxcdc.heat import HEAT_QUEUE
from rxcdc.testing.oracle import diff, ground_truth
from rxcdc.testing.reference import ReferenceClient, frame_log, schema_of
from rxcdc.testing.services import LocalServices, _die_with_parent, free_port, stop_process
from rxcdc.testing.waiting import wait_until
from tests.exact.verdict import SUMMARY, classify, divergence
from tests.exact.workload import Workload
from tests.exact.wsclient import LiveClient
from tests.exactapp.models import Board
from tests.exactapp.serializers import BoardSerializer
from tests.processes import django_env, drop_slot_when_free

LABEL = "exactapp.BoardChannel"
SCHEMA = schema_of(BoardSerializer())
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(
    os.environ.get("RXCDC_EXACT_ARTIFACTS") or Path(tempfile.gettempdir()) / "rxcdc-exact-artifacts"
)
DEADLINE = float(os.environ.get("RX_EXACT_DEADLINE", "20"))  # seconds to converge per settle
QUIET = float(os.environ.get("RX_EXACT_QUIET", "3"))  # seconds without frames: a final state
CHUNK_SIZE = 20
CACHE_TTL = 4.0  # short: boards nobody watches cool within the run


def unscoped_truth(board: int) -> dict[str, Any] | None:
    """DRF's nested output with every user's notes: what the cache must hold."""
    instance = Board.objects.filter(pk=board).first()
    if instance is None:
        return None
    data: dict[str, Any] = json.loads(JSONRenderer().render(BoardSerializer(instance).data))
    return data


class Stack:
    """rx_replicate + daphne on one database, slot and cache database, and their clients."""

    def __init__(self, services: LocalServices, run: Path) -> None:
        self.made: list[LiveClient] = []  # every client of the run, in order
        self.services, self.run = services, run
        self.database = connection.settings_dict["NAME"]
        self.dsn = services.postgres.dsn(self.database)
        self.slot = f"rx_exact_{uuid.uuid4().hex[:8]}"
        self.mongo_db = f"rx_exact_{uuid.uuid4().hex[:8]}"
        self.env = django_env(
            DJANGO_SETTINGS_MODULE="tests.exact.settings",
            RX_SLOT_NAME=self.slot,
            RX_MONGO_DB=self.mongo_db,
            RX_CHUNK_SIZE=str(CHUNK_SIZE),
            RX_CACHE_TTL=str(CACHE_TTL),
        )
        self.writes = psycopg.connect(self.dsn, autocommit=True)  # the workload's own session
        self.watch = psycopg.connect(self.dsn, autocommit=True)  # barriers and slot position
        self.mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(services.mongo.url)
        self.worker: subprocess.Popen[bytes] | None = None
        self.daphne: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.dead_workers: list[int] = []  # pids whose sessions must be gone before a restart
        self.tainted = False  # set by the state machine while an example has not ended clean

    # -- processes ----------------------------------------------------------------------------

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            out.write(f"--- start {datetime.now(UTC).isoformat()}\n".encode())
            out.flush()
            # Children die with the test process even when it is killed (no stray workers).
            return subprocess.Popen(
                argv,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=out,
                preexec_fn=_die_with_parent,
            )

    def _log_tail(self, name: str, size: int = 3000) -> str:
        path = self.run / name
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def start_worker(self) -> None:
        """Start rx_replicate once the previous one's sessions are gone; wait until it streams."""
        self._wait(self._slot_free, "the killed worker's sessions ended", 30)
        log = self.run / "worker.log"
        offset = log.stat().st_size if log.exists() else 0
        self.worker = self._spawn([sys.executable, "-m", "django", "rx_replicate"], log)
        proc = self.worker

        def streaming() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"rx_replicate exited: {self._log_tail('worker.log')}")
            return "rx_replicate: streaming" in log.read_text(errors="replace")[offset:]

        self._wait(streaming, "rx_replicate streams", 60)

    def _slot_free(self) -> bool:
        row = self.watch.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [self.slot]
        ).fetchone()
        names = [f"rx_replicate pid {pid} %" for pid in self.dead_workers]
        sessions = self.watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE ANY(%s)", [names]
        ).fetchone()
        return (row is None or not row[0]) and sessions is not None and sessions[0] == 0

    def kill_worker(self) -> None:
        """SIGKILL rx_replicate, wherever it is (no cleanup, no final acknowledgement)."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait(10)
            SUMMARY.kills += 1
        if self.worker is not None:
            self.dead_workers.append(self.worker.pid)
        self.worker = None

    @contextlib.contextmanager
    def worker_paused(self) -> Iterator[None]:
        """SIGSTOP rx_replicate for the block: what happens meanwhile meets it all at once."""
        self.ensure_worker()
        proc = self.worker
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            proc.send_signal(signal.SIGCONT)

    def wait_heat_request(self, board: int) -> None:
        """Wait until a snapshot request for ``board`` is queued for the worker."""
        r = redis.Redis.from_url(self.services.redis.url)
        try:

            def queued() -> bool:
                return any(
                    json.loads(item)["anchor"] == board for item in r.lrange(HEAT_QUEUE, 0, -1)
                )

            self._wait(queued, f"a snapshot request for board {board} is queued", 10)
        finally:
            r.close()

    def ensure_worker(self) -> None:
        """Restart a worker the test killed; a worker that died on its own is a failure."""
        if self.worker is None:
            self.start_worker()
        elif self.worker.poll() is not None:
            status = self.worker.returncode
            self.kill_worker()  # the next settle starts a new one
            tail = "\n".join(self._log_tail("worker.log").splitlines()[-12:])
            self._fail(f"rx_replicate died with status {status}; its log ends:\n{tail}")

    def start_daphne(self) -> None:
        """Serve tests.asgi on a free port; wait until it accepts connections."""
        import socket

        self.port = free_port()
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        self.daphne = self._spawn([*argv, "tests.asgi:application"], self.run / "daphne.log")

        def listening() -> bool:
            assert self.daphne is not None and self.daphne.poll() is None, self._log_tail(
                "daphne.log"
            )
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        self._wait(listening, "daphne listens", 60)

    def reset_pipeline(self) -> None:
        """A new slot and an empty cache: the next example owes nothing to the previous one."""
        self.kill_worker()
        drop_slot_when_free(self.dsn, self.slot, timeout=30)
        self.mongo.drop_database(self.mongo_db)
        r = redis.Redis.from_url(self.services.redis.url)
        for key in r.scan_iter("rx:*"):  # heat queue and liveness keys; pub/sub has no keys
            r.delete(key)
        r.close()
        self.start_worker()

    def close(self) -> None:
        """Stop both processes, drop the slot and the cache database."""
        for proc in (self.daphne, self.worker):
            stop_process(proc, signal.SIGTERM, timeout=30)
        if self.worker is not None:
            self.dead_workers.append(self.worker.pid)
        self.worker = self.daphne = None
        with contextlib.suppress(Exception):
            drop_slot_when_free(self.dsn, self.slot, timeout=30)
        self.mongo.drop_database(self.mongo_db)
        self.mongo.close()
        self.writes.close()
        self.watch.close()

    # -- clients and writes -------------------------------------------------------------------

    def client(self, name: str, board: int, token: str) -> LiveClient:
        """A (not yet connected) client of ``board`` authenticating with ``token``."""
        url = f"ws://127.0.0.1:{self.port}/ws/exact/board/{board}/"
        client = LiveClient(name, url, f"http://127.0.0.1:{self.port}", token, SCHEMA)
        self.made.append(client)
        return client

    def workload(self, users: list[int]) -> Workload:
        """Raw-SQL writes through this stack's own connection."""
        return Workload(self.writes, users)

    # -- quiescence ---------------------------------------------------------------------------

    _wait = staticmethod(wait_until)  # (condition, what, timeout)

    def acknowledged(self) -> int:
        """The slot's confirmed_flush_lsn (0 before the first acknowledgement)."""
        row = self.watch.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            [self.slot],
        ).fetchone()
        return parse_lsn(row[0]) if row and row[0] else 0

    def barrier(self) -> int:
        """Emit a heartbeat after everything written so far; returns an LSN at or below it.

        The worker acknowledges a heartbeat only once every transaction before it is
        acknowledged, i.e. durable in the cache and published. A transactional message on a
        prefix nobody streams then commits, which flushes the WAL so the heartbeat is sent now.
        """
        (before,) = self.watch.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        content = json.dumps({"emitted_at": datetime.now(UTC).isoformat()})
        self.watch.execute(
            "SELECT pg_logical_emit_message(false, %s, %s)", [HEARTBEAT_PREFIX, content]
        )
        self.watch.execute("SELECT pg_logical_emit_message(true, 'rx_exact_flush', '')")
        return parse_lsn(before)

    def settle(self, clients: list[tuple[LiveClient, int, int]]) -> None:
        """Wait for quiescence, then require exactness of every client and of the cache.

        ``clients``: (client, board, user id) of every connected client. The cache is checked
        for their boards (others may be cooling: their documents go before their meta).
        """
        self.ensure_worker()
        target = self.barrier()
        deadline = time.monotonic() + DEADLINE
        while self.acknowledged() < target:
            self.ensure_worker()
            if time.monotonic() > deadline:
                self._fail(
                    f"the worker did not acknowledge past {target} within {DEADLINE}s "
                    f"(slot at {self.acknowledged()})",
                    clients,
                )
            time.sleep(0.02)  # polling the slot's position with a deadline
        truths = {
            (b, u): ground_truth(BoardSerializer, Board.objects.filter(pk=b).first(), u)
            for _c, b, u in clients
        }
        now = time.monotonic()
        deadline, heard, quiet_since = now + DEADLINE, None, now
        while True:
            problems = self._client_problems(clients, truths)
            if not problems:
                break
            now = time.monotonic()
            frames = [len(client.ref.log) for client, _b, _u in clients]
            if frames != heard:
                heard, quiet_since = frames, now
            # Everything acknowledged is published already: a ready client that hears nothing
            # more for QUIET seconds keeps its wrong state (waiting longer only slows shrinking).
            settled = not any(p.endswith("not ready") for p in problems)
            if (
                now > deadline
                or any(p.startswith("!") for p in problems)
                or (settled and now - quiet_since > QUIET)
            ):
                self._fail("\n".join(problems), clients)
            time.sleep(0.02)  # polling the clients' state with a deadline
        watched = sorted({b for _c, b, _u in clients})
        problems = [p for b in watched for p in self._cache_problems(b)]
        if problems:
            self._fail("\n".join(problems), clients)

    def _client_problems(
        self, clients: list[tuple[LiveClient, int, int]], truths: dict[tuple[int, int], Any]
    ) -> list[str]:
        out = []
        for client, board, user in clients:
            hard = client.problems()
            if hard:  # "!": no point waiting for the deadline
                out += [f"! {client.name}: {p}" for p in hard]
                continue
            ready, state = client.view(board)
            if not ready:
                out.append(f"{client.name} (user {user}, board {board}): not ready")
                continue
            lines = diff(truths[(board, user)], state)
            out += [f"{client.name} (user {user}, board {board}): {d}" for d in lines[:20]]
        return out

    def cache_state(self, board: int) -> dict[str, Any] | None:
        """The board as a fresh client would rebuild it from the cache's live documents."""
        cache = Cache("", self.mongo_db, client=self.mongo)
        if not cache.is_hot(LABEL, board):
            return {"__cache__": "the board is not hot"}
        _mode, instances, _tombstones = cache.snapshot(LABEL, board)
        lsn = max((i["_lsn"] for i in instances), default=0)
        ref = ReferenceClient(SCHEMA)
        for frame in (
            {"type": "auth.ok", "protocol": 1, "channel": LABEL, "anchors": [board]},
            {"type": "snapshot.begin", "anchor": board, "lsn": lsn, "mode": "full"},
            {"type": "snapshot.instances", "anchor": board, "instances": []},
            {"type": "snapshot.end", "anchor": board, "lsn": lsn},
        ):
            if frame["type"] == "snapshot.instances":
                frame["instances"] = [
                    {
                        **json.loads(i["json"]),
                        "_type": i["_type"],
                        "_pk": i["_pk"],
                        "_lsn": i["_lsn"],
                    }
                    for i in instances
                ]
            ref.apply(frame)
        return ref.nested(board)

    def _cache_problems(self, board: int) -> list[str]:
        lines = diff(unscoped_truth(board), self.cache_state(board))
        return [f"cache (board {board}): {d}" for d in lines[:20]]

    def _fail(
        self, message: str, clients: list[tuple[LiveClient, int, int]] | None = None
    ) -> NoReturn:
        SUMMARY.divergences += 1
        folder = ARTIFACTS / datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        folder.mkdir(parents=True, exist_ok=True)
        for client, _b, _u in clients or []:
            with client.lock:
                log = frame_log(client.ref, SCHEMA)
            (folder / f"{client.name}.json").write_text(json.dumps(log, indent=1))
        for name in ("worker.log", "daphne.log"):
            (folder / name).write_text(self._log_tail(name, 200_000))
        kind = divergence(classify(message.splitlines()[0]))
        raise kind(f"{message}\n(frame logs and server logs: {folder})")


@contextlib.contextmanager
def running_stack(services: LocalServices, run: Path) -> Iterator[Stack]:
    """A started stack, always stopped and cleaned up afterwards; prints the run summary."""
    stack = Stack(services, run)
    SUMMARY.reset()
    try:
        stack.start_daphne()
        stack.start_worker()
        yield stack
    finally:
        stack.close()
        print(f"\n{SUMMARY.line()}", flush=True)

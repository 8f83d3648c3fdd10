"""The exactness stack on its own Redis and MongoDB (restartable), plus a write load.

Postgres is the suite's cluster (ground truth reads it through the ORM), restarted in place.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pymongo
from django.db import connections

from rxcdc.testing.services import LocalServices, MongoServer, RedisServer
from tests.exact.harness import Stack

LEASE = 2.0  # RX_LEASE_TIMEOUT of the chaos workers (seconds)


class ChaosStack(Stack):
    """``Stack`` whose worker and daphne use a Redis and a disk-backed MongoDB of their own."""

    def __init__(self, services: LocalServices, run: Path) -> None:
        self.redis_server = RedisServer(run)
        self.mongo_server = MongoServer(run, data_dir=str(run / "mongo-data"))
        (run / "mongo-data").mkdir()
        self.redis_server.start()
        self.mongo_server.start()
        own = SimpleNamespace(
            postgres=services.postgres, redis=self.redis_server, mongo=self.mongo_server
        )
        super().__init__(own, run)  # type: ignore[arg-type]
        self.env.update(
            DJANGO_SETTINGS_MODULE="tests.chaos.settings",
            REDIS_URL=self.redis_server.url,
            MONGO_URL=self.mongo_server.url,
            RX_LEASE_TIMEOUT=str(LEASE),
        )
        self.standby: subprocess.Popen[bytes] | None = None
        self.standby_offset = 0  # where the current standby's lines start in standby.log

    def close(self) -> None:
        """Stop everything, the standby and our own servers included."""
        if self.standby is not None:
            self.standby.kill()
            self.standby.wait(10)
        super().close()
        self.mongo_server.stop()
        self.redis_server.stop()

    def reconnect_postgres(self) -> None:
        """New sessions for the harness after a Postgres restart."""
        for conn in (self.writes, self.watch):
            with contextlib.suppress(Exception):
                conn.close()
        self.writes = psycopg.connect(self.dsn, autocommit=True)
        self.watch = psycopg.connect(self.dsn, autocommit=True)
        connections.close_all()

    def reconnect_mongo(self) -> None:
        """A new client for the cache checks after a MongoDB restart."""
        self.mongo.close()
        self.mongo = pymongo.MongoClient(self.mongo_server.url)

    def start_standby(self) -> subprocess.Popen[bytes]:
        """``rx_replicate --standby``; returns once it waits for the active worker."""
        log = self.run / "standby.log"
        offset = log.stat().st_size if log.exists() else 0
        self.standby = self._spawn(
            [sys.executable, "-m", "django", "rx_replicate", "--standby"], log
        )
        proc = self.standby
        self.standby_offset = offset
        self._wait(
            lambda: (
                proc.poll() is None
                and "rx_replicate: standby" in log.read_text(errors="replace")[offset:]
            ),
            "the standby waits",
            60,
        )
        return proc

    def promote_standby(self) -> None:
        """The standby took over: it is the stack's worker from now on."""
        assert self.standby is not None
        self.worker, self.standby = self.standby, None

    def freeze_worker(self) -> subprocess.Popen[bytes]:
        """SIGSTOP the active worker (left stopped); returns it."""
        proc = self.worker
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        return proc


class Load:
    """A background writer: card title updates and notes of both users, on its own session.

    It survives a Postgres restart (it reconnects) and counts the transactions it committed.
    """

    def __init__(self, dsn: str, cards: list[int], users: list[int]) -> None:
        self.dsn, self.cards, self.users = dsn, cards, users
        self.committed = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(19)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=2)
                self._one(conn)
                self.committed += 1
            except psycopg.Error:
                self.failed += 1
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = None
            self._stop.wait(0.05)  # pacing the load (about 20 transactions a second)

    def _one(self, conn: psycopg.Connection[Any]) -> None:
        card = self._rng.choice(self.cards)
        if self._rng.random() < 0.7:
            conn.execute(
                "UPDATE exactapp_card SET title = %s WHERE id = %s",
                [f"load {time.monotonic_ns()}", card],
            )
        else:
            conn.execute(
                "INSERT INTO exactapp_note (card_id, user_id, text) VALUES (%s, %s, %s)",
                [card, self._rng.choice(self.users), f"note {time.monotonic_ns()}"],
            )

"""``manage.py rx_replicate --metrics-port 0`` in a process of its own, for tests that scrape it."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymongo
from django.core.management import CommandError, call_command

from rxcdc import conf
from rxcdc.testing.services import stop_process
from rxcdc.testing.waiting import wait_until
from tests.processes import django_env, drop_slot_when_free
from tests.scrape import Samples, scrape


@dataclass
class WorkerProcess:
    """``manage.py rx_replicate --metrics-port 0`` in a process of its own."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def scrape(self) -> Samples:
        return scrape(self.url)

    def until(
        self, condition: Callable[[Samples], object], what: str, timeout: float = 30
    ) -> Samples:
        """Scrape until ``condition(samples)`` holds; returns those samples."""
        found: list[Samples] = []

        def check() -> object:
            found[:] = [self.scrape()]
            return condition(found[0])

        wait_until(check, what, timeout, interval=0.1, process=self.proc, context=self.tail)
        return found[0]

    def tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-30:])

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, timeout=30)


def workers(settings, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """A fixture's body: starts workers on a slot and cache database of the test's own.

    Needs ``transactional_db``; stops the workers, drops the slot and the cache afterwards.
    """
    settings.RX_SLOT_NAME = f"rx_{uuid.uuid4().hex[:10]}"
    settings.RX_MONGO_DB = f"rx_{uuid.uuid4().hex[:10]}"
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        log = tmp_path / f"worker{len(started)}.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "django", "rx_replicate", "--metrics-port", "0"],
                env=django_env(**env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append(WorkerProcess(proc, log, ""))
        port = wait_until(
            lambda: re.search(r"metrics on http://[^:]+:(\d+)/metrics", log.read_text()),
            "the worker printed its metrics port",
            60,
            process=proc,
            context=lambda: log.read_text(),
        ).group(1)
        started[-1].url = f"http://127.0.0.1:{port}/metrics"
        wait_until(
            lambda: "rx_replicate: streaming" in log.read_text(),
            "the worker streams",
            60,
            process=proc,
            context=lambda: log.read_text(),
        )
        return started[-1]

    yield start
    for worker in started:
        worker.stop()
    drop_slot_when_free(conf.replication_dsn(), settings.RX_SLOT_NAME)
    pymongo.MongoClient(conf.mongo_url()).drop_database(settings.RX_MONGO_DB)


def status() -> tuple[str, int]:
    """``rx_replicate --status``: (what it printed, its exit status)."""
    out = io.StringIO()
    try:
        call_command("rx_replicate", "--status", stdout=out)
    except CommandError as exc:
        return f"{out.getvalue()}{exc}", exc.returncode
    return out.getvalue(), 0

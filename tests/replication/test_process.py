"""Consumers in their own processes: killed, signalled, and fed a 200,000-row transaction."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from replication import ensure_slot, slot_status
from rxcdc.testing.waiting import wait_until

from .helpers import receive, transactions

ROOT = Path(__file__).resolve().parents[2]


class Consumer:
    """``tests.replication.consumer`` in a subprocess, read line by line with deadlines."""

    def __init__(self, dsn: str, slot: str, table: str, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.replication.consumer", dsn, slot, table, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        # A thread reads, so that waiting has a deadline (select would miss buffered lines).
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def until(self, key: str, timeout: float = 30.0) -> dict[str, Any]:
        """Read lines until one has ``key``; fail if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {key!r} from the consumer within {timeout}s: {self.lines}")
            if raw is None:
                pytest.fail(f"consumer exited ({self.proc.wait()}) before {key!r}: {self.lines}")
            line = json.loads(raw)
            self.lines.append(line)
            if key in line:
                return line

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._queue.put(raw)
        self._queue.put(None)

    def chunks(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "chunk" in line]

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def consumers():
    started: list[Consumer] = []

    def start(*args: str) -> Consumer:
        consumer = Consumer(*args)
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.close()


@pytest.fixture
def two_transactions(db):
    """A one-row transaction, then a 10-row one (5 chunks of 2 for the consumer)."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    db.execute("INSERT INTO t SELECT generate_series(2, 11)")


def test_sigkill_mid_transaction_loses_nothing(
    pg_dsn, slot, two_transactions, consumers, open_stream
):
    victim = consumers(
        pg_dsn, slot, "t", "--chunk-size=2", "--transactions=2", "--hold-at-chunk=1", "--ids"
    )
    victim.until("holding")
    first, *cut = victim.chunks()
    assert (first["ids"], first["last"]) == ([1], True)  # acknowledged
    assert [c["ids"] for c in cut] == [[2, 3], [4, 5]]
    victim.proc.send_signal(signal.SIGKILL)
    assert victim.proc.wait() == -signal.SIGKILL
    # The next consumer (it waits while the dead one's walsender lets go of the slot) gets the
    # cut transaction whole, from chunk 0, and not the acknowledged one.
    got = receive(open_stream(chunk_size=2), transactions(1))
    (txn, changes), *_ = got.complete
    assert [c.new["id"] for c in changes] == list(range(2, 12))
    assert txn.commit_lsn == cut[0]["commit_lsn"]
    assert got.chunks[0].index == 0
    assert slot_status(pg_dsn, slot).confirmed_flush_lsn == first["commit_lsn"]


def test_sigterm_mid_transaction_exits_0_and_acknowledges_only_whole_transactions(
    pg_dsn, slot, two_transactions, consumers, open_stream
):
    consumer = consumers(
        pg_dsn, slot, "t", "--chunk-size=2", "--transactions=2", "--hold-at-chunk=1"
    )
    consumer.until("holding")
    consumer.proc.send_signal(signal.SIGTERM)
    consumer.release()  # let it return to the stream, which now stops
    done = consumer.until("done")
    assert consumer.proc.wait(10) == 0
    assert done["transactions"] == 1
    first, *cut = consumer.chunks()
    assert [c["chunk"] for c in cut] == [0, 1]  # nothing delivered after the signal
    assert slot_status(pg_dsn, slot).confirmed_flush_lsn == first["commit_lsn"]
    (txn, changes), *_ = receive(open_stream(), transactions(1)).complete
    assert len(changes) == 10
    assert txn.commit_lsn == cut[0]["commit_lsn"]


ROWS = 200_000


@pytest.mark.slow
def test_a_200k_row_update_streams_in_chunks_in_bounded_memory(pg_dsn, db, consumers):
    db.execute(
        "CREATE TABLE big (id int PRIMARY KEY, fk int, txt text, ts timestamptz, num numeric)"
    )
    db.execute(
        "INSERT INTO big SELECT i, i % 100, md5(i::text), now(), i * 1.25"
        f" FROM generate_series(1, {ROWS}) i"
    )
    ensure_slot(pg_dsn, "big")  # after the load: only the UPDATE is streamed
    consumer = consumers(pg_dsn, "big", "big", "--chunk-size=2000")
    baseline = consumer.until("ready")["rss"]
    db.execute("UPDATE big SET txt = txt || 'x', num = num + 1, ts = now()")
    done = consumer.until("done", timeout=60)
    chunks = consumer.chunks()
    assert sum(c["n"] for c in chunks) == ROWS
    assert len(chunks) == ROWS // 2000
    assert max(c["n"] for c in chunks) == 2000
    growth_mib = (done["peak_rss"] - baseline) / 1024
    assert growth_mib < 200, f"RSS grew by {growth_mib:.0f} MiB"
    wait_until(lambda: slot_status(pg_dsn, "big").confirmed_flush_lsn == chunks[-1]["commit_lsn"])

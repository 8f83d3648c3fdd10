"""A stream consumer in its own process, for the crash, signal and memory tests.

Prints one JSON line per milestone: ``ready`` (connected, idle), each chunk, ``holding`` (when
told to wait for a line on stdin after a given chunk index) and ``done`` with its peak RSS.
It acknowledges every transaction once its last chunk has arrived.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from replication import Chunk, ReplicationStream, Tick, stop_on_signals


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def memory_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("slot")
    parser.add_argument("table")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--transactions", type=int, default=1, help="stop after this many")
    parser.add_argument("--hold-at-chunk", type=int, help="wait for stdin after this chunk")
    parser.add_argument("--ids", action="store_true", help="print the ids in each chunk")
    args = parser.parse_args()

    stream = ReplicationStream(
        args.dsn,
        args.slot,
        [args.table],
        chunk_size=args.chunk_size,
        idle_tick=0.05,
        heartbeat_interval=None,
    )
    stop_on_signals(stream)
    ready = False
    done = 0
    with stream:
        for event in stream:
            if isinstance(event, Tick) and not ready:
                ready = True
                emit(ready=True, rss=memory_kib("VmRSS"))
            if not isinstance(event, Chunk):
                continue
            txn = event.transaction
            line: dict[str, Any] = {
                "chunk": event.index,
                "last": event.last,
                "commit_lsn": txn.commit_lsn,
                "n": len(event.changes),
            }
            if args.ids:
                line["ids"] = [change.new["id"] for change in event.changes]  # type: ignore[union-attr]
            emit(**line)
            if event.last:
                stream.ack(txn)
                done += 1
                if done >= args.transactions:
                    stream.stop()
            elif event.index == args.hold_at_chunk:
                emit(holding=True)
                sys.stdin.readline()
    emit(done=True, transactions=done, peak_rss=memory_kib("VmHWM"), rss=memory_kib("VmRSS"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m tests.bench_peers``: rxcdc, RxDjango and DCRF on one workload, one table.

One ``LocalServices`` for the whole run; each system has its own database, its own daphne (and
rxcdc its worker), all started once and stopped at the end whatever happens. Each repeat runs
the plain-Django writer, then every system in turn (the order rotates per repeat).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rxcdc.testing.services import LocalServices
from tests.bench.__main__ import describe_machine
from tests.bench_peers import report
from tests.bench_peers.database import prepare
from tests.bench_peers.peers import PEERS, PEERS_PYTHON, PLAIN
from tests.bench_peers.stack import Stack, peak_rss_kib, peer_env, running
from tests.bench_peers.workload import Figures, live, log_progress, plain_writer, snapshots


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_peers")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (3)")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {report.DOC}")
    args = parser.parse_args()
    if not PEERS_PYTHON.exists():
        print("the peers are not installed: bash scripts/setup-peers.sh", file=sys.stderr)
        return 2
    started, load_before = datetime.now(UTC), os.getloadavg()[0]
    fig = Figures({})
    with LocalServices() as services, tempfile.TemporaryDirectory() as logs:
        machine = describe_machine(services)
        envs = {peer.key: peer_env(services, peer) for peer in (*PEERS, PLAIN)}
        tokens = {}
        for peer in (*PEERS, PLAIN):
            log_progress(f"preparing {peer.database}")
            tokens[peer.key] = prepare(services, peer, envs[peer.key])
        stacks = [Stack(peer, envs[peer.key], Path(logs)) for peer in PEERS]
        with running(stacks):
            for repeat in range(args.repeats):
                log_progress(f"repeat {repeat}: plain Django writer")
                plain_writer(services, envs[PLAIN.key], repeat, fig)
                for stack in stacks[repeat % 3 :] + stacks[: repeat % 3]:
                    key = stack.peer.key
                    log_progress(f"repeat {repeat}: {stack.peer.name}: live room")
                    live(services, stack, envs[key], tokens[key], repeat, fig)
                    log_progress(f"repeat {repeat}: {stack.peer.name}: snapshots")
                    snapshots(services, stack, envs[key], tokens[key], fig)
            rss = {stack.peer.key: stack.peak_rss_kib() for stack in stacks}
            shared = {
                name: peak_rss_kib(proc.pid)
                for name, proc in (
                    ("Redis", services.redis.proc),
                    ("nx-27017", services.mongo.proc),
                )
                if proc is not None  # MONGO_URL: a server this run did not start
            }
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    header = [
        f"Run {started:%Y-%m-%d %H:%M} UTC, {args.repeats} repeats; load average (1 min): {load}."
        " Each figure is the median over the repeats, with (min..max, n). Machine:",
        "",
        *[f"- {key}: {value}" for key, value in machine],
    ]
    block = report.section(header, report.render(fig, rss, shared))
    print(block)
    if not args.no_write:
        report.write(block)
        print(f"wrote {report.DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

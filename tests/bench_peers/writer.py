"""The writer: a Django process with one peer's settings (signals fire in the writer's process).

Runs from either virtual environment, so it imports only Django and the chat app (and, for
``cold``, RxDjango). ``python -m tests.bench_peers.writer paced|session|cold ...`` with
``DJANGO_SETTINGS_MODULE`` and ``PEERS_DB`` set.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIVE_ROOM = 1
LIVE_MESSAGES = 1_000  # messages 1..1,000 of the live room: the paced saves, QuerySet.update()
# The live room's message whose save() closes each capture case (every peer sees a save()). No
# case writes it: rxcdc reads rows when it handles a transaction, so a case's frame would carry
# the fence's text if its rows included this one.
MARKED = LIVE_MESSAGES + 1


def paced(prefix: str, count: int, rate: float, out_path: str) -> None:
    """Save ``count`` live-room messages at ``rate`` per second, open loop; write, per save, the
    moment its UPDATE returned (autocommit: committed) and how long ``save()`` took, in ms."""
    from django.db import connection

    from tests.bench_peers.chat.models import Message

    messages = list(Message.objects.filter(room_id=LIVE_ROOM).order_by("id")[:count])
    for message in messages[-5:]:
        message.save()  # warm-up: connection, query compilation, the peer's own first calls
    committed: list[float] = []

    def timed(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        result = execute(sql, *args)
        if sql.startswith('UPDATE "peerchat_message"'):
            committed.append(time.monotonic())  # the statement autocommits: it has committed
        return result

    commits: dict[int, float] = {}
    save_ms: list[float] = []
    with connection.execute_wrapper(timed):
        next_at = time.monotonic()
        for seq, message in enumerate(messages):
            message.text = f"{prefix}:{seq}"
            started = time.perf_counter()
            message.save()
            save_ms.append((time.perf_counter() - started) * 1000)
            commits[seq] = committed[-1]
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))  # pacing the open-loop load
    result = {"commits": commits, "save_ms": save_ms, "rss_kib": peak_rss_kib()}
    Path(out_path).write_text(json.dumps(result))


def session() -> None:
    """Run one write per line of stdin, answering ``ok`` once it returned (committed)."""
    from django.db.models import Max

    from tests.bench_peers.chat.models import Author, Message

    for line in sys.stdin:
        command, *args = line.split()
        if command == "update":  # QuerySet.update(): no signals
            Message.objects.filter(room_id=LIVE_ROOM, id__lte=LIVE_MESSAGES).update(text=args[0])
        elif command == "bulk_create":  # no signals on PostgreSQL either
            last = Message.objects.aggregate(last=Max("id"))["last"]
            Message.objects.bulk_create(
                Message(room_id=LIVE_ROOM, author_id=i % 100 + 1, text=f"{args[0]}:{i}")
                for i in range(int(args[1]))
            )
            assert Message.objects.filter(id__gt=last, text__startswith=args[0]).exists()
        elif command == "m2m_add":  # m2m_changed, not post_save
            Message.objects.get(id=int(args[0])).likes.add(Author.objects.get(id=int(args[1])))
        elif command == "save":  # the fence: a plain save() every peer captures
            message = Message.objects.get(id=MARKED)
            message.text = args[0]
            message.save()
        else:
            raise ValueError(f"unknown command {command!r}")
        print("ok", flush=True)


def cold(room: int) -> None:
    """RxDjango's own ``ContextChannel.clear_cache``: the room's next load is a cold one."""
    from tests.bench_peers.sites.rxdjango_site.channels import RoomChannel

    asyncio.run(RoomChannel.clear_cache(room))


def peak_rss_kib() -> int:
    """This process's peak resident set (``VmHWM``), in KiB."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0])


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    if command == "paced":
        paced(args[0], int(args[1]), float(args[2]), args[3])
    elif command == "session":
        session()
    elif command == "cold":
        cold(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

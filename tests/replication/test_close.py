"""Closing a stream from another thread than the one reading it (issue 17, item 1)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from replication import Tick
from rxcdc.testing.waiting import wait_until


def _waiting_in_select(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "_wait":
            return True
        frame = frame.f_back
    return False


def test_close_from_another_thread_ends_the_reader_before_closing_its_connections(
    db, slot, open_stream
):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    # No ticks, no heartbeats: the reader waits in select() for the 10 s status interval.
    stream = open_stream(idle_tick=None, status_interval=10.0)
    events = iter(stream)
    db.execute("INSERT INTO t VALUES (1)")
    next(events)  # connected, one transaction read
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            outcome["events"] = [e for e in events if not isinstance(e, Tick)]
        except BaseException as exc:  # what a descriptor closed under it would raise
            outcome["error"] = exc

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: _waiting_in_select(reader), "the reader waits for the server")
    stream.close()
    # close() woke the reader and let it leave before closing what it was waiting on.
    reader.join(2)
    assert not reader.is_alive()
    assert outcome == {"events": []}

"""Statements sent together: queued, then sent as one multi-statement query (one round trip).

Django's psycopg cursors bind parameters client-side (unless ``server_side_binding`` is set), so
several statements can travel in one simple query and come back as one result set each. With
server-side binding they are sent one after the other, in the same order. Either way a statement
runs after every statement queued before it, on the same session: the visibility check
(``rxcdc.visibility``) relies on that order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connections

__all__ = ["Batch", "current", "together"]

Rows = list[tuple[Any, ...]]


class Batch:
    """Statements for one database alias, sent together at the first fetch of any of them."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.queued: list[tuple[int, str, Sequence[Any]]] = []  # (slot, SQL, parameters)
        self.results: list[Rows | None] = []  # per slot, once sent
        self.round_trips = 0

    def add(self, sql: str, params: Sequence[Any]) -> Callable[[], Rows]:
        """Queue a statement (``%s`` placeholders); the callable gives its rows, sending first."""
        slot = len(self.results)
        self.results.append(None)
        self.queued.append((slot, sql, params))

        def rows() -> Rows:
            if self.results[slot] is None:
                self.send()
            found = self.results[slot]
            if found is None:  # an earlier send raised before answering this statement
                raise RuntimeError("the batch failed before this statement was answered")
            return found

        return rows

    def send(self) -> None:
        """Send what is queued now (a query about to run outside the batch must come after it).

        Raises what the database raises; the statements queued are dropped then.
        """
        queued, self.queued = self.queued, []
        if not queued:
            return
        with connections[self.alias].cursor() as cur:
            self.round_trips += 1
            if len(queued) > 1 and isinstance(cur.cursor, psycopg.ClientCursor):
                sql = "; ".join(statement for _slot, statement, _params in queued)
                cur.execute(sql, [p for _slot, _sql, params in queued for p in params])
                for index, (slot, _sql, _params) in enumerate(queued):
                    if index:
                        cur.nextset()
                    self.results[slot] = cur.fetchall()
                return
            for slot, statement, params in queued:
                cur.execute(statement, params)
                self.results[slot] = cur.fetchall()


_local = threading.local()


def current(alias: str) -> Batch | None:
    """The batch open for ``alias`` in this thread, if any."""
    batches: dict[str, Batch] | None = getattr(_local, "batches", None)
    return None if batches is None else batches.get(alias)


@contextmanager
def together(alias: str) -> Iterator[Batch]:
    """Queue the statements ``rxcdc.compiled`` sends on ``alias`` within the block (this thread).

    Inside a block already open for ``alias`` the statements join its batch, after what it
    queued; a block for another alias leaves that batch open (one batch per alias).
    """
    batches: dict[str, Batch] = _local.__dict__.setdefault("batches", {})
    outer = batches.get(alias)
    if outer is not None:
        yield outer
        return
    batch = batches[alias] = Batch(alias)
    try:
        yield batch
    finally:
        del batches[alias]

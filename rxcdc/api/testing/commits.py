"""Catch the observer worker up after every commit of the test process, in the committing thread.

A test that saves a row and then reads its socket finds the observer's message already sent,
as with DCRF's signals: no sleeps, no polling in the test.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["CommitHook"]

# Statements that change no rows; anything else may (DDL included: catching up is harmless).
_READS = ("SELECT", "SHOW", "SET", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "START", "EXPLAIN")


class CommitHook:
    """An execute wrapper on every connection: after a committed write, ``catch_up()``.

    Autocommitted statements catch up at once; writes inside ``atomic`` register one
    ``on_commit`` callback per transaction (a rolled-back one never sends anything).
    """

    def __init__(self, catch_up: Callable[[], Any]) -> None:
        self.catch_up = catch_up
        self._local = threading.local()  # re-entrance guard: catching up runs queries too
        self._wrapped: weakref.WeakSet[Any] = weakref.WeakSet()

    def install(self) -> None:
        """Wrap every connection, in every thread, from its next cursor on."""
        # Connections live per thread (and asgiref context): one another thread opened before
        # this call (sync_to_async's executor thread, kept open by an earlier test) never sends
        # ``connection_created`` again and is out of reach here, so every cursor wraps its
        # connection on the way out instead.
        _hooks.append(self)
        if len(_hooks) == 1:
            BaseDatabaseWrapper._cursor = _hooked_cursor
        for conn in connections.all(initialized_only=True):
            self._wrap(conn)

    def uninstall(self) -> None:
        """Stop catching up."""
        if self in _hooks:
            _hooks.remove(self)
        if not _hooks:
            BaseDatabaseWrapper._cursor = _original_cursor
        for conn in list(self._wrapped):
            if self in conn.execute_wrappers:
                conn.execute_wrappers.remove(self)
        self._wrapped = weakref.WeakSet()

    def _wrap(self, conn: Any) -> None:
        if self not in conn.execute_wrappers:
            conn.execute_wrappers.append(self)
            self._wrapped.add(conn)

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        result = execute(sql, params, many, context)
        if getattr(self._local, "busy", False) or _reads(sql):
            return result
        conn = context["connection"]
        if conn.in_atomic_block:
            if not any(func is self._after_commit for _, func, _ in conn.run_on_commit):
                conn.on_commit(self._after_commit)
        elif conn.get_autocommit():
            self._after_commit()
        return result

    def _after_commit(self) -> None:
        self._local.busy = True
        try:
            self.catch_up()
        finally:
            self._local.busy = False


_hooks: list[CommitHook] = []  # installed, in order
_original_cursor = BaseDatabaseWrapper._cursor


def _hooked_cursor(self: BaseDatabaseWrapper, name: Any = None) -> Any:
    for hook in _hooks:
        hook._wrap(self)
    return _original_cursor(self, name)


def _reads(sql: Any) -> bool:
    head = str(sql).lstrip().split(None, 1)
    return bool(head) and head[0].upper() in _READS

"""Read a transaction's rows only once its commit is visible to queries.

The WAL sender can decode a commit before the committing backend has left the proc array: a
query at that moment does not see the transaction yet, and re-reading its rows would return the
old values. Re-read only once it is visible.

Almost always it already is: ``VisibilityGate`` sends the check in one round trip with the
first layer's queries (``rxcdc.together``) and reads again only when the check says no.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django.db import connections, router

from rxcdc.conf import rx_settings
from rxcdc.layers import Layer
from rxcdc.serialize import Row
from rxcdc.state import Loader
from rxcdc.together import together

__all__ = ["VisibilityGate", "wait_until_visible"]

# wal2json gives 32-bit xids; pg_visible_in_snapshot wants an xid8, so take the epoch from the
# snapshot's xmax (one less when the xid is above xmax's low bits: it wrapped before xmax).
_VISIBLE = """
WITH s AS (SELECT pg_current_snapshot() AS snap),
     x AS (SELECT pg_snapshot_xmax(snap)::text::bigint AS xmax FROM s)
SELECT bool_and(pg_visible_in_snapshot(
    ((((xmax >> 32) - CASE WHEN xid > (xmax & 4294967295) THEN 1 ELSE 0 END) << 32)
     | xid)::text::xid8,
    snap))
FROM s, x, unnest(%s::bigint[]) AS xid
"""


def wait_until_visible(xids: int | Iterable[int], timeout: float = 10.0) -> bool:
    """Poll (about every millisecond) until every one of ``xids`` is visible (one query each).

    Returns False if they did not all become visible within ``timeout`` seconds.
    """
    wanted = [xids] if isinstance(xids, int) else list(xids)
    if not wanted:
        return True
    deadline = time.monotonic() + timeout
    with connections[rx_settings.DATABASE].cursor() as cur:
        while True:
            cur.execute(_VISIBLE, [wanted])
            row = cur.fetchone()
            if row is None or row[0] is not False:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)  # the window is the commit's last microseconds


class VisibilityGate:
    """Holds the transactions whose rows are about to be read until a read proves them visible.

    ``expect(xids)`` before a refresh; the first query of ``loader(load)`` then carries the
    check. ``settle()`` waits for them (one query, as ``wait_until_visible``) if no read did.
    """

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.rereads = 0  # first reads that ran before the commit was visible (read again)

    def expect(self, xids: Iterable[int]) -> None:
        """The next read must see these transactions (32-bit xids, as wal2json gives them)."""
        self.pending = list(xids)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the expected transactions are visible, unless a read already proved it."""
        if self.pending:
            xids, self.pending = self.pending, []
            wait_until_visible(xids, timeout)

    def loader(self, load: Loader) -> Loader:
        """``load``, whose first call after ``expect`` sends the check with its first query."""

        def gated(layer: Layer, pks: Iterable[Any]) -> dict[Any, Row]:
            if not self.pending:
                return load(layer, pks)
            wanted = list(pks)
            if router.db_for_read(layer.model) != rx_settings.DATABASE:
                self.settle()  # another connection: its query is not ordered after the check
                return load(layer, wanted)
            xids, self.pending = self.pending, []
            try:
                # Sent together with the layer's queries, ahead of them, on one session: each
                # statement's snapshot is no older than the one before, so if the check sees
                # the commit, so do the queries after it.
                with together(rx_settings.DATABASE) as batch:
                    checked = batch.add(_VISIBLE, [xids])
                    rows = load(layer, wanted)
                    answer = checked()
            except BaseException:
                # Whatever failed, what is retried must not read before the commit either.
                self.pending = xids
                raise
            found = answer[0] if answer else None
            if found is None or found[0] is not False:
                return rows
            self.rereads += 1
            wait_until_visible(xids)
            return load(layer, wanted)

        return gated

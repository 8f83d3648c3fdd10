"""Wait until a transaction decoded from the WAL is visible to queries.

The WAL sender can decode a commit before the committing backend has left the proc array: a
query at that moment does not see the transaction yet, and re-reading its rows would return the
old values. Re-read only once it is visible.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.db import connections

from rxcdc.conf import rx_settings

__all__ = ["wait_until_visible"]

# wal2json gives 32-bit xids; pg_visible_in_snapshot wants an xid8, so take the epoch from the
# snapshot's xmax (one less when the xid is above xmax's low bits: it wrapped before xmax).
_VISIBLE = """
WITH s AS (SELECT pg_current_snapshot() AS snap),
     x AS (SELECT pg_snapshot_xmax(snap)::text::bigint AS xmax FROM s)
SELECT bool_and(pg_visible_in_snapshot(
    ((((xmax >> 32) - CASE WHEN xid > (xmax & 4294967295) THEN 1 ELSE 0 END) << 32)
     | xid)::text::xid8,
    snap))
FROM s, x, unnest(%(xids)s::bigint[]) AS xid
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
            cur.execute(_VISIBLE, {"xids": wanted})
            row = cur.fetchone()
            if row is None or row[0] is not False:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)  # the window is the commit's last microseconds

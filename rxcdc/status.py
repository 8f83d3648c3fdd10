"""``rx_replicate --status``: the slot, its worker and the cache at a glance.

Everything is read from the services (Postgres, Redis, MongoDB), never from a worker's memory,
so it answers for a worker running anywhere, or for none.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pymongo
import redis

from replication.changes import format_lsn
from replication.leader import Holder, lock_holder
from replication.slot import SlotStatus, slot_status
from rxcdc import conf
from rxcdc.cache import Cache
from rxcdc.conf import rx_settings
from rxcdc.heat import WORKER_KEY

__all__ = ["NOT_STREAMING", "STREAMING", "UNKNOWN", "Report", "report"]

STREAMING, NOT_STREAMING, UNKNOWN = 0, 1, 2  # the command's exit status
TIMEOUT = 3.0  # seconds to wait for each service before saying it cannot be reached


@dataclass
class Report:
    """What ``--status`` prints (``lines``, then ``verdict``) and its exit status (``code``)."""

    lines: list[str] = field(default_factory=list)
    code: int = STREAMING
    verdict: str = ""


def report() -> Report:
    """Read the slot, the lease, the worker's presence key and the cache; judge them.

    ``code``: ``STREAMING`` (0) when a worker streams the slot and announces itself,
    ``NOT_STREAMING`` (1) when none does (or the slot is lost), ``UNKNOWN`` (2) when a
    service could not be reached.
    """
    out = Report()
    problems: list[str] = []
    unreachable: list[str] = []
    slot = rx_settings.SLOT_NAME
    try:
        status, holder, sender = _postgres(slot)
    except Exception as exc:
        unreachable.append("PostgreSQL")
        out.lines.append(f"slot {slot}: cannot read it ({_first_line(exc)})")
    else:
        out.lines += _slot_lines(status, sender)
        out.lines.append(_lease_line(holder))
        if not status.exists:
            problems.append(f"slot {slot!r} does not exist: no worker has streamed it yet")
        elif status.wal_status == "lost":
            problems.append(f"slot {slot!r} is lost (docs/deployment.md, 'Runbook: a lost slot')")
        elif not status.active:
            problems.append(f"no worker streams slot {slot!r}")
    try:
        out.lines.append(_presence_line())
    except redis.RedisError as exc:
        unreachable.append("Redis")
        out.lines.append(f"worker: cannot read {WORKER_KEY} ({_first_line(exc)})")
    else:
        if out.lines[-1].startswith("worker: absent"):
            problems.append(f"no worker announces itself ({WORKER_KEY}): consumers say it is down")
    try:
        out.lines += _cache_lines()
    except pymongo.errors.PyMongoError as exc:
        unreachable.append("MongoDB")
        out.lines.append(f"cache: cannot read it ({_first_line(exc)})")
    if unreachable:
        out.code, out.verdict = UNKNOWN, f"unknown: cannot reach {', '.join(unreachable)}"
    elif problems:
        out.code, out.verdict = NOT_STREAMING, "; ".join(problems)
    else:
        out.verdict = "streaming"
    return out


def _postgres(slot: str) -> tuple[SlotStatus, Holder | None, tuple[Any, ...] | None]:
    """The slot, its lock's holder and its walsender's (flush lag s, seconds since feedback)."""
    dsn = f"{conf.replication_dsn()} connect_timeout={int(TIMEOUT)}"
    status = slot_status(dsn, slot)
    holder = lock_holder(dsn, slot)
    sender = None
    if status.active_pid is not None:
        conn = psycopg2.connect(dsn)
        try:
            with conn.cursor() as cur:
                # flush_lag: WAL written → confirmed by the worker (NULL once idle, caught up).
                cur.execute(
                    "SELECT extract(epoch FROM flush_lag), extract(epoch FROM now() - reply_time)"
                    " FROM pg_stat_replication WHERE pid = %s",
                    (status.active_pid,),
                )
                sender = cur.fetchone()
        finally:
            conn.close()
    return status, holder, sender


def _slot_lines(status: SlotStatus, sender: tuple[Any, ...] | None) -> list[str]:
    if not status.exists:
        return [f"slot {status.name}: does not exist"]
    state = f"active (walsender pid {status.active_pid})" if status.active else "inactive"
    confirmed = status.confirmed_flush_lsn or 0
    lines = [
        f"slot {status.name} ({status.plugin}, database {status.database}): {state}, "
        f"wal_status {status.wal_status}",
        f"  confirmed flush {format_lsn(confirmed)}, "
        f"restart {format_lsn(status.restart_lsn or 0)}, "
        f"server at {format_lsn(confirmed + (status.lag_bytes or 0))}",
    ]
    lag = "lag "
    if sender is None:
        lag += "- s (not streaming)"
    elif sender[0] is None:
        lag += "0 s (caught up)"
    else:
        lag += f"{float(sender[0]):.3f} s"
    safe = "unlimited" if status.safe_wal_size is None else _size(status.safe_wal_size)
    lines.append(
        f"  {lag}, {_size(status.lag_bytes or 0)} behind; retained WAL "
        f"{_size(status.retained_bytes or 0)}; safe WAL size {safe}"
        + (f"; last feedback {float(sender[1]):.1f} s ago" if sender and sender[1] else "")
    )
    return lines


def _lease_line(holder: Holder | None) -> str:
    if holder is None:
        return "lease: free (no worker holds the slot's lock)"
    if holder.state is None:  # pg_stat_activity hides other roles' sessions' state
        renewed = "at a time this database role may not see"
    elif holder.idle is None:
        renewed = "now (in a query)"
    else:
        renewed = f"{holder.idle:.1f} s ago"
    return f"lease: held by {holder.name!r} (backend {holder.pid}), renewed {renewed}"


def _presence_line() -> str:
    client = redis.Redis.from_url(
        conf.redis_url(), socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
    )
    try:
        pipe = client.pipeline(transaction=False)
        pipe.get(WORKER_KEY)
        pipe.pttl(WORKER_KEY)
        pid, ttl = pipe.execute()
    finally:
        client.close()
    if pid is None:
        return f"worker: absent ({WORKER_KEY} is not set)"
    return f"worker: alive ({WORKER_KEY}: pid {pid.decode()}, expires in {ttl / 1000:.1f} s)"


def _cache_lines() -> list[str]:
    cache = Cache(conf.mongo_url(), rx_settings.MONGO_DB, timeout=TIMEOUT)
    try:
        hot = collections.Counter(m["channel"] for m in cache.hot_anchors())
        broken = cache.quarantined()
    finally:
        cache.client.close()
    per_channel = ", ".join(f"{label} {n}" for label, n in sorted(hot.items()))
    lines = [
        f"cache: {sum(hot.values())} hot anchors"
        + (f" ({per_channel})" if per_channel else "")
        + f", {len(broken)} quarantined"
    ]
    for doc in broken[:20]:  # at a glance: the first few, each with why
        lines.append(f"  quarantined {doc['channel']} {doc['anchor']}: {doc.get('reason', '?')}")
    if len(broken) > 20:
        lines.append(f"  … and {len(broken) - 20} more (rx_meta, state 'broken')")
    return lines


def _size(n: int) -> str:
    """Bytes for a reader: 512 B, 3.4 kB, 1.2 MB (decimal units)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]

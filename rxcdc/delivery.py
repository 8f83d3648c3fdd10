"""Delivering a chunk's deltas: the cache first, then one message per anchor, then the sinks'.

The cache is written before anything is published: a client is never ahead of the cache, so a
worker restarted after a crash (which diffs against the cache) cannot leave a client holding
what the cache never got. Parts of a transaction count 0, 1, 2, ... per anchor, and each update
names the last transaction its anchor got whole (``prev_lsn``), so consumers notice a gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rxcdc import frames
from rxcdc.cache import Cache
from rxcdc.fanout import Publisher, anchor_group, channel_group, update_message
from rxcdc.isolation import TRANSIENT
from rxcdc.serialize import jsonable
from rxcdc.state import AnchorKey, Delta

__all__ = ["Delivery"]

log = logging.getLogger("rxcdc.worker")

Message = tuple[str, Mapping[str, Any]]  # (group, message)


class Delivery:
    """Writes and publishes deltas; reports an anchor whose write or message fails to ``fault``."""

    def __init__(
        self,
        cache: Cache,
        publisher: Publisher,
        fault: Callable[[AnchorKey, BaseException], None],
        timings: dict[str, float],
    ) -> None:
        self.cache, self.publisher, self.fault, self.timings = cache, publisher, fault, timings
        self.parts: dict[AnchorKey, int] = {}  # anchors sent a part of this transaction → next
        self.chain: dict[AnchorKey, int] = {}  # the last LSN each anchor got whole
        self.skipped = 0  # sink messages the channel layer refused (logged)

    def begin(self) -> None:
        """A new transaction starts: its parts count from 0 again."""
        self.parts.clear()

    def forget(self, key: AnchorKey) -> None:
        """An anchor was cooled or quarantined: its next update starts a new chain."""
        self.parts.pop(key, None)
        self.chain.pop(key, None)

    def deliver(
        self,
        deltas: dict[AnchorKey, Delta],
        lsn: int,
        last: bool,
        *,
        resets: set[AnchorKey],
        created: set[AnchorKey],
        extra: Sequence[Message],
        skip: Callable[[AnchorKey], bool],
    ) -> None:
        """Deliver one chunk (``last``: the transaction's final one) committed at ``lsn``.

        Anchors for which ``skip`` is true (quarantined) get nothing. Idempotent as a unit
        (LSN-guarded writes), so it may be retried after an outage.
        """
        started = time.perf_counter()
        writes: dict[str, dict[Any, Delta]] = {}
        keyed: list[tuple[AnchorKey, frames.UpdateMessage | frames.ResetMessage]] = []
        for key, delta in deltas.items():
            if skip(key) or not (delta or key in resets or (last and key in self.parts)):
                continue
            writes.setdefault(key[0], {})[key[1]] = delta
            keyed.append((key, self._message(key, lsn, delta, last, reset=key in resets)))
        if last:  # every anchor that got a part gets its final one, empty if need be
            for key in set(self.parts) - set(deltas):
                if not skip(key):
                    keyed.append((key, self._message(key, lsn, Delta(), True)))
        built = time.perf_counter()
        for label, by_anchor in writes.items():
            self._write(label, by_anchor, lsn)
        written = time.perf_counter()
        keyed = [(key, m) for key, m in keyed if not skip(key)]  # a write may have failed
        messages = [(anchor_group(*key), m) for key, m in keyed]
        for index, exc in self.publisher.group_send(messages):
            self.fault(keyed[index][0], exc)
        self.publisher.group_send([_created(label, anchor, lsn) for label, anchor in created])
        # Sinks' messages in order (an observer's group moves depend on it); one that the layer
        # refuses is logged and skipped, never a reason to stop.
        for index, exc in self.publisher.group_send(extra, ordered=True):
            self.skipped += 1
            log.error("the channel layer refused a sink message to %s: %s", extra[index][0], exc)
        self.timings["publish"] += built - started + time.perf_counter() - written

    def _message(
        self, key: AnchorKey, lsn: int, delta: Delta, last: bool, *, reset: bool = False
    ) -> frames.UpdateMessage | frames.ResetMessage:
        if reset:
            return frames.rx_reset(key[0], jsonable(key[1]), lsn)
        part = self.parts.get(key, 0)
        self.parts[key] = part + 1
        msg = update_message(*key, lsn, delta, part=part, last=last)
        # Consumers compare it with the last transaction they relayed whole: a higher one means
        # a message was lost (the channel layer dropped it, or a worker restarted in the middle
        # of a transaction whose first parts it had written and sent).
        msg["prev_lsn"] = self.chain.get(key)
        if last:
            self.chain[key] = lsn
        return msg

    def _write(self, label: str, by_anchor: dict[Any, Delta], lsn: int) -> None:
        """One bulk write per channel; after a fault, anchor by anchor to isolate it.

        Times the documents' building (``timings["documents"]``, seconds) apart from the write
        itself (``timings["cache"]``: pymongo and the server).
        """
        started = time.perf_counter()
        try:
            docs = self.cache.documents(by_anchor, lsn)
            built = time.perf_counter()
            self.cache.write_documents(label, docs, lsn)
            written = time.perf_counter()
            self.timings["documents"] += built - started
            self.timings["cache"] += written - built
            return
        except TRANSIENT:
            raise
        except Exception:
            log.info("a cache write of %s failed; writing anchor by anchor", label)
        for anchor, delta in by_anchor.items():
            try:
                self.cache.write_many(label, {anchor: delta}, lsn)
            except TRANSIENT:
                raise
            except Exception as exc:
                self.fault((label, anchor), exc)
        self.timings["cache"] += time.perf_counter() - started


def _created(label: str, anchor: Any, lsn: int) -> Message:
    return (
        channel_group(label),
        frames.rx_anchor_created(label, jsonable(anchor), lsn),
    )

"""The groups each observed row was last sent to, kept in MongoDB so restarts keep routing.

One document per (observer, row) in ``rx_api_groups``: ``g`` the row's groups, ``p`` the groups
before the change at ``at`` (the change's WAL position), ``tx`` that transaction's commit LSN. A
transaction delivered again after a crash finds ``at`` equal to its change and diffs against
``p`` again, so it sends the same deletes and creates. Rows in no group need no document once
their observer is seeded; documents of deleted rows are purged after their transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pymongo
from pymongo.collection import Collection

__all__ = ["COLLECTION", "GroupState"]

COLLECTION = "rx_api_groups"
Doc = dict[str, Any]


class GroupState:
    """Groups of observed rows, per observer state id (observer id + group function digest)."""

    def __init__(self, collection: Collection[Doc]) -> None:
        self.coll = collection

    def ensure_indexes(self) -> None:
        """Indexes for re-seeding, TRUNCATE and purging (lookups by row use ``_id``)."""
        self.coll.create_index([("o", 1)])
        self.coll.create_index([("s", 1), ("n", 1)])
        self.coll.create_index([("n", 1), ("tx", 1)])

    @staticmethod
    def key(sid: str, pk: Any) -> str:
        """Document id of one row."""
        return f"{sid}|{pk}"

    def seeded(self, sid: str) -> bool:
        """Whether the rows of ``sid`` were loaded."""
        return self.coll.find_one({"_id": f"seed:{sid}"}, {"_id": 1}) is not None

    def seed(self, oid: str, sid: str, rows: Iterable[tuple[Any, list[str]]]) -> int:
        """Replace every document of observer ``oid`` with these rows' groups; mark ``sid``."""
        self.coll.delete_many({"o": oid})
        count, batch = 0, []
        for pk, groups in rows:
            if groups:
                batch.append(self._doc(oid, sid, pk, groups, [], 0, 0))
            if len(batch) >= 1000:
                count += self._insert(batch)
                batch = []
        count += self._insert(batch)
        self.coll.replace_one({"_id": f"seed:{sid}"}, {"_id": f"seed:{sid}", "o": oid}, upsert=True)
        return count

    def _insert(self, batch: list[Doc]) -> int:
        if batch:
            self.coll.insert_many(batch, ordered=False)
        return len(batch)

    def load(self, sid: str, pks: Iterable[Any]) -> dict[Any, Doc]:
        """Documents of these rows, by pk (absent: the row is in no group)."""
        ids = [self.key(sid, pk) for pk in pks]
        if not ids:
            return {}
        return {d["pk"]: d for d in self.coll.find({"_id": {"$in": ids}})}

    def truncated(self, sid: str, lsn: int) -> Iterator[Doc]:
        """Rows a TRUNCATE at ``lsn`` removes: those in some group, or removed by it already."""
        yield from self.coll.find({"s": sid, "n": {"$gt": 0}})
        yield from self.coll.find({"s": sid, "n": 0, "at": lsn})

    def save(
        self, oid: str, sid: str, rows: list[tuple[Any, list[str], list[str], int, int]]
    ) -> None:
        """Write ``(pk, groups, previous groups, change LSN, commit LSN)`` rows."""
        if rows:
            self.coll.bulk_write(
                [
                    pymongo.ReplaceOne(
                        {"_id": self.key(sid, pk)},
                        self._doc(oid, sid, pk, g, p, at, tx),
                        upsert=True,
                    )
                    for pk, g, p, at, tx in rows
                ],
                ordered=False,
            )

    def purge(self, before_tx: int) -> int:
        """Drop documents of rows that left every group in transactions before ``before_tx``."""
        return self.coll.delete_many({"n": 0, "tx": {"$lt": before_tx}}).deleted_count

    def _doc(
        self, oid: str, sid: str, pk: Any, g: list[str], p: list[str], at: int, tx: int
    ) -> Doc:
        return {
            "_id": self.key(sid, pk),
            "o": oid,
            "s": sid,
            "pk": pk,
            "g": g,
            "n": len(g),
            "p": p,
            "at": at,
            "tx": tx,
        }

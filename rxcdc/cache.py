"""The MongoDB cache of flat instances: LSN-guarded writes, tombstones, per-anchor meta.

One collection per channel; document ``_id`` is ``"<anchor>:<type>:<pk>"``. A document is never
overwritten by an older (or equal) ``_lsn``: replaying a transaction changes nothing.
"""

from __future__ import annotations

import json
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError
from pymongo.operations import InsertOne, ReplaceOne

from rxcdc.isolation import Failure
from rxcdc.layers import Layer, StateModel
from rxcdc.serialize import Row, jsonable, jsonable_ids
from rxcdc.state import Delta

__all__ = ["Cache", "collection_name", "doc_id"]

Doc = dict[str, Any]
_DUPLICATE_KEY = 11000
# The document layout's version: a cache written by another layout is cleared at start.
# 2: flat fields as JSON text under "json" (was a BSON document under "data"); owners lists.
FORMAT = 2


def collection_name(label: str) -> str:
    """``"chat.ChatRoomChannel"`` → ``"rx_chat_chatroomchannel"``."""
    return "rx_" + label.replace(".", "_").lower()


def doc_id(anchor: Any, type_key: str, pk: Any) -> str:
    """The cache ``_id`` of one flat instance of one anchor."""
    return f"{jsonable(anchor)}:{type_key}:{jsonable(pk)}"


def meta_id(label: str, anchor: Any) -> str:
    """The ``_id`` of an anchor's meta document (``rx_meta``): its state and load LSN."""
    return f"{label}:{jsonable(anchor)}"


class Cache:
    """Flat instances of hot anchors in MongoDB. Only the worker writes."""

    def __init__(
        self,
        url: str,
        dbname: str,
        client: pymongo.MongoClient[Doc] | None = None,
        *,
        timeout: float = 5.0,
    ):
        """``timeout``: seconds to wait for a server before an operation fails."""
        self.client: pymongo.MongoClient[Doc] = client or pymongo.MongoClient(
            url, serverSelectionTimeoutMS=int(timeout * 1000), tz_aware=True
        )
        self.db = self.client[dbname]
        self.meta: Collection[Doc] = self.db["rx_meta"]

    def collection(self, label: str) -> Collection[Doc]:
        """The collection holding one channel's instances."""
        return self.db[collection_name(label)]

    def ensure_format(self) -> int:
        """Clear a cache written in another document layout; returns the anchors cleared."""
        marker = self.db["rx_format"]
        found = marker.find_one({"_id": "layout"})
        if found is not None and found.get("version") == FORMAT:
            return 0
        cleared = self.clear()
        marker.replace_one({"_id": "layout"}, {"_id": "layout", "version": FORMAT}, upsert=True)
        return cleared

    def generation(self) -> str | None:
        """The marker of the cache the worker wrote; None when no worker vouches for it.

        None means the server lost its data (it restarted empty, or was replaced) and the
        worker has not rebuilt it yet: nothing read from it may be served as a snapshot. A new
        value means everything was rebuilt and clients were sent ``rx.reset``.
        """
        found = self.db["rx_format"].find_one({"_id": "generation"})
        return str(found["value"]) if found is not None else None

    def new_generation(self) -> str:
        """Write a new generation marker (once the cache holds what the worker wrote)."""
        value = uuid.uuid4().hex
        doc = {"_id": "generation", "value": value, "at": time.time()}
        self.db["rx_format"].replace_one({"_id": "generation"}, doc, upsert=True)
        return value

    def wipe(self, labels: Iterable[str]) -> None:
        """Remove every document of these channels and every meta, markers included."""
        for label in labels:
            self.collection(label).delete_many({})
        self.meta.delete_many({})
        self.db["rx_format"].delete_many({})

    def ensure_indexes(self, labels: Iterable[str]) -> None:
        """Index the anchor and LSN fields that snapshot and resume queries use."""
        for label in labels:
            self.collection(label).create_index([("a", 1), ("_lsn", 1)])

    # -- writes -------------------------------------------------------------------------------

    def write(self, label: str, anchor: Any, lsn: int, delta: Delta) -> int:
        """Write a delta stamped ``lsn``; documents already at ``lsn`` or newer are kept."""
        return self.write_many(label, {anchor: delta}, lsn)

    def write_many(self, label: str, deltas: dict[Any, Delta], lsn: int) -> int:
        """Write several anchors' deltas of one channel in one round trip (plus one read)."""
        return self.write_documents(label, self.documents(deltas, lsn), lsn)

    def documents(self, deltas: dict[Any, Delta], lsn: int) -> dict[str, Doc]:
        """The documents that store several anchors' deltas stamped ``lsn``, by ``_id``."""
        docs: dict[str, Doc] = {}
        for anchor, delta in deltas.items():
            docs.update(self._delta_docs(anchor, delta, lsn))
        return docs

    def write_documents(self, label: str, docs: dict[str, Doc], lsn: int) -> int:
        """Write ``documents()`` of one channel: each replaces one older than ``lsn``, or is new.

        Returns how many were written; raises what pymongo raises (duplicate keys excepted: a
        newer writer got there first).
        """
        return self._guarded_write(self.collection(label), docs, lsn)

    def _delta_docs(self, anchor: Any, delta: Delta, lsn: int) -> dict[str, Doc]:
        docs: dict[str, Doc] = {}
        safe = jsonable(anchor)
        for (type_key, _pk), row in delta.upserts.items():
            doc = self._doc(safe, type_key, lsn, row)
            docs[doc["_id"]] = doc
        for (type_key, pk), user in delta.tombstones.items():
            docs[doc_id(anchor, type_key, pk)] = {
                "_id": doc_id(anchor, type_key, pk),
                "a": jsonable(anchor),
                "t": type_key,
                "pk": jsonable(pk),
                "_lsn": lsn,
                "u": jsonable(user),
                "del": True,
            }
        return docs

    def rewrite(self, label: str, anchor: Any, lsn: int, delta: Delta) -> None:
        """Replace an anchor's documents with ``delta`` stamped ``lsn``, whatever they held."""
        coll = self.collection(label)
        safe = jsonable(anchor)
        docs = {
            doc["_id"]: doc
            for doc in (self._doc(safe, t, lsn, r) for (t, _pk), r in delta.upserts.items())
        }
        existing = {d["_id"] for d in coll.find({"_id": {"$in": list(docs)}}, {"_id": 1})}
        ops: list[InsertOne[Doc] | ReplaceOne[Doc]] = [
            ReplaceOne({"_id": key}, doc) if key in existing else InsertOne(doc)
            for key, doc in docs.items()
        ]
        if ops:
            coll.bulk_write(ops, ordered=False)
        self.tombstone_missing(label, anchor, set(docs), lsn)

    def _guarded_write(self, coll: Collection[Doc], docs: dict[str, Doc], lsn: int) -> int:
        if not docs:
            return 0
        # Fast path, one round trip: the documents usually exist with an older _lsn.
        guarded = [ReplaceOne({"_id": key, "_lsn": {"$lt": lsn}}, doc) for key, doc in docs.items()]
        if coll.bulk_write(guarded, ordered=False).matched_count == len(docs):
            return len(docs)
        # Otherwise guarded replace for documents that exist, plain insert for the rest; a
        # duplicate key on insert means a newer writer got there first (MongoDB and nx-27017
        # agree on this, unlike on guarded upserts).
        existing = {
            d["_id"]: d["_lsn"] for d in coll.find({"_id": {"$in": list(docs)}}, {"_lsn": 1})
        }
        ops: list[InsertOne[Doc] | ReplaceOne[Doc]] = []
        for key, doc in docs.items():
            if key not in existing:
                ops.append(InsertOne(doc))
            elif existing[key] < lsn:
                ops.append(ReplaceOne({"_id": key, "_lsn": {"$lt": lsn}}, doc))
        if not ops:
            return 0
        try:
            coll.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
        return len(ops)

    @staticmethod
    def _doc(anchor: Any, type_key: str, lsn: int, row: Row) -> Doc:
        """The document of one row; ``anchor`` already JSON-safe (one per anchor, not row)."""
        pk = jsonable(row.pk)
        return {
            "_id": doc_id(anchor, type_key, pk),
            "a": anchor,
            "t": type_key,
            "pk": pk,
            "_lsn": lsn,
            "u": jsonable(row.user),
            "del": False,
            "json": row.text,  # JSON text: BSON has no integers past 64 bits
            "links": jsonable_ids(row.links),
            "through": jsonable_ids(row.through),
            "pfk": jsonable(row.parent_fk),
            "ord": list(row.order),
            "own": jsonable_ids(row.owners),
            "fu": jsonable(row.former),
            "vw": jsonable(row.viewers),
        }

    def mark_hot(self, label: str, anchors: list[Any], lsn: int) -> None:
        """Record that these anchors of one channel are hot, loaded at ``lsn``."""
        now = time.time()
        ops = []
        for anchor in anchors:
            key = meta_id(label, anchor)
            # _id repeated in the replacement: nx-27017 would generate one for the upsert.
            doc = {
                "_id": key,
                "channel": label,
                "anchor": jsonable(anchor),
                "state": "hot",
                "lsn": lsn,
                "heated_at": now,
            }
            ops.append(ReplaceOne({"_id": key}, doc, upsert=True))
        if ops:
            self.meta.bulk_write(ops, ordered=False)

    def tombstone_missing(self, label: str, anchor: Any, keep: set[str], lsn: int) -> int:
        """Tombstone every live document of an anchor whose ``_id`` is not in ``keep``."""
        coll = self.collection(label)
        stale = {
            d["_id"]: d
            for d in coll.find({"a": jsonable(anchor), "del": False}, {"t": 1, "pk": 1, "u": 1})
        }
        docs = {
            key: {
                "_id": key,
                "a": jsonable(anchor),
                "t": d["t"],
                "pk": d["pk"],
                "_lsn": lsn,
                "u": d.get("u"),
                "del": True,
            }
            for key, d in stale.items()
            if key not in keep
        }
        for key, doc in docs.items():
            coll.replace_one({"_id": key}, doc)
        return len(docs)

    def cool(self, label: str, anchor: Any) -> None:
        """Remove an anchor's documents and meta."""
        self.collection(label).delete_many({"a": jsonable(anchor)})
        self.meta.delete_one({"_id": meta_id(label, anchor)})

    def clear(self, label: str | None = None, anchor: Any = None) -> int:
        """Remove cached anchors (all, one channel's, or one anchor); returns how many."""
        query: Doc = {}
        if label is not None:
            query["channel"] = label
        if anchor is not None:
            query["anchor"] = jsonable(anchor)
        metas = list(self.meta.find(query))
        for meta in metas:
            self.cool(meta["channel"], meta["anchor"])
        return len(metas)

    # -- reads --------------------------------------------------------------------------------

    def mark_broken(self, label: str, anchor: Any, failure: Failure) -> None:
        """Record a quarantined anchor (its documents go: nobody may read them as current)."""
        self.collection(label).delete_many({"a": jsonable(anchor)})
        key = meta_id(label, anchor)
        doc = {
            "_id": key,
            "channel": label,
            "anchor": jsonable(anchor),
            "state": "broken",
            "table": failure.table,
            "pk": jsonable(failure.pk),
            "reason": failure.reason,
            "broken_at": time.time(),
        }
        self.meta.replace_one({"_id": key}, doc, upsert=True)

    def broken_anchors(self, channels: dict[str, Any]) -> list[tuple[Any, Failure]]:
        """Quarantined anchors of these channels (label → channel class), with their fault."""
        out = []
        for meta in self.meta.find({"state": "broken"}):
            channel = channels.get(meta["channel"])
            if channel is None:
                continue
            anchor = channel.state().root.model._meta.pk.to_python(meta["anchor"])
            failure = Failure(meta.get("table"), meta.get("pk"), meta.get("reason", ""))
            out.append(((meta["channel"], anchor), failure))
        return out

    def hot_anchors(self) -> list[Doc]:
        """Meta documents of every hot anchor."""
        return list(self.meta.find({"state": "hot"}))

    def quarantined(self) -> list[Doc]:
        """Meta documents of every quarantined anchor: ``channel``, ``anchor``, ``reason``."""
        return list(self.meta.find({"state": "broken"}))

    def is_hot(self, label: str, anchor: Any) -> bool:
        """Whether the anchor is hot (loaded and followed by the worker)."""
        return self.meta.count_documents({"_id": meta_id(label, anchor), "state": "hot"}) > 0

    def newest_lsn(self, label: str, anchor: Any, default: int = 0) -> int:
        """The newest ``_lsn`` of the anchor's documents, tombstones included (else ``default``)."""
        return max(
            (d["_lsn"] for d in self.anchor_docs(label, anchor, live_only=False)), default=default
        )

    def holds(self, label: str, anchors: list[Any], type_key: str, pk: Any) -> bool:
        """Whether a live instance ``(type_key, pk)`` is in the state of one of these anchors."""
        ids = [doc_id(a, type_key, pk) for a in anchors]
        return self.collection(label).count_documents({"_id": {"$in": ids}, "del": False}) > 0

    def snapshot(
        self, label: str, anchor: Any, since: int | None = None
    ) -> tuple[str, list[Doc], list[Doc]]:
        """(mode, instances, tombstones) of an anchor, as consumers relay them.

        ``mode`` is ``"delta"`` (what changed after ``since``, tombstones included) when the
        anchor has been hot since before then, else ``"full"`` (every live instance). Instances
        keep their fields as JSON text (``json``) with ``_type``, ``_pk``, ``_lsn`` and the
        privacy fields consumers filter on (``_user``, ``_owners``, ``_former``, ``_viewers``).
        """
        meta = self.meta.find_one({"_id": meta_id(label, anchor)})
        docs: Iterable[Doc]
        if since is not None and meta is not None and meta["lsn"] <= since:
            docs = self.collection(label).find({"a": jsonable(anchor), "_lsn": {"$gt": since}})
            mode = "delta"
        else:
            docs = self.anchor_docs(label, anchor)
            mode = "full"
        instances, tombstones = [], []
        for doc in docs:
            head = {"_type": doc["t"], "_pk": doc["pk"], "_lsn": doc["_lsn"], "_user": doc.get("u")}
            if doc.get("del"):
                tombstones.append(head)
                continue
            instances.append(
                {
                    "json": doc["json"],
                    **head,
                    "_owners": doc.get("own"),
                    "_former": doc.get("fu"),
                    "_viewers": doc.get("vw"),
                }
            )
        return mode, instances, tombstones

    def anchor_docs(self, label: str, anchor: Any, *, live_only: bool = True) -> Iterator[Doc]:
        """Documents of one anchor (without tombstones unless ``live_only=False``)."""
        query: Doc = {"a": jsonable(anchor)}
        if live_only:
            query["del"] = False
        return iter(self.collection(label).find(query))

    def anchors_behind(self, label: str, lsns: dict[Any, int]) -> set[Any]:
        """Anchors (JSON form → LSN) no longer hot, or with a document written after the LSN."""
        if not lsns:
            return set()
        ids = [meta_id(label, a) for a in lsns]
        hot = {m["anchor"] for m in self.meta.find({"_id": {"$in": ids}, "state": "hot"})}
        if not hot:
            return set(lsns)
        # One range from the oldest LSN, filtered here: an ``$or`` of one clause per anchor
        # made the stand-in evaluate every document of the channel in Python (≈ 0.2 s per
        # 10,000), and every transaction behind that check waited for it.
        query = {"a": {"$in": list(hot)}, "_lsn": {"$gt": min(lsns[a] for a in hot)}}
        newer = {
            d["a"]
            for d in self.collection(label).find(query, {"a": 1, "_lsn": 1})
            if d["_lsn"] > lsns[d["a"]]
        }
        return (set(lsns) - hot) | newer

    def restore_docs(
        self, label: str, anchors: list[Any]
    ) -> tuple[dict[Any, list[Doc]], dict[Any, int]]:
        """Several anchors of one channel, in one query: (live documents, newest ``_lsn``).

        Both by JSON anchor; the newest ``_lsn`` counts tombstones too (it is what a client
        may have applied last).
        """
        live: dict[Any, list[Doc]] = {jsonable(a): [] for a in anchors}
        newest: dict[Any, int] = {}
        for doc in self.collection(label).find({"a": {"$in": list(live)}}):
            anchor = doc["a"]
            newest[anchor] = max(newest.get(anchor, 0), doc["_lsn"])
            if not doc.get("del"):
                live[anchor].append(doc)
        return live, newest

    def status(self) -> list[Doc]:
        """Per hot anchor: channel, anchor, LSN, and live document count."""
        out = []
        for meta in self.hot_anchors():
            count = self.collection(meta["channel"]).count_documents(
                {"a": meta["anchor"], "del": False}
            )
            out.append({**meta, "documents": count})
        return out


def row_from_doc(layer: Layer, doc: Doc) -> Row:
    """Rebuild a ``Row`` (with Python pk types) from a cached document."""
    return _DocReader.of(layer).row(doc)


class _DocReader:
    """A layer's pk conversions, looked up once: a restart rebuilds every hot row with them."""

    _readers: weakref.WeakKeyDictionary[Layer, _DocReader] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, layer: Layer) -> _DocReader:
        reader = cls._readers.get(layer)
        if reader is None:
            reader = cls._readers[layer] = cls(layer)
        return reader

    def __init__(self, layer: Layer) -> None:
        self.pk = layer.model._meta.pk.to_python
        self.parent_pk = layer.parent.model._meta.pk.to_python if layer.parent else None
        self.child_pk = {c.field_name or "": c.model._meta.pk.to_python for c in layer.linked}
        self.through_pk = {
            c.field_name or "": c.through_model._meta.pk.to_python
            for c in layer.linked
            if c.through_model is not None
        }

    def row(self, doc: Doc) -> Row:
        child_pk = self.child_pk
        links = {}
        for name, ids in (doc.get("links") or {}).items():
            convert = child_pk.get(name)
            links[name] = [convert(v) for v in ids] if convert else list(ids)
        through = {}
        for name, pairs in (doc.get("through") or {}).items():
            tpk, cpk = self.through_pk.get(name), child_pk.get(name)
            through[name] = [(tpk(t) if tpk else t, cpk(c) if cpk else c) for t, c in pairs]
        text = doc.get("json") or "{}"
        pfk = doc.get("pfk")
        return Row(
            pk=self.pk(doc["pk"]),
            doc=json.loads(text),
            text=text,
            order=tuple(doc.get("ord") or ()),
            owners=doc.get("own") or {},
            former=doc.get("fu") or [],
            viewers=doc.get("vw"),
            links=links,
            through=through,
            user=doc.get("u"),
            parent_fk=self.parent_pk(pfk) if self.parent_pk and pfk is not None else None,
        )


def restore_loader(model: StateModel, docs: Iterable[Doc], database: Any) -> Any:
    """A ``Loader`` that reads rows from cached documents instead of the database.

    Dependency rows are never cached: ``database`` (a ``Loader``) reads those.
    """
    by_key = {(d["t"], d["pk"]): d for d in docs}

    def load(layer: Layer, pks: Iterable[Any]) -> dict[Any, Row]:
        if layer.hidden:
            return dict(database(layer, pks))
        out = {}
        for pk in pks:
            doc = by_key.get((layer.type_key, jsonable(pk)))
            if doc is not None:
                out[pk] = row_from_doc(layer, doc)
        return out

    return load

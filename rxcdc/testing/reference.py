"""A reference protocol client: the state a client holds after a frame sequence, by the doc alone.

It judges rxcdc (DESIGN invariant 14), so it reads nothing of rxcdc's server side: only the rules
of ``docs/protocol.md`` and the shape of DRF serializers (``schema_of``). Frames are dicts decoded
with ``json.loads`` (so big integers stay exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

__all__ = [
    "LOST",
    "MISSING",
    "ROOT",
    "ReferenceClient",
    "Schema",
    "frame_log",
    "load_schema",
    "replay",
    "schema_of",
]

# type key -> {nested field name: (child type key, many)}; the root under ROOT as
# {"root": (root type key, whether the anchor serializer is a ListSerializer, i.e. a list channel)}.
Schema = dict[str, dict[str, tuple[str, bool]]]
ROOT = "__root__"
MISSING = "__missing__"  # {MISSING: "<type>:<pk>"} renders an id whose row the client does not hold
LOST = "__connection_lost__"  # the frame log's marker for connection_lost() (not a server frame)
_BOOKKEEPING = ("_type", "_pk", "_lsn")

Key = tuple[str, Any]  # (_type, _pk)


def schema_of(anchor_serializer: serializers.BaseSerializer) -> Schema:
    """The nesting of a channel's anchor serializer, read from DRF's ``serializer.fields``."""
    many = isinstance(anchor_serializer, serializers.ListSerializer)
    root = anchor_serializer.child if many else anchor_serializer
    schema: Schema = {}
    schema[ROOT] = {"root": (_walk(root, schema), many)}
    return schema


def _walk(serializer: serializers.BaseSerializer, schema: Schema) -> str:
    model = serializer.Meta.model
    key = f"{model._meta.app_label}.{type(serializer).__name__}"
    nested = schema.setdefault(key, {})
    for name, f in serializer.fields.items():
        if isinstance(f, serializers.ListSerializer) and isinstance(
            f.child, serializers.ModelSerializer
        ):
            nested[name] = (_walk(f.child, schema), True)
        elif isinstance(f, serializers.ModelSerializer):
            nested[name] = (_walk(f, schema), False)
    return key


def load_schema(data: dict[str, dict[str, list[Any]]]) -> Schema:
    """A Schema back from its JSON form (tuples travel as lists)."""
    return {t: {f: (str(v[0]), bool(v[1])) for f, v in fs.items()} for t, fs in data.items()}


@dataclass
class _Anchor:
    """One loaded anchor: its rows and, per row, the highest LSN applied (instance or tombstone)."""

    floor: int  # the last snapshot.end LSN: frames at or below it are already contained
    lsn: int  # max(floor, last applied update LSN): what `since` resumes from
    rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    seen: dict[Key, int] = field(default_factory=dict)

    def transition(self, instances: list[dict[str, Any]], tombstones: list[dict[str, Any]]) -> None:
        # Tombstones first, then instances; a key normally appears once per transaction, and an
        # equal LSN is a repeat of what was applied (at-least-once delivery), so it is ignored.
        for tomb in tombstones:
            if self._admit(tomb):
                self.rows.pop((tomb["_type"], tomb["_pk"]), None)
        for inst in instances:
            if self._admit(inst):
                self.rows[(inst["_type"], inst["_pk"])] = inst

    def _admit(self, item: dict[str, Any]) -> bool:
        key = (item["_type"], item["_pk"])
        if key in self.seen and self.seen[key] >= item["_lsn"]:
            return False
        self.seen[key] = item["_lsn"]
        return True


@dataclass
class _Loading:
    """A snapshot in progress: nothing shows until snapshot.end (one transition)."""

    mode: str
    instances: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=list
    )


@dataclass
class _Parts:
    """The parts of one transaction received so far."""

    next: int = 0
    instances: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[dict[str, Any]] = field(default_factory=list)


class ReferenceClient:
    """What a client holds after applying server frames by docs/protocol.md alone."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.errors: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.violations: list[str] = []
        # frames plus LOST markers: what frame_log writes, enough to replay the connection
        self.log: list[dict[str, Any]] = []
        self._anchors: list[Any] = []
        self._state: dict[Any, _Anchor] = {}
        self._loading: dict[Any, _Loading] = {}
        self._parts: dict[tuple[Any, int], _Parts] = {}
        self._pending: set[Any] = set()  # anchors not (again) loaded in this connection
        self._connected = False

    # -- frames --------------------------------------------------------------------------------

    def apply(self, frame: dict[str, Any]) -> None:
        """Apply one server frame; unknown types are ignored, as the protocol asks."""
        self.frames.append(frame)
        self.log.append(frame)
        handler = getattr(self, "_on_" + str(frame.get("type")).replace(".", "_"), None)
        if handler is not None:
            handler(frame)

    def _on_auth_ok(self, frame: dict[str, Any]) -> None:
        self._anchors = list(frame["anchors"])
        for anchor in [a for a in self._state if a not in self._anchors]:
            self._forget(anchor)
        self._pending = set(self._anchors)
        self._connected = True

    def _on_snapshot_begin(self, frame: dict[str, Any]) -> None:
        anchor = frame["anchor"]
        if anchor not in self._anchors:
            self._anchors.append(anchor)
        self._loading[anchor] = _Loading(frame.get("mode", "full"))
        self._pending.add(anchor)

    def _on_snapshot_instances(self, frame: dict[str, Any]) -> None:
        loading = self._loading.get(frame["anchor"])
        if loading is None:
            self.violations.append(f"anchor {frame['anchor']!r}: snapshot.instances outside one")
            return
        loading.instances += frame.get("instances", [])
        loading.tombstones += frame.get("tombstones", [])

    def _on_snapshot_end(self, frame: dict[str, Any]) -> None:
        anchor, lsn = frame["anchor"], frame["lsn"]
        loading = self._loading.pop(anchor, None)
        if loading is None:
            self.violations.append(f"anchor {anchor!r}: snapshot.end without snapshot.begin")
            return
        held = self._state.get(anchor)
        if loading.mode != "delta" or held is None:
            held = self._state[anchor] = _Anchor(floor=lsn, lsn=lsn)  # full: replace everything
        held.transition(loading.instances, loading.tombstones)
        held.floor, held.lsn = max(held.floor, lsn), max(held.lsn, lsn)
        for update_lsn, instances, tombstones in loading.updates:
            self._transaction(anchor, update_lsn, instances, tombstones)
        self._pending.discard(anchor)

    def _on_update(self, frame: dict[str, Any]) -> None:
        anchor, lsn = frame["anchor"], frame["lsn"]
        held = self._state.get(anchor)
        if held is not None and lsn <= held.floor:
            return  # already contained in the snapshot (a redelivered transaction)
        instances, tombstones = frame.get("instances", []), frame.get("tombstones", [])
        if "part" in frame or "last" in frame:
            done = self._part(anchor, lsn, frame)
            if done is None:
                return
            instances, tombstones = done.instances, done.tombstones
        self._transaction(anchor, lsn, instances, tombstones)

    def _part(self, anchor: Any, lsn: int, frame: dict[str, Any]) -> _Parts | None:
        number = frame.get("part", 0)
        buffer = self._parts.get((anchor, lsn))
        if number == 0:
            buffer = self._parts[(anchor, lsn)] = _Parts()  # a redelivery starts over
        elif buffer is None or number != buffer.next:
            expected = 0 if buffer is None else buffer.next
            self.violations.append(
                f"anchor {anchor!r} lsn {lsn}: part {number} where part {expected} was due"
            )
            self._parts.pop((anchor, lsn), None)  # the transaction cannot be applied whole
            return None
        buffer.next = number + 1
        buffer.instances += frame.get("instances", [])
        buffer.tombstones += frame.get("tombstones", [])
        if frame.get("last") is True:
            return self._parts.pop((anchor, lsn))
        return None

    def _transaction(
        self,
        anchor: Any,
        lsn: int,
        instances: list[dict[str, Any]],
        tombstones: list[dict[str, Any]],
    ) -> None:
        loading = self._loading.get(anchor)
        if loading is not None:
            # applied on top of the snapshot at its end, unless the snapshot already contains it
            loading.updates.append((lsn, instances, tombstones))
            return
        held = self._state.get(anchor)
        if held is None or lsn <= held.floor:
            return  # nothing to apply on: a full snapshot follows (reset, not yet loaded)
        held.transition(instances, tombstones)
        held.lsn = max(held.lsn, lsn)

    def _on_reset(self, frame: dict[str, Any]) -> None:
        anchor = frame["anchor"]
        self._forget(anchor)
        self._pending.add(anchor)

    def _on_anchor_added(self, frame: dict[str, Any]) -> None:
        if frame["anchor"] not in self._anchors:
            self._anchors.append(frame["anchor"])
        self._pending.add(frame["anchor"])

    def _on_anchor_removed(self, frame: dict[str, Any]) -> None:
        anchor = frame["anchor"]
        self._anchors = [a for a in self._anchors if a != anchor]
        self._forget(anchor)
        self._pending.discard(anchor)

    def _on_error(self, frame: dict[str, Any]) -> None:
        self.errors.append(frame)
        if "anchor" in frame:
            self._pending.add(frame["anchor"])  # untrusted until its next snapshot.end

    def _forget(self, anchor: Any) -> None:
        self._state.pop(anchor, None)
        self._loading.pop(anchor, None)
        for key in [k for k in self._parts if k[0] == anchor]:
            del self._parts[key]

    def connection_lost(self) -> None:
        """The socket closed: partial parts and snapshots go, applied state stays (for since)."""
        self.log.append({"type": LOST, "since": self.since()})
        self._loading.clear()
        self._parts.clear()
        self._connected = False

    # -- what the client holds -----------------------------------------------------------------

    def since(self) -> dict[str, int]:
        """``since`` for the next auth frame: per loaded anchor, the last LSN applied."""
        return {str(anchor): held.lsn for anchor, held in self._state.items()}

    def anchors(self) -> list[Any]:
        """The anchors held now, in the order the server named them."""
        return list(self._anchors)

    def ready(self) -> bool:
        """Every anchor of this connection loaded, no parts pending, no snapshot in progress."""
        return self._connected and not (self._pending or self._loading or self._parts)

    def held(self, anchor: Any) -> set[Key]:
        """The (type, pk) of every flat row held for ``anchor``, reachable or not."""
        held = self._state.get(anchor)
        return set(held.rows) if held is not None else set()

    def nested(self, anchor: Any) -> dict[str, Any] | None:
        """The anchor's nested state rebuilt from flat rows, ``_type/_pk/_lsn`` dropped.

        None when the anchor is not loaded (never, or dropped by reset/anchor.removed); an id
        whose row is not held, the anchor's own row included, renders as ``{MISSING: "t:pk"}``.
        """
        held = self._state.get(anchor)
        if held is None:
            return None
        return self._render(self.schema[ROOT]["root"][0], anchor, held, set())

    def _render(self, type_key: str, pk: Any, held: _Anchor, path: set[Key]) -> dict[str, Any]:
        row = held.rows.get((type_key, pk))
        if row is None:
            return {MISSING: f"{type_key}:{pk}"}
        if (type_key, pk) in path:  # only corrupt data can cycle; show it instead of recursing
            return {"__cycle__": f"{type_key}:{pk}"}
        path = path | {(type_key, pk)}
        links = self.schema.get(type_key, {})
        out: dict[str, Any] = {}
        for name, value in row.items():
            if name in _BOOKKEEPING:
                continue
            link = links.get(name)
            if link is None:
                out[name] = value
            elif link[1] and isinstance(value, list):
                out[name] = [self._render(link[0], pk_, held, path) for pk_ in value]
            elif not link[1] and value is not None:
                out[name] = self._render(link[0], value, held, path)
            else:
                out[name] = value  # null FK, or a malformed id list: shown as sent
        return out


def frame_log(client: ReferenceClient, schema: Schema) -> dict[str, Any]:
    """A replayable record: schema, anchors, frames (with LOST markers) and the expected states."""
    return {
        "schema": {t: {f: [c, m] for f, (c, m) in fs.items()} for t, fs in schema.items()},
        "anchors": client.anchors(),
        "frames": list(client.log),
        "expected": [client.nested(a) for a in client.anchors()],
    }


def replay(log: dict[str, Any]) -> ReferenceClient:
    """A ReferenceClient fed a frame log (LOST markers become connection_lost())."""
    client = ReferenceClient(load_schema(log["schema"]))
    for frame in log["frames"]:
        if frame.get("type") == LOST:
            client.connection_lost()
        else:
            client.apply(frame)
    return client

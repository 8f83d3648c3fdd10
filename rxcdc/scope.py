"""Per-connection filter for ``user_key`` layers: other users' rows and their ids never leave."""

from __future__ import annotations

from typing import Any

from rxcdc.layers import StateModel

__all__ = ["UserScope"]

Instance = dict[str, Any]


class UserScope:
    """Tracks which rows of scoped types this connection's user owns, and filters frames."""

    def __init__(self, model: StateModel, user_id: Any):
        self.user_id = user_id
        self.scoped = {layer.type_key for layer in model.layers if layer.user_key}
        # (parent type, field, child type, many) for every link into a scoped layer
        self.links = [
            (layer.parent.type_key, layer.field_name or "", layer.type_key, layer.many)
            for layer in model.layers
            if layer.user_key and layer.parent is not None
        ]
        self.owned: dict[str, set[Any]] = {t: set() for t in self.scoped}

    def affects(self, message: dict[str, Any]) -> bool:
        """Whether filtering could change this update (else every user gets the same frame)."""
        touchy = self.scoped | {parent for parent, _f, _c, _m in self.links}
        return any(i["_type"] in touchy for i in message["instances"]) or any(
            t["_type"] in self.scoped for t in message["tombstones"]
        )

    def filter(
        self, instances: list[Instance], tombstones: list[Instance]
    ) -> tuple[list[Instance], list[Instance]]:
        """Drop other users' rows (a row handed to someone else becomes a tombstone here)."""
        out_instances, out_tombstones = [], []
        for inst in instances:
            user = inst.pop("_user", None)
            kind = inst["_type"]
            if kind not in self.scoped:
                out_instances.append(inst)
            elif user == self.user_id:
                self.owned[kind].add(inst["_pk"])
                out_instances.append(inst)
            elif inst["_pk"] in self.owned[kind]:
                self.owned[kind].discard(inst["_pk"])
                out_tombstones.append({"_type": kind, "_pk": inst["_pk"], "_lsn": inst["_lsn"]})
        for tomb in tombstones:
            tomb.pop("_user", None)
            kind = tomb["_type"]
            if kind not in self.scoped:
                out_tombstones.append(tomb)
            elif tomb["_pk"] in self.owned[kind]:
                self.owned[kind].discard(tomb["_pk"])
                out_tombstones.append(tomb)
        if self.links:
            for inst in out_instances:
                self._strip_ids(inst)
        return out_instances, out_tombstones

    def _strip_ids(self, inst: Instance) -> None:
        for parent_type, field, child_type, many in self.links:
            if inst["_type"] != parent_type or field not in inst:
                continue
            owned = self.owned[child_type]
            if many:
                inst[field] = [pk for pk in inst[field] if pk in owned]
            elif inst[field] not in owned:
                inst[field] = None

"""Per-connection filter for ``user_key`` layers: other users' rows and their ids never leave."""

from __future__ import annotations

import json
from typing import Any

from rxcdc.layers import StateModel
from rxcdc.serialize import encode

__all__ = ["PrivacyFilter"]

Instance = dict[str, Any]  # server-side: fields as JSON text under "json", plus _type, _pk, ...


class PrivacyFilter:
    """Filters a connection's frames down to what its user may see.

    A parent's scoped lists are filtered by the owners the worker sent along (``_owners``),
    so the result does not depend on what this connection saw before.
    """

    def __init__(self, model: StateModel, user_id: Any):
        self.user_id = user_id
        self.scoped = {layer.type_key for layer in model.layers if layer.user_key}
        self.inherited = model.inherited_types - self.scoped  # rows under a scoped row
        self.parents = {layer.type_key for layer in model.scoped_parents}
        # Private rows sent to this user: one that left them becomes a tombstone here.
        self.owned: dict[str, set[Any]] = {t: set() for t in self.scoped | self.inherited}

    def affects(self, message: dict[str, Any]) -> bool:
        """Whether filtering could change this update (else every user gets the same frame)."""
        touchy = self.scoped | self.inherited | self.parents
        return any(i["_type"] in touchy for i in message["instances"]) or any(
            t["_type"] in self.owned for t in message["tombstones"]
        )

    def filter(
        self, instances: list[Instance], tombstones: list[Instance]
    ) -> tuple[list[Instance], list[Instance]]:
        """Drop other users' rows and their ids; returns new lists (inputs are not modified)."""
        out_instances, out_tombstones = [], []
        for inst in instances:
            kind, pk = inst["_type"], inst["_pk"]
            if kind in self.owned:
                if not self._mine(kind, inst.get("_user"), inst.get("_viewers")):
                    # Earlier owners (``_former``) cover a resumed connection's forgotten rows.
                    if pk in self.owned[kind] or self.user_id in (inst.get("_former") or ()):
                        self.owned[kind].discard(pk)
                        out_tombstones.append({"_type": kind, "_pk": pk, "_lsn": inst["_lsn"]})
                    continue
                self.owned[kind].add(pk)
            owners = inst.get("_owners")
            out_instances.append(self._strip_ids(inst, owners) if owners else inst)
        for tomb in tombstones:
            kind = tomb["_type"]
            clean = {"_type": kind, "_pk": tomb["_pk"], "_lsn": tomb["_lsn"]}
            if kind not in self.owned:
                out_tombstones.append(clean)
            elif tomb["_pk"] in self.owned[kind] or self._mine(kind, tomb.get("_user"), ...):
                # (A resumed connection has no memory of what it held: the row's owner or
                # viewers, which a tombstone carries in ``_user``, say whether it was its.)
                self.owned[kind].discard(tomb["_pk"])
                out_tombstones.append(clean)
        return out_instances, out_tombstones

    def _mine(self, kind: str, user: Any, viewers: Any) -> bool:
        """Whether a private kind's row is this user's: its owner, or one of its viewers.

        A tombstone of a row under a scoped row carries its viewers in ``user`` (``viewers``
        is then ``...``); None viewers mean everyone's.
        """
        if kind in self.scoped:
            return user is not None and user == self.user_id
        if viewers is ...:
            viewers = user
        return viewers is None or self.user_id in viewers

    def _strip_ids(self, inst: Instance, owners: dict[str, list[Any]]) -> Instance:
        fields = json.loads(inst["json"])
        for name, users in owners.items():
            value = fields.get(name)
            if isinstance(value, list):
                fields[name] = [
                    pk for pk, user in zip(value, users, strict=False) if user == self.user_id
                ]
            elif value is not None and (not users or users[0] != self.user_id):
                fields[name] = None
        return {**inst, "json": encode(fields)}

"""The websocket side against a live worker thread, real Redis, Mongo stand-in and Postgres."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from rxcdc.serialize import jsonable, load_rows
from rxcdc.state import HotState
from tests.testapp.channels import BoardsChannel, RoomChannel

application = AuthMiddlewareStack(
    URLRouter(
        [
            path("ws/room/<int:room>/", RoomChannel.as_asgi()),
            path("ws/boards/", BoardsChannel.as_asgi()),
        ]
    )
)


class Client:
    """A test client: applies frames to a local state the way the TypeScript store does."""

    def __init__(self, url: str, user: Any = None) -> None:
        self.comm = WebsocketCommunicator(application, url)
        if user is not None:
            self.comm.scope["user"] = user
        self.state: dict[tuple[str, Any], dict[str, Any]] = {}
        self.dead: dict[tuple[str, Any], int] = {}  # tombstones: key → lsn
        self.frames: list[dict[str, Any]] = []
        self.lsn: dict[Any, int] = {}

    async def connect(
        self, token: str | None = None, since: dict[str, int] | None = None, send_auth: bool = True
    ) -> dict[str, Any] | None:
        connected, _ = await self.comm.connect()
        assert connected
        if not send_auth:
            return None
        frame: dict[str, Any] = {"type": "auth"}
        if token:
            frame["token"] = token
        if since:
            frame["since"] = since
        await self.comm.send_json_to(frame)
        return await self.receive()

    async def receive(self, timeout: float = 15) -> dict[str, Any]:
        frame = await self.comm.receive_json_from(timeout)
        self.frames.append(frame)
        self.apply(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        """Receive frames until one satisfies ``predicate``; returns it."""
        while True:
            frame = await self.receive(timeout)
            if predicate(frame):
                return frame

    def apply(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "snapshot.begin" and frame["mode"] == "full":
            self._drop_anchor(frame["anchor"])
        if kind in ("snapshot.instances", "update"):
            for inst in frame.get("instances", ()):
                key = (inst["_type"], inst["_pk"])
                if self.dead.get(key, -1) > inst["_lsn"]:
                    continue
                if key not in self.state or self.state[key]["_lsn"] <= inst["_lsn"]:
                    self.state[key] = inst
                    self.dead.pop(key, None)
            for tomb in frame.get("tombstones", ()):
                key = (tomb["_type"], tomb["_pk"])
                if key not in self.state or self.state[key]["_lsn"] <= tomb["_lsn"]:
                    self.state.pop(key, None)
                    self.dead[key] = tomb["_lsn"]
        if kind in ("update", "snapshot.end"):
            self.lsn[frame["anchor"]] = max(self.lsn.get(frame["anchor"], 0), frame["lsn"])

    def _drop_anchor(self, anchor: Any) -> None:
        # Single-anchor test channels: a full snapshot replaces everything.
        self.state.clear()
        self.dead.clear()

    def data(self) -> dict[tuple[str, Any], dict[str, Any]]:
        return {
            k: {f: v for f, v in inst.items() if not f.startswith("_")}
            for k, inst in self.state.items()
        }

    async def close(self) -> None:
        await self.comm.disconnect()


def recomputed(label: str, anchor: Any, user_id: Any = None) -> dict[tuple[str, Any], dict]:
    """A fresh serialization of an anchor as ``user_id`` may see it."""
    from rxcdc.channels import get_channel
    from rxcdc.privacy import PrivacyFilter

    model = get_channel(label).state()
    delta = HotState().heat((label, anchor), model, load_rows)
    instances = [
        {**row.doc, "_type": t, "_pk": jsonable(pk), "_lsn": 0, "_user": row.user}
        for (t, pk), row in delta.upserts.items()
    ]
    instances, _ = PrivacyFilter(model, user_id).filter(instances, [])
    return {
        (i["_type"], i["_pk"]): {f: v for f, v in i.items() if not f.startswith("_")}
        for i in instances
    }

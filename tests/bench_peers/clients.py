"""Websocket clients for the three protocols: load a room's state, read messages out of frames."""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import websockets

LOAD_TIMEOUT = 600.0  # seconds; RxDjango's cold load of 10,000 messages is one query per row


@dataclass(frozen=True)
class Row:
    """One message as a live frame carried it (``None``: the frame left that field out)."""

    id: int
    text: str | None
    likes: tuple[int, ...] | None


class Protocol(ABC):
    """How one peer's client connects, loads a room and receives its changes."""

    @abstractmethod
    def path(self, room: int) -> str:
        """The websocket path for ``room``."""

    @abstractmethod
    async def load(self, ws: Any, room: int, token: str) -> int:
        """Authenticate and subscribe; once the full state arrived, its number of messages."""

    @abstractmethod
    def rows(self, frame: Any) -> list[Row] | None:
        """The messages a live frame carries; ``None`` when it is not a state change."""


class RxcdcProtocol(Protocol):
    """docs/protocol.md: ``auth``, a snapshot up to ``snapshot.end``, then ``update`` frames."""

    def path(self, room: int) -> str:
        return f"/ws/room/{room}/"

    async def load(self, ws: Any, room: int, token: str) -> int:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        messages = 0
        while True:
            frame = await _recv_json(ws)
            if frame["type"] in ("auth.error", "error"):
                raise RuntimeError(f"rxcdc answered {frame}")
            messages += sum(_is_message(i.get("_type")) for i in frame.get("instances", ()))
            if frame["type"] == "snapshot.end":
                return messages

    def rows(self, frame: Any) -> list[Row] | None:
        if frame.get("type") != "update":
            return None
        return [
            Row(int(i["_pk"]), i.get("text"), _ids(i.get("likes")))
            for i in frame.get("instances", ())
            if _is_message(i.get("_type"))
        ]


class RxDjangoProtocol(Protocol):
    """Its wire format: a ``{token, lastUpdate}`` auth, instance arrays, an end-of-state marker."""

    def path(self, room: int) -> str:
        return f"/ws/room/{room}/"

    async def load(self, ws: Any, room: int, token: str) -> int:
        await ws.send(json.dumps({"token": token, "lastUpdate": None}))
        messages: set[int] = set()  # a serializer at two positions is sent twice
        while True:
            frame = await _recv_json(ws)
            if isinstance(frame, dict):
                if frame.get("type") == "auth" and frame.get("statusCode") != 200:
                    raise RuntimeError(f"RxDjango answered {frame}")
                continue
            for instance in frame:
                if instance.get("_operation") == "end_initial_state":
                    return len(messages)
                if _is_message(instance.get("_instance_type")):
                    messages.add(instance["id"])

    def rows(self, frame: Any) -> list[Row] | None:
        if not isinstance(frame, list):
            return None
        return [
            Row(int(i["id"]), i.get("text"), _ids(i.get("likes")))
            for i in frame
            if _is_message(i.get("_instance_type")) and i.get("_operation") != "end_initial_state"
        ]


class DcrfProtocol(Protocol):
    """DCRF's request/reply envelope: ``subscribe_room``, then ``retrieve`` for the state."""

    SUBSCRIPTION = 1

    def path(self, room: int) -> str:
        return "/ws/room/"

    async def load(self, ws: Any, room: int, token: str) -> int:
        # Subscribe first, then read: a change between the two arrives rather than being lost.
        await self._request(ws, "subscribe_room", self.SUBSCRIPTION, room=room)
        reply = await self._request(ws, "retrieve", 2, pk=room)
        return len(reply["data"]["messages"])

    async def _request(self, ws: Any, action: str, request_id: int, **kwargs: Any) -> Any:
        await ws.send(json.dumps({"action": action, "request_id": request_id, **kwargs}))
        while True:
            frame = await _recv_json(ws)
            if frame.get("request_id") == request_id and frame.get("action") == action:
                if frame.get("errors"):
                    raise RuntimeError(f"DCRF answered {frame}")
                return frame

    def rows(self, frame: Any) -> list[Row] | None:
        if frame.get("action") not in ("create", "update", "delete"):
            return None
        data = frame.get("data") or {}
        if "id" not in data:
            return []  # a delete carries only {"pk": ...}
        likes = data.get("likes")
        return [Row(int(data["id"]), data.get("text"), _ids(likes and [a["id"] for a in likes]))]


@dataclass
class FrameLog:
    """Every frame one client received, timestamped on arrival, parsed when asked."""

    protocol: Protocol
    frames: list[tuple[float, str]] = field(default_factory=list)
    parsed: list[tuple[float, list[Row] | None]] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)  # message text → arrival

    async def record(self, ws: Any) -> None:
        """Append frames until the socket closes or the task is cancelled."""
        while True:
            raw = await ws.recv()
            self.frames.append((time.monotonic(), raw))

    def parse(self) -> list[tuple[float, list[Row] | None]]:
        """Frames parsed so far, parsing the new ones (arrival time, rows)."""
        for at, raw in self.frames[len(self.parsed) :]:
            rows = self.protocol.rows(json.loads(raw))
            self.parsed.append((at, rows))
            for row in rows or ():
                if row.text is not None:
                    self.first_seen.setdefault(row.text, at)
        return self.parsed

    def seen(self, text: str) -> bool:
        """Whether a frame so far carried a message with this text."""
        self.parse()
        return text in self.first_seen


async def connect(url: str) -> Any:
    """A websocket client without a size limit (DCRF sends a 10,000-message room in one frame)."""
    return await websockets.connect(url, max_size=None, open_timeout=30)


async def _recv_json(ws: Any) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), LOAD_TIMEOUT))


def _is_message(type_key: str | None) -> bool:
    return bool(type_key) and str(type_key).endswith("MessageSerializer")


def _ids(values: list[Any] | None) -> tuple[int, ...] | None:
    return None if values is None else tuple(int(v) for v in values)

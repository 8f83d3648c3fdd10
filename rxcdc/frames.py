"""Every websocket frame and channel-layer message, declared once, with their builders.

TypedDicts rather than dataclasses: a frame *is* a JSON object and a layer message *is* the dict
channels_redis packs, so a declaration costs nothing at run time (no conversion on the update
path) while mypy checks every key a builder sets or a handler reads. The TypeScript frame types
(``rxcdc/client/frames.ts``) are generated from these classes: ``python -m rxcdc.codegen.frames``.
"""

from __future__ import annotations

from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    TypedDict,
    get_args,
    get_origin,
    get_type_hints,
)

__all__ = [
    "CLIENT_FRAMES",
    "LAYER_MESSAGES",
    "SERVER_FRAMES",
    "STATE_FRAMES",
    "TS",
    "fields",
]


class TS:
    """Marks a Python type that the TypeScript runtime names itself (``Pk``, ``FlatInstance``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def fields(declared: type) -> dict[str, tuple[Any, bool]]:
    """A declaration's fields: name -> (type hint without ``NotRequired``, whether required).

    Read off the hints, not ``__required_keys__``: under postponed annotations TypedDict cannot
    see ``NotRequired`` at class creation (Python 3.11).
    """
    out = {}
    for name, hint in get_type_hints(declared, include_extras=True).items():
        optional = get_origin(hint) is NotRequired
        out[name] = (get_args(hint)[0] if optional else hint, not optional)
    return out


# A primary key as ``jsonable`` renders it (an int, or a string); the client reads big ones as
# bigint, hence a name of its own there.
Pk = Annotated[Any, TS("Pk")]
# An instance in a frame: a layer's flat fields plus _type/_pk/_lsn (JSON text until the socket).
FlatInstance = Annotated[dict[str, Any], TS("FlatInstance")]
Tombstone = Annotated[dict[str, Any], TS("Tombstone")]

# How a snapshot applies: ``full`` replaces the anchor's local state, ``delta`` patches it.
SnapshotMode = Literal["full", "delta"]

# -- frames the server sends ----------------------------------------------------------------------


class AuthOkFrame(TypedDict):
    """Authenticated: the channel, whether it lists anchors, the anchors and the user's key."""

    type: Literal["auth.ok"]
    protocol: int
    channel: str
    list: bool
    anchors: list[Pk]
    user: Pk | None


class AuthErrorFrame(TypedDict):
    """The connection was refused (the socket closes with a 44xx code next)."""

    type: Literal["auth.error"]
    code: str
    message: str


class SnapshotBeginFrame(TypedDict):
    """An anchor's snapshot starts: ``full`` replaces local state, ``delta`` patches it."""

    type: Literal["snapshot.begin"]
    anchor: Pk
    lsn: int
    mode: SnapshotMode


class SnapshotInstancesFrame(TypedDict):
    """One batch of a snapshot's instances (and, in a delta, what left the anchor)."""

    type: Literal["snapshot.instances"]
    anchor: Pk
    instances: list[FlatInstance]
    tombstones: NotRequired[list[Tombstone]]


class SnapshotEndFrame(TypedDict):
    """The snapshot is complete at ``lsn``."""

    type: Literal["snapshot.end"]
    anchor: Pk
    lsn: int


class UpdateFrame(TypedDict):
    """One transaction's changes to an anchor; ``part``/``last`` when it came in several."""

    type: Literal["update"]
    anchor: Pk
    lsn: int
    instances: list[FlatInstance]
    tombstones: list[Tombstone]
    part: NotRequired[int]
    last: NotRequired[bool]


class ResetFrame(TypedDict):
    """Drop the anchor's local state; a fresh snapshot follows."""

    type: Literal["reset"]
    anchor: Pk
    lsn: int


class AnchorFrame(TypedDict):
    """List channels: an anchor is shown (its snapshot follows) or no longer shown."""

    type: Literal["anchor.added", "anchor.removed"]
    anchor: Pk


class ActionResultFrame(TypedDict):
    """What an action returned."""

    type: Literal["action.result"]
    id: str
    result: Any


class WriteResultFrame(TypedDict):
    """A write was applied; ``pk`` is the row's key (a create's new one)."""

    type: Literal["write.result"]
    id: str
    pk: Pk


class RequestErrorFrame(TypedDict):
    """An action or write was refused or failed."""

    type: Literal["action.error", "write.error"]
    id: str
    code: str
    message: str


class RuntimeFrame(TypedDict):
    """A runtime variable of this connection (``set_runtime_var``)."""

    type: Literal["runtime"]
    name: str
    value: Any


class NotificationFrame(TypedDict):
    """A notification for an anchor (``broadcast_notification``); not cached."""

    type: Literal["notification"]
    anchor: Pk
    payload: Any


class SystemFrame(TypedDict):
    """A message to every connected client (``manage.py rx_broadcast``)."""

    type: Literal["system"]
    source: str
    message: str


class ErrorFrame(TypedDict):
    """A frame the server could not use, or an anchor it could not load or keep up to date."""

    type: Literal["error"]
    code: str
    message: str
    id: NotRequired[Annotated[str, "The request it answers."]]
    anchor: NotRequired[
        Annotated[
            Pk,
            "The anchor that could not be loaded or kept up to date (stale until a reset follows).",
        ]
    ]


class StatusFrame(TypedDict):
    """Whether the server's replication worker runs; after ``up``, the anchors are resumed."""

    type: Literal["status"]
    worker: Literal["up", "down"]


class PongFrame(TypedDict):
    """The answer to a ``ping``."""

    type: Literal["pong"]


# Frames that carry state for one anchor (the client's store applies them).
STATE_FRAMES: tuple[type, ...] = (
    SnapshotBeginFrame,
    SnapshotInstancesFrame,
    SnapshotEndFrame,
    UpdateFrame,
    ResetFrame,
    AnchorFrame,
)
SERVER_FRAMES: tuple[type, ...] = (
    AuthOkFrame,
    AuthErrorFrame,
    *STATE_FRAMES,
    ActionResultFrame,
    WriteResultFrame,
    RequestErrorFrame,
    RuntimeFrame,
    NotificationFrame,
    SystemFrame,
    ErrorFrame,
    StatusFrame,
    PongFrame,
)

# -- frames the client sends (``protocol.parse`` checks them against these) -----------------------


class AuthFrame(TypedDict):
    """The first frame: a token (else the session cookie), and the LSNs to resume anchors from."""

    type: Literal["auth"]
    token: NotRequired[str]
    since: NotRequired[dict[str, int]]


class ActionFrame(TypedDict):
    """Run an action of the channel; answered by ``action.result`` or ``action.error``."""

    type: Literal["action"]
    id: str
    action: str
    params: NotRequired[dict[str, Any] | list[Any]]


# A key the client sends: what ``protocol.parse`` accepts; the client's bigints arrive as ints.
ClientPk = Annotated[str | int, TS("Pk")]


class WriteFrame(TypedDict):
    """Save, create or delete an instance; answered by ``write.result`` or ``write.error``."""

    type: Literal["write"]
    id: str
    op: str
    instance_type: str
    pk: NotRequired[ClientPk]
    data: NotRequired[dict[str, Any]]
    parent_type: NotRequired[str]
    parent_pk: NotRequired[ClientPk]


class PingFrame(TypedDict):
    """Keep-alive; answered by ``pong``."""

    type: Literal["ping"]


CLIENT_FRAMES: tuple[type, ...] = (AuthFrame, ActionFrame, WriteFrame, PingFrame)

# -- builders of the server's frames (the update frame: see ``update_head``) ----------------------


def auth_ok(
    channel: str, is_list: bool, anchors: list[Any], user: Any, protocol: int
) -> AuthOkFrame:
    """``auth.ok``; ``anchors`` and ``user`` already JSON-able keys."""
    return {
        "type": "auth.ok",
        "protocol": protocol,
        "channel": channel,
        "list": is_list,
        "anchors": anchors,
        "user": user,
    }


def auth_error(code: str, message: str) -> AuthErrorFrame:
    """``auth.error``: why the connection is refused."""
    return {"type": "auth.error", "code": code, "message": message}


def snapshot_begin(anchor: Any, lsn: int, mode: SnapshotMode) -> SnapshotBeginFrame:
    """``snapshot.begin`` of ``anchor`` at ``lsn``."""
    return {"type": "snapshot.begin", "anchor": anchor, "lsn": lsn, "mode": mode}


def snapshot_instances_head(anchor: Any) -> dict[str, Any]:
    """``snapshot.instances`` without its instances (``protocol.frame_text`` appends them)."""
    return {"type": "snapshot.instances", "anchor": anchor}


def snapshot_end(anchor: Any, lsn: int) -> SnapshotEndFrame:
    """``snapshot.end`` of ``anchor`` at ``lsn``."""
    return {"type": "snapshot.end", "anchor": anchor, "lsn": lsn}


def update_head(
    anchor: Any, lsn: int, tombstones: list[dict[str, Any]], part: int, last: bool
) -> dict[str, Any]:
    """``update`` without its instances (``protocol.frame_text`` appends them as JSON text).

    ``part``/``last`` are left out for a transaction that came whole, as clients expect.
    """
    head: dict[str, Any] = {
        "type": "update",
        "anchor": anchor,
        "lsn": lsn,
        "tombstones": tombstones,
    }
    if not (part == 0 and last):
        head["part"], head["last"] = part, last
    return head


def reset(anchor: Any, lsn: int) -> ResetFrame:
    """``reset``: drop the anchor's local state and load it again."""
    return {"type": "reset", "anchor": anchor, "lsn": lsn}


def anchor_added(anchor: Any) -> AnchorFrame:
    """``anchor.added`` (list channels)."""
    return {"type": "anchor.added", "anchor": anchor}


def anchor_removed(anchor: Any) -> AnchorFrame:
    """``anchor.removed`` (list channels)."""
    return {"type": "anchor.removed", "anchor": anchor}


def action_result(request_id: str, result: Any) -> ActionResultFrame:
    """``action.result`` answering request ``request_id``."""
    return {"type": "action.result", "id": request_id, "result": result}


def write_result(request_id: str, pk: Any) -> WriteResultFrame:
    """``write.result`` answering request ``request_id``."""
    return {"type": "write.result", "id": request_id, "pk": pk}


def request_error(
    kind: Literal["action.error", "write.error"], request_id: str, code: str, message: str
) -> RequestErrorFrame:
    """``action.error`` or ``write.error`` answering request ``request_id``."""
    return {"type": kind, "id": request_id, "code": code, "message": message}


def runtime(name: str, value: Any) -> RuntimeFrame:
    """``runtime``: a runtime variable of the connection."""
    return {"type": "runtime", "name": name, "value": value}


def notification(anchor: Any, payload: Any) -> NotificationFrame:
    """``notification`` for ``anchor``."""
    return {"type": "notification", "anchor": anchor, "payload": payload}


def system(source: str, message: str) -> SystemFrame:
    """``system``: a message to every client."""
    return {"type": "system", "source": source, "message": message}


def error(code: str, message: str, request_id: str | None = None, anchor: Any = None) -> ErrorFrame:
    """``error``: a frame the server could not use, or an anchor it could not load."""
    frame: ErrorFrame = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        frame["id"] = request_id
    if anchor is not None:
        frame["anchor"] = anchor
    return frame


def status(up: bool) -> StatusFrame:
    """``status``: whether the replication worker runs."""
    return {"type": "status", "worker": "up" if up else "down"}


def pong() -> PongFrame:
    """``pong``."""
    return {"type": "pong"}


# -- channel-layer messages (docs/architecture.md, "Messages on the channel layer") ---------------


class UpdateMessage(TypedDict):
    """``rx.update``: one transaction's changes to an anchor (or one part of a large one)."""

    type: Literal["rx.update"]
    channel: str
    anchor: Any
    lsn: int
    part: int
    last: bool
    instances: list[dict[str, Any]]
    tombstones: list[dict[str, Any]]
    # The last transaction the anchor got whole: a higher one than a consumer relayed = a loss.
    prev_lsn: NotRequired[int | None]


class ResetMessage(TypedDict):
    """``rx.reset``: the anchor's clients drop it and read a fresh snapshot."""

    type: Literal["rx.reset"]
    channel: str
    anchor: Any
    lsn: int


class AnchorCreatedMessage(TypedDict):
    """``rx.anchor_created``: list channels with ``auto_update`` show a new anchor row."""

    type: Literal["rx.anchor_created"]
    channel: str
    anchor: Any
    lsn: int


class HotMessage(TypedDict):
    """``rx.hot``: the worker's answer to a heat request, ``lsn`` and ``exists``, or ``error``."""

    type: Literal["rx.hot"]
    channel: str
    anchor: Any
    lsn: NotRequired[int]
    exists: NotRequired[bool]
    error: NotRequired[str]


class ErrorMessage(TypedDict):
    """``rx.error``: the worker quarantined an anchor."""

    type: Literal["rx.error"]
    channel: str
    anchor: Any
    code: str
    message: str


class ReauthMessage(TypedDict):
    """``rx.reauth``: check the user's credentials now (``ended_session``: a logout)."""

    type: Literal["rx.reauth"]
    ended_session: NotRequired[str | None]


class SystemMessage(TypedDict):
    """``rx.system``: a system message for every connection."""

    type: Literal["rx.system"]
    source: str
    message: str


class NotificationMessage(TypedDict):
    """``rx.notification``: for an anchor's clients, or only ``user``'s when set."""

    type: Literal["rx.notification"]
    anchor: Any
    payload: Any
    user: Any


LAYER_MESSAGES: tuple[type, ...] = (
    UpdateMessage,
    ResetMessage,
    AnchorCreatedMessage,
    HotMessage,
    ErrorMessage,
    ReauthMessage,
    SystemMessage,
    NotificationMessage,
)


def rx_update(
    channel: str,
    anchor: Any,
    lsn: int,
    part: int,
    last: bool,
    instances: list[dict[str, Any]],
    tombstones: list[dict[str, Any]],
) -> UpdateMessage:
    """``rx.update`` (``anchor`` already JSON-able)."""
    return {
        "type": "rx.update",
        "channel": channel,
        "anchor": anchor,
        "lsn": lsn,
        "part": part,
        "last": last,
        "instances": instances,
        "tombstones": tombstones,
    }


def rx_reset(channel: str, anchor: Any, lsn: int) -> ResetMessage:
    """``rx.reset`` (``anchor`` already JSON-able)."""
    return {"type": "rx.reset", "channel": channel, "anchor": anchor, "lsn": lsn}


def rx_anchor_created(channel: str, anchor: Any, lsn: int) -> AnchorCreatedMessage:
    """``rx.anchor_created`` (``anchor`` already JSON-able)."""
    return {"type": "rx.anchor_created", "channel": channel, "anchor": anchor, "lsn": lsn}


def rx_hot(
    channel: str,
    anchor: Any,
    *,
    lsn: int | None = None,
    exists: bool | None = None,
    error: str | None = None,
) -> HotMessage:
    """``rx.hot``: ``lsn`` and ``exists`` once the anchor is hot, else ``error``.

    Raises ValueError when given neither.
    """
    message: HotMessage = {"type": "rx.hot", "channel": channel, "anchor": anchor}
    if error is not None:
        message["error"] = error
    else:
        if lsn is None or exists is None:
            raise ValueError("rx.hot needs lsn and exists, or error")
        message["lsn"], message["exists"] = lsn, exists
    return message


def rx_error(channel: str, anchor: Any, code: str, message: str) -> ErrorMessage:
    """``rx.error``: the anchor is quarantined (``anchor`` already JSON-able)."""
    return {
        "type": "rx.error",
        "channel": channel,
        "anchor": anchor,
        "code": code,
        "message": message,
    }


def rx_reauth(ended_session: str | None = None) -> ReauthMessage:
    """``rx.reauth``: a user's sockets check their credentials now; a logout names its session."""
    message: ReauthMessage = {"type": "rx.reauth"}
    if ended_session is not None:
        message["ended_session"] = ended_session
    return message


def rx_system(source: str, message: str) -> SystemMessage:
    """``rx.system``: a system message for every connection."""
    return {"type": "rx.system", "source": source, "message": message}


def rx_notification(anchor: Any, payload: Any, user: Any) -> NotificationMessage:
    """``rx.notification``: ``payload`` for an anchor's clients (only ``user``'s when not None)."""
    return {"type": "rx.notification", "anchor": anchor, "payload": payload, "user": user}

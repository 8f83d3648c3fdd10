"""The reference client applies hand-built frames by docs/protocol.md's rules."""

from __future__ import annotations

import json
from typing import Any

from rxcdc.testing.reference import (
    LOST,
    MISSING,
    ReferenceClient,
    frame_log,
    replay,
    schema_of,
)
from tests.testapp.serializers import BoardSerializer, RoomSerializer

ROOM, MSG, AUTHOR, TAG, NOTE = (
    f"testapp.{n}Serializer" for n in ("Room", "Message", "Author", "Tag", "Note")
)
SCHEMA = schema_of(RoomSerializer())


def room(lsn: int, messages: list[Any], pk: Any = 1, name: str = "lobby") -> dict[str, Any]:
    return {"id": pk, "name": name, "messages": messages, "notes": [], **_meta(ROOM, pk, lsn)}


def msg(pk: Any, lsn: int, text: str, author: Any = None, tags: Any = ()) -> dict[str, Any]:
    fields = {"id": pk, "text": text, "author": author, "tags": list(tags), "shout": text.upper()}
    return {**fields, **_meta(MSG, pk, lsn)}


def author(pk: int, lsn: int, name: str) -> dict[str, Any]:
    return {"id": pk, "name": name, **_meta(AUTHOR, pk, lsn)}


def tomb(type_key: str, pk: Any, lsn: int) -> dict[str, Any]:
    return _meta(type_key, pk, lsn)


def _meta(type_key: str, pk: Any, lsn: int) -> dict[str, Any]:
    return {"_type": type_key, "_pk": pk, "_lsn": lsn}


def ok(*anchors: Any, many: bool = False) -> dict[str, Any]:
    return {
        "type": "auth.ok",
        "protocol": 1,
        "channel": "t.C",
        "list": many,
        "anchors": list(anchors),
    }


def snap(anchor: Any, lsn: int, rows: list[Any], mode: str = "full", tombs: Any = ()) -> list[Any]:
    return [
        {"type": "snapshot.begin", "anchor": anchor, "lsn": lsn, "mode": mode},
        {"type": "snapshot.instances", "anchor": anchor, "instances": rows},
        {
            "type": "snapshot.instances",
            "anchor": anchor,
            "instances": [],
            "tombstones": list(tombs),
        },
        {"type": "snapshot.end", "anchor": anchor, "lsn": lsn},
    ]


def upd(anchor: Any, lsn: int, rows: Any = (), tombs: Any = (), **parts: Any) -> dict[str, Any]:
    frame = {"type": "update", "anchor": anchor, "lsn": lsn}
    return {**frame, "instances": list(rows), "tombstones": list(tombs), **parts}


def feed(*frames: Any, client: ReferenceClient | None = None) -> ReferenceClient:
    client = client or ReferenceClient(SCHEMA)
    for frame in frames:
        for f in frame if isinstance(frame, list) else [frame]:
            client.apply(f)
    return client


def texts(client: ReferenceClient, anchor: Any = 1) -> list[Any]:
    state = client.nested(anchor)
    assert state is not None
    return [m.get("text", m.get(MISSING)) for m in state["messages"]]


def loaded() -> ReferenceClient:
    return feed(ok(1), snap(1, 100, [room(90, [10, 11]), msg(10, 90, "a", 5), msg(11, 95, "b")]))


def test_schema_of_walks_drf_fields_and_list_serializers():
    assert SCHEMA == {
        "__root__": {"root": (ROOM, False)},
        ROOM: {"messages": (MSG, True), "notes": (NOTE, True)},
        MSG: {"author": (AUTHOR, False), "tags": (TAG, True)},
        AUTHOR: {},
        TAG: {},
        NOTE: {},
    }
    board = schema_of(BoardSerializer(many=True))
    assert board["__root__"] == {"root": ("testapp.BoardSerializer", True)}
    assert board["testapp.BoardSerializer"] == {"cards": ("testapp.CardSerializer", True)}


def test_nested_rebuild_drops_bookkeeping_and_shows_dangling_ids():
    client = feed(upd(1, 110, [author(5, 110, "ann")]), client=loaded())
    assert client.nested(1) == {
        "id": 1,
        "name": "lobby",
        "notes": [],
        "messages": [
            {"id": 10, "text": "a", "shout": "A", "author": {"id": 5, "name": "ann"}, "tags": []},
            {"id": 11, "text": "b", "shout": "B", "author": None, "tags": []},
        ],
    }
    feed(upd(1, 120, [room(120, [10, 11, 12])], [tomb(AUTHOR, 5, 120)]), client=client)
    state = client.nested(1)
    assert state is not None
    assert state["messages"][0]["author"] == {MISSING: f"{AUTHOR}:5"}
    assert state["messages"][2] == {MISSING: f"{MSG}:12"}


def test_anchor_row_absent_renders_missing_and_never_loaded_is_none():
    client = feed(ok(1, 2, many=True), snap(1, 100, [msg(10, 90, "orphan")]))
    assert client.nested(1) == {MISSING: f"{ROOM}:1"}
    assert client.nested(2) is None
    assert not client.ready()


def test_per_row_lsn_guard_ignores_older_and_repeated_versions():
    client = feed(upd(1, 130, [msg(10, 130, "new")]), client=loaded())
    feed(upd(1, 140, [msg(10, 120, "older"), msg(11, 95, "same-lsn")]), client=client)
    assert texts(client) == ["new", "b"]
    assert client.since() == {"1": 140}  # the frame was applied even though its rows were old


def test_tombstone_removes_and_is_remembered_against_older_instances():
    client = feed(upd(1, 130, [], [tomb(MSG, 11, 130)]), client=loaded())
    assert texts(client) == ["a", f"{MSG}:11"]
    feed(upd(1, 140, [msg(11, 125, "resurrected?")]), client=client)
    assert texts(client) == ["a", f"{MSG}:11"]
    feed(upd(1, 150, [msg(11, 150, "back")]), client=client)
    assert texts(client) == ["a", "back"]


def test_older_tombstone_does_not_remove_a_newer_instance():
    client = feed(upd(1, 130, [msg(11, 130, "kept")]), client=loaded())
    feed(upd(1, 140, [], [tomb(MSG, 11, 120)]), client=client)
    assert texts(client) == ["a", "kept"]


def test_frames_at_or_below_the_snapshot_lsn_are_ignored():
    # a redelivered transaction: the snapshot already contains it, and a full snapshot holds no
    # tombstone for the deleted row, so applying it would bring the row back
    client = loaded()
    feed(upd(1, 100, [msg(12, 100, "dup")]), upd(1, 99, [msg(13, 99, "old")]), client=client)
    feed(upd(1, 100, [msg(14, 100, "p")], part=0, last=True), client=client)
    held = client.nested(1)
    assert held is not None
    assert [m["id"] for m in held["messages"]] == [10, 11]
    assert client.since() == {"1": 100}
    assert client.ready()


def test_full_snapshot_replaces_everything_including_remembered_lsns():
    client = feed(upd(1, 130, [msg(10, 130, "newer")]), client=loaded())
    # after a reset the cache restarts from older row versions; the full snapshot wins
    feed({"type": "reset", "anchor": 1, "lsn": 135}, client=client)
    assert client.nested(1) is None
    assert client.since() == {}
    assert not client.ready()
    feed(snap(1, 140, [room(90, [10]), msg(10, 90, "rebuilt")]), client=client)
    assert texts(client) == ["rebuilt"]
    assert client.since() == {"1": 140}
    assert client.ready()


def test_snapshot_shows_nothing_until_its_end_then_everything():
    client = loaded()
    begin, first, tail, end = snap(1, 200, [room(190, [10]), msg(10, 190, "z")])
    feed(begin, first, tail, client=client)
    assert texts(client) == ["a", "b"]
    assert not client.ready()
    feed(end, client=client)
    assert texts(client) == ["z"]


def test_delta_snapshot_applies_on_top_with_its_tombstones():
    client = loaded()
    client.connection_lost()
    assert client.since() == {"1": 100}
    rows = [room(150, [10, 12]), msg(12, 150, "c")]
    feed(ok(1), snap(1, 150, rows, mode="delta", tombs=[tomb(MSG, 11, 150)]), client=client)
    assert texts(client) == ["a", "c"]
    assert client.since() == {"1": 150}
    assert client.ready()


def test_delta_on_an_anchor_not_held_starts_from_nothing():
    client = feed(ok(1), snap(1, 150, [room(150, [12]), msg(12, 150, "c")], mode="delta"))
    assert texts(client) == ["c"]


def test_update_during_a_snapshot_lands_on_it_unless_contained():
    client = feed(ok(1))
    begin, first, tail, end = snap(1, 100, [room(90, [10]), msg(10, 90, "a")])
    feed(begin, first, upd(1, 100, [msg(10, 100, "contained")]), client=client)
    feed(upd(1, 110, [msg(10, 110, "later")]), tail, end, client=client)
    assert texts(client) == ["later"]
    assert client.since() == {"1": 110}


def test_parts_apply_together_on_last():
    client = loaded()
    feed(upd(1, 130, [room(130, [10, 11, 12])], part=0), client=client)
    feed(upd(1, 130, [msg(12, 130, "c")], [tomb(MSG, 10, 130)], part=1), client=client)
    assert texts(client) == ["a", "b"]
    assert not client.ready()
    feed(upd(1, 130, [msg(11, 130, "B")], part=2, last=True), client=client)
    assert texts(client) == [f"{MSG}:10", "B", "c"]
    assert client.ready()
    assert client.violations == []


def test_redelivered_part_zero_discards_the_old_buffer():
    client = loaded()
    feed(upd(1, 130, [], [tomb(MSG, 11, 130)], part=0), upd(1, 130, [], part=1), client=client)
    # the worker restarted and re-serialized the transaction: the row is there after all
    feed(upd(1, 130, [msg(11, 130, "kept")], part=0), client=client)
    feed(upd(1, 130, [room(130, [10, 11])], part=1, last=True), client=client)
    assert texts(client) == ["a", "kept"]
    assert client.violations == []


def test_skipped_part_is_a_violation_and_nothing_of_it_is_applied():
    client = loaded()
    feed(
        upd(1, 130, [msg(10, 130, "x")], part=0), upd(1, 130, [], part=2, last=True), client=client
    )
    assert client.violations == ["anchor 1 lsn 130: part 2 where part 1 was due"]
    assert texts(client) == ["a", "b"]
    feed(upd(1, 140, [], part=3, last=True), client=client)
    assert client.violations[1] == "anchor 1 lsn 140: part 3 where part 0 was due"


def test_connection_lost_forgets_partial_parts_and_snapshots_and_logs_since():
    client = loaded()
    feed(upd(1, 130, [msg(10, 130, "half")], part=0), snap(1, 140, [])[0], client=client)
    client.connection_lost()
    assert client.since() == {"1": 100}
    assert not client.ready()
    feed(ok(1), upd(1, 130, [], part=1, last=True), client=client)
    assert client.violations == ["anchor 1 lsn 130: part 1 where part 0 was due"]
    assert texts(client) == ["a", "b"]
    assert client.log[-3] == {"type": LOST, "since": {"1": 100}}
    assert LOST not in [f["type"] for f in client.frames]


def test_list_channel_anchor_added_and_removed():
    client = feed(ok(1, many=True), snap(1, 100, [room(90, [])]))
    assert client.ready()
    feed({"type": "anchor.added", "anchor": "x"}, client=client)
    assert client.anchors() == [1, "x"]
    assert not client.ready()
    feed(snap("x", 110, [room(100, [], pk="x")]), client=client)
    assert client.ready()
    assert client.since() == {"1": 100, "x": 110}
    feed({"type": "anchor.removed", "anchor": 1}, client=client)
    assert client.anchors() == ["x"]
    assert client.nested(1) is None
    assert client.since() == {"x": 110}


def test_auth_ok_forgets_anchors_it_no_longer_lists():
    client = feed(ok(1, 2, many=True), snap(1, 100, [room(90, [])]), snap(2, 100, [room(9, [], 2)]))
    client.connection_lost()
    feed(ok(2, many=True), client=client)
    assert client.anchors() == [2]
    assert client.since() == {"2": 100}
    assert not client.ready()  # 2 needs its (delta) snapshot in this connection too


def test_error_with_anchor_marks_it_untrusted_until_its_next_snapshot():
    client = loaded()
    error = {"type": "error", "code": "snapshot_failed", "message": "boom", "anchor": 1}
    feed(error, {"type": "error", "code": "malformed", "message": "?", "id": "a1"}, client=client)
    assert client.errors[0] == error
    assert len(client.errors) == 2
    assert not client.ready()
    feed(snap(1, 150, [room(150, [])]), client=client)
    assert client.ready()


def test_unknown_frames_are_ignored_but_logged():
    client = loaded()
    feed({"type": "runtime", "name": "x", "value": 1}, {"type": "future.thing"}, client=client)
    assert texts(client) == ["a", "b"]
    assert [f["type"] for f in client.frames][-2:] == ["runtime", "future.thing"]


def test_big_integers_stay_exact():
    big_pk, big_lsn = 2**64 + 1, 2**63 + 7
    text = json.dumps(
        [ok(1), *snap(1, big_lsn, [room(big_lsn, [big_pk]), msg(big_pk, big_lsn, "x")])]
    )
    client = feed(json.loads(text))
    held = client.nested(1)
    assert held is not None
    assert held["messages"][0]["id"] == big_pk
    assert client.since() == {"1": big_lsn}
    # one less than the big pk is another row: a float would have merged them
    feed(upd(1, big_lsn + 1, [room(big_lsn + 1, [big_pk - 1])]), client=client)
    assert texts(client) == [f"{MSG}:{big_pk - 1}"]


def test_frame_log_replays_to_the_same_state():
    client = loaded()
    client.connection_lost()
    feed(ok(1), snap(1, 150, [msg(12, 150, "c")], mode="delta"), client=client)
    log = json.loads(json.dumps(frame_log(client, SCHEMA)))
    again = replay(log)
    assert log["expected"] == [client.nested(1)]
    assert again.nested(1) == client.nested(1)
    assert again.since() == client.since()
    assert again.frames == client.frames

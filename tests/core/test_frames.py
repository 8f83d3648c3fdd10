"""The frame and layer-message declarations (rxcdc.frames) and what is derived from them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from rxcdc import frames, protocol


def _builders() -> list[tuple[type, dict[str, Any]]]:
    """(declaration, what its builder returns) for every builder of rxcdc.frames."""
    whole = dict(frames.update_head(7, 10, [], 0, True), instances=[])
    parted = dict(frames.update_head(7, 10, [], 1, False), instances=[])
    return [
        (frames.AuthOkFrame, frames.auth_ok("app.Room", False, [7], None, 1)),
        (frames.AuthErrorFrame, frames.auth_error("forbidden", "no")),
        (frames.SnapshotBeginFrame, frames.snapshot_begin(7, 10, "full")),
        (frames.SnapshotInstancesFrame, dict(frames.snapshot_instances_head(7), instances=[])),
        (frames.SnapshotEndFrame, frames.snapshot_end(7, 10)),
        (frames.UpdateFrame, whole),
        (frames.UpdateFrame, parted),
        (frames.ResetFrame, frames.reset(7, 10)),
        (frames.AnchorFrame, frames.anchor_added(7)),
        (frames.AnchorFrame, frames.anchor_removed(7)),
        (frames.ActionResultFrame, frames.action_result("r1", {"ok": True})),
        (frames.WriteResultFrame, frames.write_result("r1", 7)),
        (frames.RequestErrorFrame, frames.request_error("write.error", "r1", "failed", "x")),
        (frames.RuntimeFrame, frames.runtime("n", 1)),
        (frames.NotificationFrame, frames.notification(7, {"a": 1})),
        (frames.SystemFrame, frames.system("ops", "hello")),
        (frames.ErrorFrame, frames.error("anchor_failed", "x", "r1", anchor=7)),
        (frames.StatusFrame, frames.status(True)),
        (frames.PongFrame, frames.pong()),
        (frames.UpdateMessage, frames.rx_update("app.Room", 7, 10, 0, True, [], [])),
        (frames.ResetMessage, frames.rx_reset("app.Room", 7, 10)),
        (frames.AnchorCreatedMessage, frames.rx_anchor_created("app.Room", 7, 10)),
        (frames.HotMessage, frames.rx_hot("app.Room", 7, lsn=10, exists=True)),
        (frames.HotMessage, frames.rx_hot("app.Room", 7, error="heat failed")),
        (frames.ErrorMessage, frames.rx_error("app.Room", 7, "anchor_failed", "x")),
        (frames.ReauthMessage, frames.rx_reauth()),
        (frames.ReauthMessage, frames.rx_reauth("a-session-key")),
        (frames.SystemMessage, frames.rx_system("ops", "maintenance at noon")),
        (frames.NotificationMessage, frames.rx_notification(7, {"n": 1}, None)),
    ]


@pytest.mark.parametrize(
    ("declared", "built"), _builders(), ids=lambda v: getattr(v, "__name__", "")
)
def test_every_builder_fills_its_declaration(declared: type, built: dict[str, Any]) -> None:
    fields = frames.fields(declared)
    assert built["type"] in get_args(fields["type"][0])
    assert set(built) <= set(fields), f"undeclared keys {set(built) - set(fields)}"
    required = {name for name, (_, req) in fields.items() if req}
    assert required <= set(built), f"missing {required - set(built)}"


def test_the_protocol_doc_shows_exactly_the_declared_frames() -> None:
    text = (Path(protocol.__file__).parents[1] / "docs" / "protocol.md").read_text()
    shown = set(re.findall(r'"type": "([a-z._]+)"', text))
    declared = {
        kind
        for cls in (*frames.SERVER_FRAMES, *frames.CLIENT_FRAMES)
        for kind in get_args(frames.fields(cls)["type"][0])
    }
    assert shown == declared


def test_an_update_sent_whole_has_no_part_numbers() -> None:
    assert "part" not in frames.update_head(7, 10, [], 0, True)
    assert frames.update_head(7, 10, [], 2, True)["part"] == 2
    assert frames.update_head(7, 10, [], 0, False)["last"] is False


def test_an_error_frame_names_its_anchor_and_request_only_when_given() -> None:
    assert frames.error("x", "m") == {"type": "error", "code": "x", "message": "m"}
    assert frames.error("x", "m", anchor=0)["anchor"] == 0  # a falsy key is still a key
    assert frames.error("x", "m", "r1")["id"] == "r1"


def test_a_hot_answer_needs_a_position_or_an_error() -> None:
    with pytest.raises(ValueError, match="lsn and exists"):
        frames.rx_hot("app.Room", 7)


def test_update_text_keeps_instances_as_preencoded_json() -> None:
    head = frames.update_head(7, 10, [], 0, True)
    inst = {"json": '{"n":12345678901234567890}', "_type": "t", "_pk": 1, "_lsn": 10}
    decoded = json.loads(protocol.frame_text(head, [inst]))
    assert decoded["instances"] == [{"n": 12345678901234567890, "_type": "t", "_pk": 1, "_lsn": 10}]
    assert decoded["type"] == "update"


def test_inbound_validation_is_read_off_the_client_frame_declarations() -> None:
    assert set(protocol.INBOUND) == {"auth", "action", "write", "ping"}
    assert protocol.INBOUND["write"]["pk"] == ((str, int), False)
    assert protocol.INBOUND["write"]["instance_type"] == ((str,), True)
    assert protocol.INBOUND["action"]["params"] == ((dict, list), False)
    ok = '{"type":"write","id":"w","op":"delete","instance_type":"t","pk":3}'
    assert protocol.parse(ok, None, 10_000)["pk"] == 3
    for bad in (
        '{"type":"write","id":"w","op":"delete","pk":3}',  # no instance_type
        '{"type":"write","id":"w","op":"delete","instance_type":"t","pk":[3]}',
        '{"type":"write","id":"w","op":"delete","instance_type":"t","pk":true}',
        '{"type":"action","id":"a","action":"go","params":"x"}',
    ):
        with pytest.raises(protocol.FrameError) as info:
            protocol.parse(bad, None, 10_000)
        assert info.value.code == "malformed"
        assert info.value.request_id in ("w", "a")

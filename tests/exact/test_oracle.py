"""The oracle renders what DRF renders, scoped per user, and diff names every difference."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers

from rxcdc.testing.oracle import diff, ground_truth
from rxcdc.testing.reference import MISSING, ReferenceClient, schema_of
from tests.testapp.models import Author, Board, Card, Message, Note, Room, Tag
from tests.testapp.serializers import RoomSerializer


class OwnBoardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Board
        fields = ["id", "title"]
        user_key = "owner"


class CardWithBoardSerializer(serializers.ModelSerializer):
    board = OwnBoardSerializer(read_only=True)

    class Meta:
        model = Card
        fields = ["id", "title", "board"]


class NoteWithoutIdSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["text"]
        user_key = "user"


class RoomWithAnonymousNotesSerializer(serializers.ModelSerializer):
    notes = NoteWithoutIdSerializer(many=True, read_only=True)

    class Meta:
        model = Room
        fields = ["id", "notes"]


@pytest.fixture
def users() -> tuple[Any, Any]:
    model = get_user_model()
    return model.objects.create(username="ann"), model.objects.create(username="bob")


@pytest.fixture
def room(users: tuple[Any, Any]) -> Room:
    ann, bob = users
    room = Room.objects.create(name="lobby")
    author = Author.objects.create(name="zed")
    m1 = Message.objects.create(room=room, text="hi", author=author)
    Message.objects.create(room=room, text="yo")
    m1.tags.set([Tag.objects.create(name="b"), Tag.objects.create(name="a")])
    Note.objects.create(room=room, user=ann, text="ann's")
    Note.objects.create(room=room, user=bob, text="bob's")
    Note.objects.create(room=room, user=ann, text="ann's too")
    return room


def test_ground_truth_is_drfs_nested_json_scoped_to_the_user(db, room, users):
    ann, bob = users
    m1, m2 = room.messages.all()
    a_tag, b_tag = Tag.objects.order_by("name")
    truth = ground_truth(RoomSerializer, room, ann.pk)
    notes = [n for n in room.notes.all() if n.user_id == ann.pk]
    assert truth == {
        "id": room.pk,
        "name": "lobby",
        "messages": [
            {
                "id": m1.pk,
                "text": "hi",
                "shout": "HI",
                "author": {"id": m1.author_id, "name": "zed"},
                # the M2M in Tag.Meta.ordering order, not insertion order
                "tags": [{"id": a_tag.pk, "name": "a"}, {"id": b_tag.pk, "name": "b"}],
            },
            {"id": m2.pk, "text": "yo", "shout": "YO", "author": None, "tags": []},
        ],
        "notes": [{"id": n.pk, "text": n.text, "user": ann.pk} for n in notes],
    }
    bobs = ground_truth(RoomSerializer, room, bob.pk)
    assert bobs is not None
    assert [n["text"] for n in bobs["notes"]] == ["bob's"]
    nobody = ground_truth(RoomSerializer, room)
    assert nobody is not None
    assert nobody["notes"] == []


def test_single_nested_row_of_another_user_becomes_none(db, users):
    ann, bob = users
    card = Card.objects.create(board=Board.objects.create(owner=ann, title="b"), title="c")
    mine = ground_truth(CardWithBoardSerializer, card, ann.pk)
    assert mine == {"id": card.pk, "title": "c", "board": {"id": card.board_id, "title": "b"}}
    theirs = ground_truth(CardWithBoardSerializer, card, bob.pk)
    assert theirs == {"id": card.pk, "title": "c", "board": None}


def test_user_key_without_a_rendered_pk_is_a_clear_error(db, room, users):
    with pytest.raises(ValueError, match=r"NoteWithoutIdSerializer .*primary key 'id'"):
        ground_truth(RoomWithAnonymousNotesSerializer, room, users[0].pk)


def test_ground_truth_of_nothing_is_none():
    assert ground_truth(RoomSerializer, None, 1) is None


def test_reference_client_fed_the_flat_rows_matches_ground_truth(db, room, users):
    # the two oracles agree when the frames are right, and diff points at a dangling id
    ann = users[0]
    m1, m2 = room.messages.all()
    lsn = 500
    flat: list[dict[str, Any]] = [
        {"id": room.pk, "name": "lobby", "messages": [m1.pk, m2.pk],
         "notes": [n.pk for n in room.notes.filter(user=ann)]},
        *({"id": m.pk, "text": m.text, "shout": m.text.upper(), "author": m.author_id,
           "tags": [t.pk for t in m.tags.all()]} for m in (m1, m2)),
        {"id": m1.author_id, "name": "zed"},
        *({"id": t.pk, "name": t.name} for t in Tag.objects.all()),
        *({"id": n.pk, "text": n.text, "user": ann.pk} for n in room.notes.filter(user=ann)),
    ]  # fmt: skip
    types = ["Room", "Message", "Message", "Author", "Tag", "Tag", "Note", "Note"]
    rows = [
        {**row, "_type": f"testapp.{t}Serializer", "_pk": row["id"], "_lsn": lsn}
        for row, t in zip(flat, types, strict=True)
    ]
    client = ReferenceClient(schema_of(RoomSerializer()))
    client.apply({"type": "auth.ok", "anchors": [room.pk]})
    client.apply({"type": "snapshot.begin", "anchor": room.pk, "lsn": lsn, "mode": "full"})
    client.apply({"type": "snapshot.instances", "anchor": room.pk, "instances": rows})
    client.apply({"type": "snapshot.end", "anchor": room.pk, "lsn": lsn})
    truth = ground_truth(RoomSerializer, room, ann.pk)
    assert diff(truth, client.nested(room.pk)) == []
    author_tomb = {"_type": "testapp.AuthorSerializer", "_pk": m1.author_id, "_lsn": lsn + 1}
    client.apply({"type": "update", "anchor": room.pk, "lsn": lsn + 1, "instances": [],
                  "tombstones": [author_tomb]})  # fmt: skip
    assert diff(truth, client.nested(room.pk)) == [
        f"messages[0].author: missing row testapp.AuthorSerializer:{m1.author_id}"
    ]


def test_diff_scalars_types_and_paths():
    assert diff({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}) == []
    assert diff({"a": {"b": "x"}}, {"a": {"b": "y"}}) == ["a.b: 'x' != 'y'"]
    assert diff({"n": 1}, {"n": "1"}) == ["n: 1 != '1'"]
    assert diff({"n": 1}, {"n": True}) == ["n: 1 != True"]
    assert diff(1, 2) == ["<root>: 1 != 2"]
    assert diff({"a": 1, "b": 2}, {"b": 2, "c": 3}) == [
        "a: absent (expected 1)",
        "c: unexpected 3",
    ]


def test_diff_lists_of_rows_by_id_with_order_and_missing_rows():
    rows = [{"id": 3, "text": "a"}, {"id": 4, "text": "b"}]
    assert diff({"notes": rows}, {"notes": rows[1:]}) == ["notes: ids [3, 4] != [4]"]
    assert diff({"notes": rows}, {"notes": rows[::-1]}) == ["notes: ids [3, 4] != [4, 3]"]
    changed = [rows[0], {"id": 4, "text": "B"}]
    assert diff({"m": [{"id": 1, "notes": rows}]}, {"m": [{"id": 1, "notes": changed}]}) == [
        "m[0].notes[1].text: 'b' != 'B'"
    ]
    dangling = [rows[0], {MISSING: "chat.X:4"}]
    assert diff({"notes": rows}, {"notes": dangling}) == ["notes[1]: missing row chat.X:4"]
    assert diff({"author": {"id": 5}}, {"author": {MISSING: "chat.A:5"}}) == [
        "author: missing row chat.A:5"
    ]
    assert diff([1, 2], [2, 1]) == ["[0]: 1 != 2", "[1]: 2 != 1"]
    assert diff([1, 2], [1]) == ["<root>: [1, 2] != [1]"]

"""A flat serializer's output built from fetched rows is DRF's, value for value (rxcdc.represent).

Each test renders the same rows both ways: ``Representation.documents`` over the compiled
query's rows, and ``serializer.to_representation`` over instances the ORM loads on its own.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
from django.db.models.signals import post_init
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from rxcdc.channels import get_channel
from rxcdc.compiled import Compiled
from rxcdc.compiled import _local as compiled_here
from rxcdc.represent import Representation, representation
from rxcdc.serialize import _local, encode, jsonable, load_rows
from tests.exactapp.models import Board as ExactBoard
from tests.exactapp.models import Card as ExactCard
from tests.exactapp.models import Column
from tests.represent_oracle import same
from tests.schemaapp.models import Vault
from tests.testapp.models import Author, Message, Room

pytestmark = pytest.mark.django_db

examples = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Postgres text holds neither NUL nor lone surrogates.
texts = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20
)
zones = st.sampled_from(["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"])


class MessageKinds(serializers.ModelSerializer):
    """Every column-reading DRF field kind rxcdc.represent knows, on testapp's Message."""

    at = serializers.DateTimeField(source="due")
    stamp = serializers.DateTimeField(source="due", format="%Y-%m-%d %H:%M:%S.%f %Z")
    room_text = serializers.CharField(source="room_id")
    author_number = serializers.IntegerField(source="author_id")
    author_big = serializers.BigIntegerField(source="author_id")
    author_amount = serializers.DecimalField(source="author_id", max_digits=40, decimal_places=3)
    author_plain = serializers.DecimalField(
        source="author_id", max_digits=40, decimal_places=1, coerce_to_string=False
    )
    author_float = serializers.FloatField(source="author_id")
    author_flag = serializers.BooleanField(source="author_id")
    text_as_is = serializers.ReadOnlyField(source="text")
    text_choice = serializers.ChoiceField(choices=[("a", "A"), ("b", "B")], source="text")

    class Meta:
        model = Message
        fields = [
            "id",
            "text",
            "room",
            "author",
            "due",
            "at",
            "stamp",
            "room_text",
            "author_number",
            "author_big",
            "author_amount",
            "author_plain",
            "author_float",
            "author_flag",
            "text_as_is",
            "text_choice",
        ]


class CardKinds(serializers.ModelSerializer):
    """JSON, integers and a nullable FK on exactapp's Card."""

    class Meta:
        model = ExactCard
        fields = ["id", "title", "position", "payload", "author", "column"]


class VaultKinds(serializers.ModelSerializer):
    """A UUID primary key, as DRF's two formats."""

    hex = serializers.UUIDField(source="id", format="hex")

    class Meta:
        model = Vault
        fields = ["id", "hex", "name"]


class Shouting(serializers.CharField):
    """A field of the project's own: rendered through the instance, as DRF does."""

    def to_representation(self, value: Any) -> str:
        return str(value).upper()


class MessageMixed(serializers.ModelSerializer):
    shout = Shouting(source="text")
    length = serializers.SerializerMethodField()
    room_name = serializers.CharField(source="room.name")

    class Meta:
        model = Message
        fields = ["id", "shout", "length", "text", "room_name", "author"]

    def get_length(self, obj: Message) -> int:
        return len(obj.text)


def rendered(
    serializer_class: type[serializers.ModelSerializer], pks: list[Any]
) -> tuple[Representation, list[Any], list[Any]]:
    """(the representation, its documents, DRF's) for these rows, in the queryset's order."""
    model = serializer_class.Meta.model
    serializer = serializer_class(context={})
    query = Compiled(model._base_manager.all(), "pk", models=True)
    rows = query.rows(pks)
    assert rows is not None
    found = representation(query, serializer, ["pk"])
    assert found is not None and found.applies()
    ours = list(found.documents(rows))
    objs = model._base_manager.filter(pk__in=pks)
    theirs = [(serializer.to_representation(o), [o.pk]) for o in objs]
    return found, ours, theirs


def assert_same(ours: list[Any], theirs: list[Any]) -> None:
    """The same documents, and the same JSON text from them (what the cache stores)."""
    assert len(ours) == len(theirs)
    for (doc, values), (expected, read) in zip(ours, theirs, strict=True):
        assert same(doc, expected), (doc, expected)
        assert same(values, read)
        text = json.dumps(
            jsonable(expected), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        assert encode(jsonable(doc)) == text


@pytest.fixture
def room() -> Room:
    return Room.objects.create(name="r")


@examples
@given(
    rows=st.lists(
        st.tuples(
            st.integers(1, 2**63 - 1),
            st.one_of(texts, st.sampled_from(["a", "b", ""])),
            st.none() | st.datetimes(timezones=st.timezones()),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda r: r[0],
    ),
    zone=zones,
)
def test_column_fields_render_as_drf_renders_them(room: Room, rows: list[Any], zone: str) -> None:
    author = Author.objects.create(name="ann")
    for pk, text, due, authored in rows:
        Message.objects.create(
            id=pk, room=room, text=text, due=due, author=author if authored else None
        )
    try:
        with timezone.override(zone):
            found, ours, theirs = rendered(MessageKinds, [r[0] for r in rows])
        assert not found.instances  # every field read from the row
        assert_same(ours, theirs)
    finally:
        Message.objects.all().delete()
        author.delete()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@examples
@given(
    payload=json_values.filter(lambda v: v is not None),  # None is SQL NULL: refused
    title=texts,
    position=st.integers(-(2**31), 2**31 - 1),
)
def test_json_and_integer_columns_render_as_drf_renders_them(
    payload: Any, title: str, position: int
) -> None:
    column = Column.objects.create(board=ExactBoard.objects.create(title="b"), title="c")
    card = ExactCard.objects.create(column=column, title=title, position=position, payload=payload)
    try:
        _found, ours, theirs = rendered(CardKinds, [card.pk])
        assert_same(ours, theirs)
    finally:
        column.board.delete()


@examples
@given(ids=st.lists(st.uuids(), min_size=1, max_size=4, unique=True), name=texts)
def test_uuid_keys_render_as_drf_renders_them(ids: list[uuid.UUID], name: str) -> None:
    for pk in ids:
        Vault.objects.create(id=pk, name=name)
    try:
        _found, ours, theirs = rendered(VaultKinds, ids)
        assert_same(ours, theirs)
    finally:
        Vault.objects.all().delete()


def test_big_integers_follow_drfs_coerce_setting(room: Room) -> None:
    message = Message.objects.create(id=2**60, room=room, text="t")
    with override_settings(REST_FRAMEWORK={"COERCE_BIGINT_TO_STRING": True}):
        _found, ours, theirs = rendered(MessageKinds, [message.pk])
    assert ours[0][0]["author_big"] is None
    assert ours[0][0]["id"] == str(2**60)  # BigAutoField: DRF's BigIntegerField
    assert_same(ours, theirs)


def test_fields_of_their_own_methods_and_dotted_sources_read_the_instance(room: Room) -> None:
    messages = [Message.objects.create(room=room, text=t) for t in ("hé", "", "x y")]
    found, ours, theirs = rendered(MessageMixed, [m.pk for m in messages])
    assert found.instances
    assert [doc["shout"] for doc, _ in ours] == ["HÉ", "", "X Y"]
    assert_same(ours, theirs)


def test_a_serializer_overriding_to_representation_keeps_drfs_path(room: Room) -> None:
    class Custom(serializers.ModelSerializer):
        class Meta:
            model = Message
            fields = ["id", "text"]

        def to_representation(self, instance: Message) -> dict[str, Any]:
            return {"id": instance.pk}

    query = Compiled(Message._base_manager.all(), "pk", models=True)
    query.rows([Message.objects.create(room=room, text="t").pk])
    assert representation(query, Custom(context={}), ["pk"]) is None


def test_an_init_receiver_turns_the_row_path_off(room: Room) -> None:
    """A post_init receiver may change an instance: from then on rows become instances again."""
    layer = next(
        x for x in get_channel("testapp.RoomChannel").state().layers if x.path == "messages"
    )
    message = Message.objects.create(
        room=room, text="plain", due=datetime.datetime.now(datetime.UTC)
    )
    assert load_rows(layer, [message.pk])[message.pk].doc["text"] == "plain"
    assert _local.representations[layer] is not None  # the row path ran

    def louder(sender: Any, instance: Message, **kwargs: Any) -> None:
        instance.text = instance.text.upper()

    post_init.connect(louder, sender=Message)
    try:
        assert load_rows(layer, [message.pk])[message.pk].doc["text"] == "PLAIN"
    finally:
        post_init.disconnect(louder, sender=Message)


def test_every_layer_of_the_room_channel_renders_from_rows(room: Room) -> None:
    author = Author.objects.create(name="ann")
    message = Message.objects.create(room=room, text="t", author=author)
    state = get_channel("testapp.RoomChannel").state()
    pks = {"": room.pk, "messages": message.pk, "messages.author": author.pk}
    for layer in state.layers:
        if layer.path in pks:
            (row,) = load_rows(layer, [pks[layer.path]]).values()
            assert _local.representations[layer] is not None, layer
    assert json.loads(row.text) == {"id": author.pk, "name": "ann"}


def test_a_batch_of_rows_all_gone_renders_nothing(room: Room) -> None:
    """The first batch of a layer read through instances may find none of its rows."""
    layer = next(
        x for x in get_channel("testapp.RoomChannel").state().layers if x.path == "messages"
    )
    _local.__dict__.get("representations", {}).pop(layer, None)  # a worker's first batch
    assert load_rows(layer, [10**9]) == {}
    assert _local.representations[layer].instances  # (get_shout reads the instance)
    message = Message.objects.create(room=room, text="back")
    assert load_rows(layer, [message.pk])[message.pk].doc["shout"] == "BACK"


def test_a_first_batch_of_no_key_still_leaves_the_row_path_to_the_next(room: Room) -> None:
    layer = next(x for x in get_channel("testapp.RoomChannel").state().layers if x.path == "")
    _local.__dict__.get("representations", {}).pop(layer, None)
    compiled_here.__dict__.get("compiled", {}).pop(("rows", layer), None)  # a fresh worker
    assert load_rows(layer, [None]) == {}
    assert load_rows(layer, [room.pk])[room.pk].doc["name"] == "r"
    assert _local.representations[layer] is not None


@settings(max_examples=200, deadline=None)
@given(
    doc=st.dictionaries(
        st.one_of(st.text(), st.integers(), st.booleans(), st.none()),
        json_values | st.floats(allow_nan=False) | st.text(),
        max_size=6,
    )
)
def test_encode_gives_the_text_json_dumps_gave(doc: dict[Any, Any]) -> None:
    try:
        expected = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        with pytest.raises(ValueError, match="Out of range float"):
            encode(doc)
        return
    assert encode(doc) == expected


def test_encode_refuses_non_finite_floats() -> None:
    for value in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="Out of range float"):
            encode({"x": [value]})

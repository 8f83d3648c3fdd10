"""Nested serializers become flat layers; what cannot be tracked is refused by name."""

import pytest
from django.contrib.contenttypes.fields import GenericRelation
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from rest_framework import serializers

from rxcdc.channels import StateChannel, get_channel
from rxcdc.layers import Relation, build_state
from rxcdc.serialize import load_rows
from tests.testapp.models import Message, Room
from tests.testapp.serializers import MessageSerializer, RoomSerializer


def test_room_channel_layers_follow_the_serializer_tree():
    layers = get_channel("testapp.RoomChannel").state().layers
    assert [(lyr.path, lyr.relation, lyr.table) for lyr in layers] == [
        ("", Relation.ROOT, "testapp_room"),
        ("messages", Relation.REVERSE, "testapp_message"),
        ("messages.author", Relation.FORWARD, "testapp_author"),
        ("messages.tags", Relation.M2M, "testapp_tag"),
        ("notes", Relation.REVERSE, "testapp_note"),
    ]
    assert layers[1].fk_column == "room_id"
    assert layers[2].fk_column == "author_id"
    assert (layers[3].through_table, layers[3].through_parent_column) == (
        "testapp_message_tags",
        "message_id",
    )
    assert layers[4].user_key == "user_id"
    assert get_channel("testapp.RoomChannel").state().tables() == {
        "testapp_room",
        "testapp_message",
        "testapp_author",
        "testapp_tag",
        "testapp_message_tags",
        "testapp_note",
    }


@pytest.mark.django_db
def test_flat_serializer_turns_nested_fields_into_ids():
    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="hi")
    root = get_channel("testapp.RoomChannel").state().root
    (row,) = load_rows(root, [room.pk]).values()
    assert row.doc == {"id": room.pk, "name": "r", "messages": [m.pk], "notes": []}
    assert row.links == {"messages": [m.pk], "notes": []}


@pytest.mark.django_db
def test_to_many_ids_follow_the_related_models_ordering():
    from tests.testapp.models import Tag

    room = Room.objects.create(name="r")
    m = Message.objects.create(room=room, text="hi")
    tags = [Tag.objects.create(name=n) for n in ("b", "c", "a")]
    m.tags.add(*tags)
    layer = get_channel("testapp.RoomChannel").state().layers[1]
    (row,) = load_rows(layer, [m.pk]).values()
    assert row.doc["tags"] == [t.pk for t in sorted(tags, key=lambda t: t.name)]
    assert row.doc["tags"] == [t["id"] for t in MessageSerializer(m).data["tags"]]


def test_list_channel_and_meta_state_alias():
    class Listed(StateChannel):
        class Meta:
            state = RoomSerializer(many=True)

    assert Listed.state().many is True
    assert Listed.state().root.model is Room


def test_channels_deny_by_default():
    class Quiet(StateChannel):
        class Meta:
            anchor = RoomSerializer()

    assert Quiet().has_permission(object()) is False
    assert Quiet().is_visible(object(), Room()) is False


def test_untrackable_relation_is_refused_by_name():
    class Tagged(models.Model):  # unmanaged: never touches the database or other models
        others = GenericRelation("contenttypes.ContentType")

        class Meta:
            app_label = "testapp"
            managed = False

    class OtherSerializer(serializers.ModelSerializer):
        class Meta:
            model = Room
            fields = ["id"]

    class BadSerializer(serializers.ModelSerializer):
        others = OtherSerializer(many=True, read_only=True)

        class Meta:
            model = Tagged
            fields = ["id", "others"]

    with pytest.raises(ImproperlyConfigured, match=r"others.*cannot be tracked from the WAL"):
        build_state(BadSerializer(), "testapp.Bad")


def test_nested_serializer_through_a_property_is_refused():
    class AuthorName(serializers.ModelSerializer):
        class Meta:
            model = Room
            fields = ["id"]

    class Bad(serializers.ModelSerializer):
        room = AuthorName(source="room.pk", read_only=True)

        class Meta:
            model = Message
            fields = ["id", "room"]

    with pytest.raises(ImproperlyConfigured, match=r"source 'room.pk' is not a model relation"):
        build_state(Bad(), "testapp.Bad")

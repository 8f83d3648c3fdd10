"""Every type-mapping rule: Python hints, DRF fields, model fields, layers, actions, routes."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import typing
import uuid
from typing import Any, Literal, NotRequired, Optional, TypedDict

import pytest
from django.db import models
from django.urls import path, re_path
from rest_framework import serializers

from rxcdc.actions import action
from rxcdc.channels import StateChannel
from rxcdc.codegen import CodegenError, generate
from rxcdc.codegen.channels import socket_url
from rxcdc.codegen.fields import FieldMapper, model_field_type
from rxcdc.codegen.hints import HintMapper
from rxcdc.codegen.routes import find_routes, parse_route
from tests.frontend.sink import Color, Point, SinkChannel, Stats, Tree, Window
from tests.testapp.models import Message, Room
from tests.testapp.serializers import MessageSerializer, RoomSerializer


def hint(h: Any, direction: Any = "out") -> str:
    return HintMapper().ts(h, "where", direction)


@pytest.mark.parametrize(
    ("h", "ts"),
    [
        (int, "number"),
        (float, "number"),
        (bool, "boolean"),
        (str, "string"),
        (None, "null"),
        (type(None), "null"),
        (decimal.Decimal, "string"),
        (datetime.datetime, "string"),
        (datetime.date, "string"),
        (datetime.time, "string"),
        (uuid.UUID, "string"),
        (Any, "unknown"),
        (object, "unknown"),
        (Optional[int], "number | null"),  # noqa: UP045
        (int | None, "number | null"),
        (typing.Union[int, str], "number | string"),  # noqa: UP007
        (list[int], "number[]"),
        (list[int | None], "(number | null)[]"),
        (list, "unknown[]"),
        (typing.List[str], "string[]"),  # noqa: UP006
        (tuple[int, ...], "number[]"),
        (tuple[int, str], "[number, string]"),
        (set[str], "string[]"),
        (frozenset[int], "number[]"),
        (typing.Sequence[int], "number[]"),
        (dict[str, int], "Record<string, number>"),
        (dict[int, list[str]], "Record<string, string[]>"),
        (dict, "Record<string, unknown>"),
        (typing.Mapping[str, float], "Record<string, number>"),
        (Literal["a", 1, True, None], '"a" | 1 | true | null'),
        (Color, '"red" | "blue"'),
        (typing.Annotated[int, "meta"], "number"),
        (typing.NewType("UserId", int), "number"),
    ],
)
def test_python_hints(h, ts):
    assert hint(h) == ts


def test_durations_follow_the_encoder():
    # flat instances go through jsonable() (seconds); action results through DRF's encoder
    assert hint(datetime.timedelta, "state") == "number"
    assert hint(datetime.timedelta, "out") == "string"
    with pytest.raises(CodegenError, match=r"where: unsupported type hint datetime\.timedelta"):
        hint(datetime.timedelta, "in")  # rxcdc.actions.convert() does not build timedeltas


def test_typeddicts_and_dataclasses_become_named_interfaces():
    mapper = HintMapper(reserved={"Stats"})
    assert mapper.ts(Point, "w", "out") == "Point"
    assert mapper.ts(list[Point], "w", "out") == "Point[]"
    assert mapper.ts(Tree, "w", "out") == "Tree"  # recursive
    assert mapper.ts(Stats, "w", "out") == "Stats2"  # a taken name gets a number
    assert mapper.ts(Window, "w", "in") == "WindowInput"  # defaults are optional in parameters
    assert mapper.ts(Window, "w", "out") == "Window"
    assert "  label?: string;" in mapper.declarations["Point"]  # NotRequired
    assert "  children: Tree[];" in mapper.declarations["Tree"]
    assert "  size?: number;" in mapper.declarations["WindowInput"]
    assert "  size: number;" in mapper.declarations["Window"]
    assert "  mean: number | null;" in mapper.declarations["Stats2"]

    class Partial(TypedDict, total=False):
        a: int
        b: typing.Required[str]

    mapper.ts(Partial, "w", "out")
    assert "  a?: number;\n  b: string;" in mapper.declarations["Partial"]


class Opaque:
    pass


@pytest.mark.parametrize(
    ("h", "name"),
    [
        (bytes, "builtins.bytes"),
        (Opaque, "tests.frontend.test_mapping.Opaque"),
        (list[bytes], "builtins.bytes"),
        (dict[tuple[int, int], int], "dict[tuple[int, int], int]"),
        (Literal[b"x"], "typing.Literal[b'x']"),
        (models.Model, "django.db.models.base.Model"),
    ],
)
def test_unsupported_hints_are_errors_naming_them(h, name):
    with pytest.raises(CodegenError, match=f"where: unsupported type hint {_re(name)}"):
        hint(h)


def test_enums_cannot_be_parameters():
    with pytest.raises(CodegenError, match=_re("unsupported type hint tests.frontend.sink.Color")):
        hint(Color, "in")


def _re(text: str) -> str:
    import re

    return re.escape(text)


class Fields(serializers.Serializer):
    pass


def field(f: serializers.Field, **overrides: str) -> str:
    return FieldMapper(Fields(), HintMapper(), "S", overrides).ts("f", f)


@pytest.mark.parametrize(
    ("f", "ts"),
    [
        (serializers.IntegerField(), "number"),
        (serializers.BigIntegerField(), "number | bigint"),  # a bigint past 2^53 (json.ts)
        (serializers.BigIntegerField(coerce_to_string=True), "string"),
        (serializers.FloatField(), "number"),
        (serializers.DecimalField(max_digits=5, decimal_places=2), "string"),
        (
            serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=False),
            "string",
        ),
        (serializers.BooleanField(), "boolean"),
        (serializers.CharField(), "string"),
        (serializers.CharField(allow_null=True), "string | null"),
        (serializers.EmailField(), "string"),
        (serializers.SlugField(), "string"),
        (serializers.URLField(), "string"),
        (serializers.RegexField(r"\d+"), "string"),
        (serializers.IPAddressField(), "string"),
        (serializers.UUIDField(), "string"),
        (serializers.UUIDField(format="int"), "number | bigint"),  # 128 bits
        (serializers.DateTimeField(), "string"),
        (serializers.DateField(), "string"),
        (serializers.TimeField(), "string"),
        (serializers.DurationField(), "string"),
        (serializers.ChoiceField(choices=["a", "b"]), '"a" | "b"'),
        (serializers.ChoiceField(choices=[(1, "one"), (2, "two")]), "1 | 2"),
        (
            serializers.ChoiceField(choices=["a"], allow_blank=True, allow_null=True),
            '"a" | "" | null',
        ),
        (serializers.ChoiceField(choices=[("G", [("x", "X"), ("y", "Y")])]), '"x" | "y"'),
        (serializers.MultipleChoiceField(choices=["a", "b"]), '("a" | "b")[]'),
        (serializers.FilePathField(path="/tmp"), "string"),
        (serializers.ListField(child=serializers.IntegerField()), "number[]"),
        (serializers.ListField(child=serializers.CharField(allow_null=True)), "(string | null)[]"),
        (serializers.ListField(), "unknown[]"),
        (serializers.DictField(child=serializers.DecimalField(5, 2)), "Record<string, string>"),
        (serializers.DictField(), "Record<string, unknown>"),
        (serializers.HStoreField(), "Record<string, string | null>"),
        (serializers.JSONField(), "unknown"),
        (serializers.FileField(), "string | null"),
        (serializers.ImageField(), "string | null"),
        (serializers.HyperlinkedRelatedField(view_name="x", read_only=True), "string"),
        (serializers.StringRelatedField(), "string"),
        # Room's key is a BigAutoField
        (serializers.PrimaryKeyRelatedField(queryset=Room.objects.all()), "number | bigint"),
        (
            serializers.PrimaryKeyRelatedField(queryset=Room.objects.all(), many=True),
            "(number | bigint)[]",
        ),
        (
            serializers.PrimaryKeyRelatedField(queryset=Room.objects.all(), allow_null=True),
            "number | bigint | null",
        ),
        (serializers.SlugRelatedField(slug_field="name", queryset=Room.objects.all()), "string"),
        (
            serializers.ModelField(model_field=models.DecimalField(max_digits=4, decimal_places=1)),
            "string",
        ),
    ],
)
def test_drf_fields(f, ts):
    assert field(f) == ts


class ColorField(serializers.Field):
    pass


def test_unknown_fields_error_unless_mapped():
    with pytest.raises(CodegenError, match=r"S\.f: unsupported serializer field .*ColorField"):
        field(ColorField())
    assert field(ColorField(), **{f"{__name__}.ColorField": '"red" | "blue"'}) == '"red" | "blue"'
    # subclasses of known fields map like their base
    assert field(type("Upper", (serializers.CharField,), {})()) == "string"


@pytest.mark.parametrize(
    ("f", "ts"),
    [
        (models.AutoField(primary_key=True), "number"),
        (models.SmallAutoField(primary_key=True), "number"),
        (models.IntegerField(null=True), "number | null"),
        (models.PositiveIntegerField(), "number"),
        # 64-bit: past 2^53 the client holds a bigint
        (models.BigAutoField(primary_key=True), "number | bigint"),
        (models.BigIntegerField(null=True), "number | bigint | null"),
        (models.PositiveBigIntegerField(), "number | bigint"),
        (models.PositiveSmallIntegerField(), "number"),
        (models.FloatField(null=True), "number | null"),
        (
            models.GeneratedField(
                expression=models.F("x"), output_field=models.IntegerField(), db_persist=True
            ),
            "number",
        ),
        (models.DecimalField(max_digits=4, decimal_places=1), "string"),
        (models.BooleanField(), "boolean"),
        (models.DateTimeField(), "string"),
        (models.DateField(), "string"),
        (models.DurationField(), "number"),  # jsonable() sends seconds
        (models.UUIDField(), "string"),
        (models.TextField(), "string"),
        (models.EmailField(null=True), "string | null"),
        (models.JSONField(), "unknown"),
        (models.FileField(), "string"),
    ],
)
def test_model_fields(f, ts):
    assert model_field_type(f, HintMapper(), "w", {}) == ts


def test_unknown_model_fields_error():
    with pytest.raises(CodegenError, match="w: unsupported model field BinaryField"):
        model_field_type(models.BinaryField(), HintMapper(), "w", {})


class MessageFields(serializers.ModelSerializer):
    room_name = serializers.ReadOnlyField(source="room.name")
    label = serializers.ReadOnlyField()
    computed = serializers.SerializerMethodField()
    untyped = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "text", "room", "author", "room_name", "label", "computed", "untyped"]
        read_only_fields = ["author"]

    def get_computed(self, obj: Message) -> dict[str, list[decimal.Decimal]]:
        return {}

    def get_untyped(self, obj):
        return None


def test_model_serializer_fields(monkeypatch: pytest.MonkeyPatch):
    def label(self: Message) -> str | None:
        return None

    monkeypatch.setattr(Message, "label", property(label), raising=False)
    ser = MessageFields()
    mapper = FieldMapper(ser, HintMapper(), "M", {})
    types = {name: mapper.ts(name, f) for name, f in ser.fields.items()}
    assert types == {
        "id": "number | bigint",  # BigAutoField → BigIntegerField
        "text": "string",
        "room": "number | bigint",
        "author": "number | bigint | null",  # nullable FK, read-only: no queryset
        "room_name": "string",
        "label": "string | null",
        "computed": "Record<string, string[]>",
        "untyped": "unknown",
    }


def test_layers_become_instance_and_state_interfaces():
    text = generate([SinkChannel])["testapp.interfaces.ts"]
    # a nullable FK: an id or null when flat, the nested state or null when built
    assert "  readonly author: Ref<AuthorState> | null;" in text
    assert "  readonly author: AuthorState | null;" in text
    assert "  readonly messages: readonly Ref<SinkMessageState>[];" in text
    assert "  readonly messages: readonly SinkMessageState[];" in text
    assert '  readonly _type: "testapp.SinkMessageSerializer";' in text
    assert "  readonly _pk: number | bigint;" in text  # a BigAutoField key
    # writable types: every writable field optional for save; required ones for create
    room = "number | bigint"
    save = (
        f"export interface SinkMessageSave {{\n  readonly text?: string;\n  readonly room?: {room};"
    )
    create = (
        f"export interface SinkMessageCreate {{\n  readonly text: string;\n  readonly room: {room};"
    )
    assert save in text
    assert create in text


def test_actions_runtime_and_route_of_a_channel():
    text = generate([SinkChannel])["tests.channels.ts"]
    assert (
        "    optional: (a: number | null, b?: number | null, default_?: string): "
        "Promise<number[]> =>\n"
        '      this.call<number[]>("optional", { a, b, default: default_ }),'
    ) in text
    assert "    untyped: (anything: unknown, more: unknown): Promise<null> =>" in text
    assert (
        '    mixedCaseName: (): Promise<string> =>\n      this.call<string>("mixed_case_name", {}),'
        in text
    )
    assert "    shapes: (point: Point, window: WindowInput, tree: Tree): Promise<Stats> =>" in text
    assert "  readonly focus: number | null;" in text
    assert "  constructor(space: string, room: number | bigint, key: string, rest: string" in text
    assert 'encodeURI(String(rest)) + "/"' in text
    assert '  return "";' in text  # RX_WEBSOCKET_URL "": this page's host


def _channel(name: str, **attrs: Any) -> type[StateChannel]:
    meta = type("Meta", (), {"anchor": RoomSerializer(), "route": "ws/x/", **attrs.pop("meta", {})})
    return type(name, (StateChannel,), {"Meta": meta, "__module__": __name__, **attrs})


def test_action_errors_name_the_action():
    @action
    def star(self, *names: str) -> None: ...

    @action
    def raw(self, data: bytes) -> None: ...

    @action
    def a_b(self) -> None: ...

    @action
    def aB(self) -> None: ...

    with pytest.raises(CodegenError, match=r"tests.Star.star: parameter names \(variadic"):
        generate([_channel("Star", star=star)])
    with pytest.raises(
        CodegenError, match=r"tests.Raw.raw\(data\): unsupported type hint builtins.bytes"
    ):
        generate([_channel("Raw", raw=raw)])
    with pytest.raises(CodegenError, match="actions 'aB' and 'a_b' are both aB"):
        generate([_channel("Twice", a_b=a_b, aB=aB)])


def test_writable_errors():
    with pytest.raises(CodegenError, match="only rows under a parent's reverse FK can be created"):
        generate([_channel("RootCreate", meta={"writable": {RoomSerializer: ["create"]}})])
    from tests.testapp.serializers import BoardSerializer

    with pytest.raises(CodegenError, match="names BoardSerializer, which is not in the state"):
        generate([_channel("Elsewhere", meta={"writable": {BoardSerializer: ["save"]}})])
    with pytest.raises(CodegenError, match="unknown operation 'update'"):
        generate([_channel("BadOp", meta={"writable": {MessageSerializer: ["update"]}})])


def test_two_serializers_with_one_type_key_are_refused():
    class MessageSerializer(serializers.ModelSerializer):  # same name, other class
        class Meta:
            model = Message
            fields = ["id"]

    class OtherRoom(serializers.ModelSerializer):
        messages = MessageSerializer(many=True, read_only=True)

        class Meta:
            model = Room
            fields = ["id", "messages"]

    first = _channel("First")
    second = _channel("Second", meta={"anchor": OtherRoom()})
    with pytest.raises(
        CodegenError, match=_re("two serializers map to type 'testapp.MessageSerializer'")
    ):
        generate([first, second])


@pytest.mark.parametrize(
    ("value", "ts"),
    [
        ("wss://example.com/", '"wss://example.com/"'),
        ("http://localhost:8000", '"http://localhost:8000"'),
        ("/socket/", '"/socket/"'),
        ("", '""'),
        (None, '""'),
        ("import.meta.env.VITE_RX_WEBSOCKET_URL", "import.meta.env.VITE_RX_WEBSOCKET_URL"),
        ("process.env.NEXT_PUBLIC_RX_URL", "process.env.NEXT_PUBLIC_RX_URL"),
    ],
)
def test_websocket_url(value, ts):
    assert socket_url(value) == ts


def test_websocket_url_refuses_anything_else():
    with pytest.raises(CodegenError, match="neither a URL"):
        socket_url("localhost:8000; alert(1)")


def test_route_parameters():
    route = parse_route("ws/<int:a>/<b>/<slug:c>/<uuid:d>/<path:e>/<custom:f>/")
    assert route.ts_params() == [
        ("a", "a", "number | bigint"),  # String() of a bigint is exact
        ("b", "b", "string"),
        ("c", "c", "string"),
        ("d", "d", "string"),
        ("e", "e", "string"),
        ("f", "f", "string"),
    ]
    assert parse_route("ws/<int:options>/").ts_params() == [
        ("options", "options_", "number | bigint")
    ]
    assert (
        parse_route("ws/<str:new>/").ts_path() == '"ws/" + encodeURIComponent(String(new_)) + "/"'
    )


def test_routes_from_the_urlconf(monkeypatch: pytest.MonkeyPatch):
    import sys
    import types

    from channels.auth import AuthMiddlewareStack
    from channels.routing import URLRouter

    room = _channel("NoRoute", meta={"route": None})
    module = types.ModuleType("rx_test_routing")
    module.websocket_urlpatterns = [  # type: ignore[attr-defined]
        path("api/", URLRouter([path("room/<int:room>/", AuthMiddlewareStack(room.as_asgi()))])),
    ]
    monkeypatch.setitem(sys.modules, "rx_test_routing", module)
    assert find_routes([room], "rx_test_routing")[room].pattern == "api/room/<int:room>/"
    assert find_routes([room], ["rx_test_routing"])[room].params == [("room", "int")]
    # Meta.route wins over the urlconf
    explicit = _channel("Explicit", meta={"route": "ws/explicit/"})
    assert find_routes([explicit], "rx_test_routing")[explicit].pattern == "ws/explicit/"
    with pytest.raises(CodegenError, match=_re("tests.Other: no route found")):
        find_routes([_channel("Other", meta={"route": None})], "rx_test_routing")
    module.websocket_urlpatterns = [re_path(r"^ws/(?P<x>\d+)/$", room.as_asgi())]  # type: ignore[attr-defined]
    with pytest.raises(CodegenError, match="re_path patterns cannot be turned into URLs"):
        find_routes([room], "rx_test_routing")


def test_dataclass_parameters_keep_field_names():
    @dataclasses.dataclass
    class Q:
        text: str
        limit: int = 5

    mapper = HintMapper()
    assert mapper.ts(list[Q], "w", "in") == "QInput[]"
    assert mapper.declarations["QInput"].endswith("  text: string;\n  limit?: number;\n}")


def test_typed_dict_with_future_annotations():
    # sink.py uses `from __future__ import annotations`: NotRequired must still be optional
    assert NotRequired is typing.NotRequired
    mapper = HintMapper()
    mapper.ts(Point, "w", "out")
    assert "label?: string" in mapper.declarations["Point"]


class Mood(enum.IntEnum):
    LOW = 1
    HIGH = 2


def test_int_enums():
    assert hint(Mood) == "1 | 2"

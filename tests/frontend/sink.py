"""A channel using every mapping rule at once: its generated TS must compile (test_typescript)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Any, Literal, NotRequired, Optional, TypedDict

from rest_framework import serializers

from rxcdc.actions import action
from rxcdc.channels import StateChannel
from rxcdc.codegen import BigInt
from tests.testapp.models import Message, Room
from tests.testapp.serializers import AuthorSerializer


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(TypedDict):
    x: float
    y: float
    label: NotRequired[str]


class Tree(TypedDict):
    name: str
    children: list[Tree]


@dataclasses.dataclass
class Window:
    start: datetime.datetime
    size: int = 10
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Stats:
    count: int
    mean: float | None
    by_color: dict[str, int]


class SinkMessageSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    price = serializers.DecimalField(max_digits=8, decimal_places=2, read_only=True)
    big = serializers.IntegerField(read_only=True)
    ratio = serializers.FloatField(read_only=True, allow_null=True)
    when = serializers.DateTimeField(read_only=True)
    day = serializers.DateField(read_only=True)
    at = serializers.TimeField(read_only=True)
    took = serializers.DurationField(read_only=True)
    ident = serializers.UUIDField(read_only=True)
    mood = serializers.ChoiceField(choices=[("ok", "OK"), ("meh", "Meh")], read_only=True)
    level = serializers.ChoiceField(choices=[1, 2, 3], allow_null=True, read_only=True)
    flags = serializers.MultipleChoiceField(choices=["a", "b"], read_only=True)
    scores = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    extra = serializers.DictField(child=serializers.CharField(), read_only=True)
    blob = serializers.JSONField(read_only=True)
    room_name = serializers.ReadOnlyField(source="room.name")
    author_id = serializers.ReadOnlyField(source="author.id")
    hue = serializers.SerializerMethodField()
    where = serializers.SerializerMethodField()
    raw = serializers.SerializerMethodField()
    huge = serializers.BigIntegerField(read_only=True)
    huge_text = serializers.BigIntegerField(coerce_to_string=True, read_only=True)
    exact = serializers.DecimalField(
        max_digits=40, decimal_places=0, coerce_to_string=False, read_only=True
    )
    room_key = serializers.ReadOnlyField(source="room.id")
    snowflake = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id", "text", "room", "author", "price", "big", "ratio", "when", "day", "at", "took",
            "ident", "mood", "level", "flags", "scores", "extra", "blob", "room_name", "author_id",
            "hue", "where", "raw", "huge", "huge_text", "exact", "room_key", "snowflake",
        ]  # fmt: skip

    def get_hue(self, obj: Message) -> Color | None:
        return None

    def get_where(self, obj: Message) -> Point:
        return {"x": 0, "y": 0}

    def get_raw(self, obj: Message):  # no hint: unknown
        return None

    def get_snowflake(self, obj: Message) -> BigInt:
        return BigInt(2**63 - 1)


class SinkRoomSerializer(serializers.ModelSerializer):
    messages = SinkMessageSerializer(many=True, read_only=True)

    class Meta:
        model = Room
        fields = ["id", "name", "messages"]


class SinkChannel(StateChannel):
    class Meta:
        anchor = SinkRoomSerializer()
        route = "ws/sink/<slug:space>/<int:room>/<uuid:key>/<path:rest>/"
        writable = {SinkMessageSerializer: ["save", "create", "delete"]}
        runtime = {"greeting": str, "counts": dict[str, int], "focus": Optional[int]}  # noqa: UP045

    @action
    def plain(self, a: int, b: str, c: bool, d: float, e: None) -> str:
        """Scalars in, a string out."""
        return ""

    @action
    def money(
        self, amount: decimal.Decimal, when: datetime.date, ident: uuid.UUID
    ) -> decimal.Decimal:
        return amount

    @action
    def optional(self, a: Optional[int], b: int | None = None, *, default: str = "") -> list[int]:  # noqa: UP045
        return []

    @action
    def shapes(self, point: Point, window: Window, tree: Tree) -> Stats:
        raise NotImplementedError

    @action
    def containers(
        self, pairs: list[tuple[int, str]], many: tuple[int, ...], names: set[str]
    ) -> dict[str, list[Point]]:
        return {}

    @action
    def literal(self, mode: Literal["fast", "slow", 3]) -> Literal["done"] | Color:
        return "done"

    @action
    def untyped(self, anything, more: Any) -> None:
        return None

    @action
    def lookup(self, key: BigInt, count: int) -> list[BigInt]:
        """Integers that may pass 2^53 both ways."""
        return [key] * count

    @action
    def mixed_case_name(self) -> datetime.timedelta:
        return datetime.timedelta()

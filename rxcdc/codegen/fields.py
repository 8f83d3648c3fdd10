"""DRF serializer fields and Django model fields → TypeScript (what the server sends)."""

from __future__ import annotations

import datetime
import decimal
import typing
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import fields as f
from rest_framework import relations as r
from rest_framework.settings import api_settings

from rxcdc.codegen.hints import BIGINT_TS, HintMapper
from rxcdc.codegen.ts import CodegenError, array, literal, union

__all__ = ["FieldMapper", "model_field_type", "pk_kind", "pk_type"]

# Model fields by the Python value a ReadOnlyField/ModelField sends (subclasses before bases).
_MODEL_VALUES: list[tuple[type[models.Field[Any, Any]], Any]] = [
    (models.BooleanField, bool),
    (models.IntegerField, int),  # Small/Positive/Big and the auto fields included
    (models.FloatField, float),
    (models.DecimalField, decimal.Decimal),
    (models.DateTimeField, datetime.datetime),
    (models.DateField, datetime.date),
    (models.TimeField, datetime.time),
    (models.DurationField, datetime.timedelta),
    (models.UUIDField, uuid.UUID),
    (models.CharField, str),  # Email, Slug, URL, FilePath fields included
    (models.TextField, str),
    (models.GenericIPAddressField, str),
    (models.FileField, str),  # ImageField included
    (models.JSONField, Any),
]


def model_field_type(
    model_field: Any, hints: HintMapper, where: str, overrides: Mapping[str, str]
) -> str:
    """The TS type of a model field's value as a flat instance carries it (null included)."""
    override = _override(type(model_field), overrides)
    if override is not None:
        base = override
    elif isinstance(model_field, models.ForeignKey):
        base = model_field_type(model_field.target_field, hints, where, overrides).removesuffix(
            " | null"
        )
    elif isinstance(model_field, models.GeneratedField):
        # A column the database computes: typed by what it computes to (output_field).
        base = model_field_type(model_field.output_field, hints, where, overrides).removesuffix(
            " | null"
        )
    elif isinstance(model_field, models.BigIntegerField):
        # BigAutoField and PositiveBigIntegerField too: 64-bit, past 2^53 the client holds a bigint
        base = BIGINT_TS
    elif isinstance(model_field, models.AutoField | models.SmallAutoField):
        base = "number"
    else:
        for cls, value in _MODEL_VALUES:
            if isinstance(model_field, cls):
                base = hints.ts(value, where, "state")
                break
        else:
            raise CodegenError(
                f"{where}: unsupported model field {type(model_field).__qualname__}; "
                "map it in RX_TS_TYPES"
            )
    return union(base, "null") if getattr(model_field, "null", False) else base


def pk_kind(model: type[models.Model]) -> str:
    """``"number"`` or ``"string"``: the runtime's ``pkKind`` for this model's rows.

    A bigint key counts as a number: temporary keys of optimistic creates are negative numbers.
    """
    integer = isinstance(_pk_field(model), models.IntegerField | models.AutoField)
    return "number" if integer else "string"


def pk_type(model: type[models.Model], overrides: Mapping[str, str]) -> str:
    """The TS type of ``_pk``: ``number | bigint`` for 64-bit integer keys (or RX_TS_TYPES')."""
    pk = _pk_field(model)
    override = _override(type(pk), overrides)
    if override is not None:
        return override
    return BIGINT_TS if isinstance(pk, models.BigIntegerField) else pk_kind(model)


def _pk_field(model: type[models.Model]) -> Any:
    pk = model._meta.pk
    while isinstance(pk, models.ForeignKey):
        pk = pk.target_field
    return pk


def _override(cls: type, overrides: Mapping[str, str]) -> str | None:
    for klass in cls.__mro__:
        name = f"{klass.__module__}.{klass.__qualname__}"
        if name in overrides:
            return overrides[name]
    return None


class FieldMapper:
    """Types the fields of one serializer (its model resolves relations and read-only fields)."""

    def __init__(
        self, serializer: Any, hints: HintMapper, where: str, overrides: Mapping[str, str]
    ) -> None:
        self.serializer = serializer
        meta = getattr(serializer, "Meta", None)
        self.model: type[models.Model] | None = getattr(meta, "model", None)
        self.hints = hints
        self.where = where
        self.overrides = overrides

    def ts(self, name: str, field: f.Field) -> str:
        """TS type of ``field``'s value, ``| null`` when it may be null."""
        where = f"{self.where}.{name}"
        base = self._base(field, where)
        return union(base, "null") if field.allow_null else base

    def _base(self, field: f.Field, where: str) -> str:
        override = _override(type(field), self.overrides)
        if override is not None:
            return override
        if isinstance(field, r.ManyRelatedField):
            return array(self._base(field.child_relation, where))
        if isinstance(field, r.PrimaryKeyRelatedField):
            return self._pk(field, where)
        if isinstance(field, r.SlugRelatedField):
            related = self._related(field)
            if related is None:
                return "string"
            slug = related._meta.get_field(field.slug_field)
            return model_field_type(slug, self.hints, where, self.overrides).removesuffix(" | null")
        if isinstance(field, r.HyperlinkedRelatedField | r.StringRelatedField):
            return "string"
        if isinstance(field, f.SerializerMethodField):
            method = getattr(self.serializer, field.method_name)
            hint = typing.get_type_hints(method).get("return")
            return "unknown" if hint is None else self.hints.ts(hint, where, "state")
        if isinstance(field, f.ReadOnlyField | f.ModelField):
            return self._source(field, where)
        return self._scalar(field, where)

    def _scalar(self, field: f.Field, where: str) -> str:
        if isinstance(field, f.BooleanField):
            return "boolean"
        if isinstance(field, f.FilePathField):  # choices depend on the disk: keep it a string
            return "string"
        if isinstance(field, f.MultipleChoiceField):
            return array(self._choices(field))
        if isinstance(field, f.ChoiceField):
            return self._choices(field)
        if isinstance(field, f.UUIDField):  # format="int": a 128-bit integer
            return BIGINT_TS if field.uuid_format == "int" else "string"
        if isinstance(field, f.BigIntegerField):
            coerce = getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)
            return "string" if coerce else BIGINT_TS
        if isinstance(field, f.IntegerField | f.FloatField):
            return "number"
        if isinstance(field, f.CharField | f.DecimalField | f.DurationField):
            return "string"
        if isinstance(field, f.DateTimeField | f.DateField | f.TimeField):
            return "string"
        if isinstance(field, f.FileField):
            return "string | null"  # the URL or name; null without a file
        if isinstance(field, f.HStoreField):
            return "Record<string, string | null>"
        if isinstance(field, f.DictField):
            return f"Record<string, {self._child(field.child, where)}>"
        if isinstance(field, f.ListField):
            return array(self._child(field.child, where))
        if isinstance(field, f.JSONField):
            return "unknown"
        raise CodegenError(
            f"{where}: unsupported serializer field {type(field).__module__}."
            f"{type(field).__qualname__}; map it in RX_TS_TYPES"
        )

    def _child(self, child: f.Field, where: str) -> str:
        if type(child).__name__ == "_UnvalidatedField":
            return "unknown"
        base = self._base(child, where)
        return union(base, "null") if child.allow_null else base

    def _choices(self, field: f.ChoiceField) -> str:
        values = [literal(k) for k in field.choices]
        if getattr(field, "allow_blank", False):
            values.append('""')
        return union(*values) if values else "never"

    def _related(self, field: r.RelatedField) -> type[models.Model] | None:
        queryset = getattr(field, "queryset", None)
        if queryset is not None:
            return typing.cast(type[models.Model], queryset.model)
        if self.model is None or field.source in ("*", None) or "." in field.source:
            return None
        try:
            model_field = self.model._meta.get_field(field.source)
        except Exception:
            return None
        return typing.cast(type[models.Model] | None, model_field.related_model)

    def _pk(self, field: r.PrimaryKeyRelatedField, where: str) -> str:
        if field.pk_field is not None:
            return self._base(field.pk_field, where)
        related = self._related(field)
        if related is None:
            raise CodegenError(f"{where}: cannot tell the related model of this field")
        pk = related._meta.pk
        return model_field_type(pk, self.hints, where, self.overrides).removesuffix(" | null")

    def _source(self, field: f.Field, where: str) -> str:
        if isinstance(field, f.ModelField):
            return model_field_type(field.model_field, self.hints, where, self.overrides)
        model: Any = self.model
        parts = (field.source or "").split(".")
        for i, part in enumerate(parts):
            if model is None:
                break
            try:
                model_field = model._meta.get_field(part)
            except Exception:
                attr = getattr(model, part, None)
                if isinstance(attr, property) and i == len(parts) - 1:
                    hint = typing.get_type_hints(attr.fget).get("return")
                    return "unknown" if hint is None else self.hints.ts(hint, where, "state")
                return "unknown"
            if i == len(parts) - 1:
                return model_field_type(model_field, self.hints, where, self.overrides)
            model = model_field.related_model
        return "unknown"

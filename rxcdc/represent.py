"""A flat serializer's output built from fetched rows, where that gives exactly what DRF gives.

``Serializer.to_representation`` builds a model instance per row and dispatches through each
field's ``get_attribute``: most of a batch's serialization before this. A field that reads
one concrete column through DRF's own ``get_attribute``, with a ``to_representation`` DRF owns
(``_KNOWN``), gives ``to_representation(column value)``, so the value is read from the row.
Other fields (``SerializerMethodField``, dotted sources, custom fields) still get the instance,
through DRF's own per-field steps, in the serializer's field order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from rest_framework import fields, relations, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from rxcdc.compiled import Compiled
from rxcdc.layers import _LinksPlaceholder

__all__ = ["Representation", "representation"]

# DRF's own ``to_representation`` functions, each a pure function of the column value (and of
# settings, the active time zone or the field's options, read at each call).
_KNOWN = frozenset(
    {
        fields.CharField.to_representation,  # also EmailField, SlugField, URLField, ...
        fields.IntegerField.to_representation,
        fields.BigIntegerField.to_representation,
        fields.FloatField.to_representation,
        fields.BooleanField.to_representation,
        fields.ReadOnlyField.to_representation,
        fields.DecimalField.to_representation,
        fields.DateTimeField.to_representation,
        fields.DateField.to_representation,
        fields.TimeField.to_representation,
        fields.DurationField.to_representation,
        fields.UUIDField.to_representation,
        fields.ChoiceField.to_representation,
        fields.JSONField.to_representation,
    }
)
_COLUMN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)
_PK_VALUES = frozenset({int, str})  # pk values without a ``pk`` attribute of their own

# Step kinds: a column through a known function; a primary key related field (the FK column);
# the links placeholder (None, filled later); any other field, through the instance.
_VALUE, _PK, _NONE, _FIELD = range(4)


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    kind: int
    key: Any  # where the value is: a row position, or an attname in the instance's __dict__
    attname: str | None  # the column's
    field: Any  # the DRF field
    function: Callable[[Any], Any] | None = None  # its bound to_representation


class Representation:
    """How one flat serializer's output is built from rows of its layer's compiled query.

    ``instances``: some field needs the model instance (then every read goes through it,
    after the fields before it ran, as in DRF).
    """

    def __init__(
        self,
        query: Compiled,
        serializer: Any,
        model: type[models.Model],
        columns: dict[str, int],
        extras: Sequence[str],
    ) -> None:
        self.query, self.model, self.serializer = query, model, serializer
        self.names = list(extras)  # what ``extras`` reads: attnames, or "pk"
        steps = [_step(f, model, columns) for f in serializer._readable_fields]
        self.instances = any(s.kind == _FIELD for s in steps)
        # Keys into a row, or (with instances) into obj.__dict__: fields may have changed it.
        self.extras: list[Any]
        if self.instances:
            steps = [_rekey(s) for s in steps]
            self.extras = [_attname(model, a) for a in extras]
        else:
            self.extras = [columns[_attname(model, a)] for a in extras]
        self.steps = steps
        self.builder = _Builder(query, model) if _Builder.fits(query, model) else None

    def _instances(self, rows: list[Any]) -> list[Any]:
        """Model instances of the rows, as ``Model.from_db`` builds them (see ``_Builder``)."""
        if self.builder is None or not rows:
            return self.query.instances(rows)
        if not self.builder.checked:
            self.builder.check(rows[0])
        return self.query.instances(rows) if self.builder.differs else self.builder.build(rows)

    def applies(self) -> bool:
        """Whether it still applies: no init signal receivers (that could change an instance)."""
        return not (pre_init.has_listeners(self.model) or post_init.has_listeners(self.model))

    def documents(self, rows: list[Any]) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        """Per row: the serializer's output and the values of ``extras``, in their order."""
        plan = [(s.name, s.kind, s.key, s.function, _exact(s), s.field) for s in self.steps]
        instances = self.instances
        objs = self._instances(rows) if instances else rows
        # (itemgetter of one key gives the value, of several a tuple)
        take = itemgetter(*self.extras) if len(self.extras) > 1 else None
        first = self.extras[0] if self.extras else None
        obj = None
        for item in objs:
            if instances:
                obj, source = item, item.__dict__
            else:
                source = item
            doc: dict[str, Any] = {}
            for name, kind, key, function, exact, field in plan:
                if kind == _VALUE:
                    value = source[key]
                    if value is None or type(value) is exact:
                        doc[name] = value
                    else:
                        doc[name] = _represent(function, value)
                elif kind == _PK:
                    value = source[key]
                    if value is not None and type(value) not in _PK_VALUES:
                        value = getattr(value, "pk", value)  # as RelatedField.get_attribute
                    doc[name] = value
                elif kind == _NONE:
                    doc[name] = None
                else:  # DRF's Serializer.to_representation, for one field
                    try:
                        attribute = field.get_attribute(obj)
                    except SkipField:
                        continue
                    check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                    doc[name] = None if check is None else field.to_representation(attribute)
            if take is not None:
                yield doc, list(take(source))
            else:
                yield doc, [] if first is None else [source[first]]


class _Builder:
    """Model instances built as ``Model.from_db`` builds them, without its per-field setattr.

    Only for a model whose every column is loaded into Django's own descriptors (a setattr of
    them stores the value in the instance's __dict__) and whose ``__init__`` is Django's alone;
    checked once against ``from_db`` on a real row (``differs``: then ``from_db`` it is).
    """

    def __init__(self, query: Compiled, model: type[models.Model]) -> None:
        self.query, self.model = query, model
        self.attnames = list(query.init_list)
        # Setting an FK's column asks whether the related object is cached, which gives the
        # state its fields_cache (a descriptor makes it on first access).
        self.caches = any(
            type(inspect.getattr_static(model, a)) is ForeignKeyDeferredAttribute
            for a in self.attnames
        )
        self.checked = self.differs = False

    @staticmethod
    def fits(query: Compiled, model: type[models.Model]) -> bool:
        """Whether the rows hold every column, each behind Django's own descriptor."""
        concrete = [f.attname for f in model._meta.concrete_fields]
        return (
            list(query.init_list) == concrete
            and not model._meta.abstract
            and super(models.Model, model).__init__ is object.__init__
            and all(_column_descriptor(model, a) for a in concrete)
        )

    def build(self, rows: list[Any]) -> list[Any]:
        """What ``query.instances(rows)`` gives."""
        model, db, attnames, caches = self.model, self.query.queryset.db, self.attnames, self.caches
        annotations = list(self.query.annotations.items())
        new, span = object.__new__, self.query.span
        out = []
        for row in rows:
            obj = new(model)
            state = ModelState()
            if caches:
                state.fields_cache = {}
            state.adding = False
            state.db = db
            fields = obj.__dict__
            fields["_state"] = state
            fields.update(zip(attnames, row[span], strict=True))
            for name, pos in annotations:
                setattr(obj, name, row[pos])
            out.append(obj)
        return out

    def check(self, row: Any) -> None:
        """Compare one instance with ``from_db``'s: the same attributes, the same state."""
        (mine,) = self.build([row])
        (django,) = self.query.instances([row])
        ours, theirs = dict(vars(mine)), dict(vars(django))
        state, their_state = vars(ours.pop("_state")), vars(theirs.pop("_state"))
        self.differs = list(state.items()) != list(their_state.items()) or list(
            ours.items()
        ) != list(theirs.items())
        self.checked = True


def representation(
    query: Compiled, serializer: Any, extras: Sequence[str]
) -> Representation | None:
    """The serializer's ``Representation`` over ``query``'s rows, or None where it might differ.

    ``extras``: attnames (or ``"pk"``) read beside the output. None when the query runs through
    the ORM, the model builds or reads its instances its own way (``from_db``, ``__init__``,
    ``__setattr__``, init signals, a property over a column), or the serializer overrides
    ``to_representation``. Call after ``query.rows`` (its columns are known from then on).
    """
    if query.fallback or not query.ready or query.compiler is None:
        return None
    model = query.compiler.klass_info["model"]
    if not _plain_model(model) or not _plain_serializer(type(serializer)):
        return None
    start = query.span.start
    columns = {name: start + i for i, name in enumerate(query.init_list)}
    try:
        needed = [_attname(model, a) for a in extras]
    except FieldDoesNotExist:
        return None
    if not all(a in columns and _column_descriptor(model, a) for a in needed):
        return None
    return Representation(query, serializer, model, columns, extras)


def _step(field: Any, model: type[models.Model], columns: dict[str, int]) -> _Step:
    """How one readable field's value is found: from the row where that is exact."""
    name = field.field_name
    kind = type(field)
    own = vars(field)
    if "get_attribute" in own or "to_representation" in own:  # patched on the instance
        return _Step(name, _FIELD, None, None, field)
    if (
        kind.to_representation is _LinksPlaceholder.to_representation
        and kind.get_attribute is fields.Field.get_attribute
    ):
        return _Step(name, _NONE, None, None, field)
    if len(field.source_attrs) != 1:  # "*" or a dotted path
        return _Step(name, _FIELD, None, None, field)
    source = field.source_attrs[0]
    try:
        column = model._meta.get_field(source)
    except FieldDoesNotExist:
        return _Step(name, _FIELD, None, None, field)
    if not column.concrete or column.many_to_many or column.attname not in columns:
        return _Step(name, _FIELD, None, None, field)
    if not _column_descriptor(model, column.attname):
        return _Step(name, _FIELD, None, None, field)
    position = columns[column.attname]
    if (
        kind.get_attribute is relations.RelatedField.get_attribute
        and kind.use_pk_only_optimization
        is relations.PrimaryKeyRelatedField.use_pk_only_optimization
        and kind.to_representation is relations.PrimaryKeyRelatedField.to_representation
        and field.pk_field is None
        and column.is_relation
        and source == column.name
    ):
        return _Step(name, _PK, position, column.attname, field)
    function = kind.to_representation
    if (
        kind.get_attribute is fields.Field.get_attribute
        and function in _KNOWN
        and source == column.attname
    ):
        return _Step(name, _VALUE, position, column.attname, field, field.to_representation)
    return _Step(name, _FIELD, None, None, field)


def _represent(function: Callable[[Any], Any] | None, value: Any) -> Any:
    """A column value not of its step's exact type, as DRF would represent it."""
    if is_simple_callable(value):  # as DRF's get_attribute (no column type gives one)
        value = value()
    return value if function is None else function(value)


def _exact(step: _Step) -> type | None:
    """The type whose values are their own representation for this step, as things are now.

    ``str(v) is v`` for a str, ``int(v) is v`` for an int, and so on; DRF's conditions for
    each, read at each batch (settings and class attributes may change).
    """
    field = step.field
    function = type(field).to_representation if step.kind == _VALUE else None
    if function is fields.CharField.to_representation:
        return str
    if function is fields.IntegerField.to_representation:
        return int
    if function is fields.FloatField.to_representation:
        return float
    if function is fields.BigIntegerField.to_representation:
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)
        return None if coerce else int
    if function is fields.BooleanField.to_representation:
        trues, falses = field.TRUE_VALUES, field.FALSE_VALUES
        plain = True in trues and False not in trues and False in falses
        return bool if plain else None
    return None


def _rekey(step: _Step) -> _Step:
    """The step reading the instance's __dict__ (by attname) instead of the row."""
    if step.attname is None:
        return step
    return _Step(step.name, step.kind, step.attname, step.attname, step.field, step.function)


def _attname(model: type[models.Model], name: str) -> str:
    """``"pk"`` → the primary key's attname; an attname stays itself."""
    return str(model._meta.pk.attname) if name == "pk" else name


def _column_descriptor(model: type[models.Model], attname: str) -> bool:
    """Whether ``instance.<attname>`` is the loaded column value (Django's own descriptor)."""
    try:
        descriptor = inspect.getattr_static(model, attname)
    except AttributeError:
        return False
    return type(descriptor) in _COLUMN_DESCRIPTORS and descriptor.field.attname == attname


def _plain_model(model: type[models.Model]) -> bool:
    """Whether instances hold their columns as loaded: Django's own building and reading."""
    base = models.Model
    return (
        model.from_db.__func__ is base.from_db.__func__
        and model.__init__ is base.__init__
        and model.__setattr__ is base.__setattr__
        and model.__getattribute__ is base.__getattribute__
        and inspect.getattr_static(model, "pk") is base.__dict__["pk"]
        and model._get_pk_val is base._get_pk_val
        and model.serializable_value is base.serializable_value
    )


def _plain_serializer(cls: type[serializers.BaseSerializer]) -> bool:
    """Whether the serializer renders as ``Serializer.to_representation`` does."""
    return (
        cls.to_representation is serializers.Serializer.to_representation
        and inspect.getattr_static(cls, "_readable_fields")
        is serializers.Serializer.__dict__["_readable_fields"]
    )

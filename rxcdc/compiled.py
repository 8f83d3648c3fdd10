"""Queries compiled once: ``queryset.filter(<lookup>__in=values)`` with the values as one array.

Django compiles a queryset's SQL each time it runs (≈ 0.3 ms for a layer's query here), which
was most of a single-row transaction's serialization. A ``Compiled`` query compiles it once, with
``IN (%s)`` rewritten to ``= ANY(%s)`` so that any number of values fits the same SQL, then
runs that SQL and turns the rows into what the queryset would give, through Django's own
converters and ``Model.from_db``. Querysets it cannot reproduce exactly (``select_related``,
extra selects, another shape of filter) run through the ORM as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.lookups import In

from rxcdc import together

__all__ = ["Compiled", "Sent", "compiled"]

_IN, _ANY = " IN (%s)", " = ANY(%s)"


class Compiled:
    """One queryset, filtered by ``lookup__in``, compiled on its first run.

    ``models``: rows become model instances (as iterating the queryset gives), else tuples
    (a ``values_list`` queryset).
    """

    def __init__(self, queryset: QuerySet[Any], lookup: str, *, models: bool) -> None:
        self.queryset, self.lookup, self.models = queryset, lookup, models
        self.compiler: Any = None
        self.sql = ""
        self.params: list[Any] = []
        self.index = -1  # position of the array parameter in ``params``
        self.field: Any = None  # the field the values are compared with (to prepare them)
        self.init_list: list[str] = []
        self.annotations: dict[str, int] = {}
        self._span = (0, 0)  # the model's columns in a row
        self.ready = False  # compiled (or found not reproducible: ``fallback``)
        self.fallback = False

    def run(self, values: Iterable[Any]) -> list[Any]:
        """What ``queryset.filter(<lookup>__in=values)`` returns, as a list."""
        rows = self.rows(values)
        if rows is None:
            return list(self.queryset.filter(**{f"{self.lookup}__in": self.wanted(values)}))
        return self.instances(rows) if self.models else rows

    def wanted(self, values: Iterable[Any]) -> list[Any]:
        """The distinct values that can match (``None`` matches nothing), in order."""
        return [v for v in dict.fromkeys(values) if v is not None]

    def rows(self, values: Iterable[Any]) -> list[Any] | None:
        """The selected rows after Django's converters; ``None`` if it runs through the ORM.

        With ``models``, a row holds the model's columns (``init_list``, at ``span``), then any
        annotation (``annotations``).
        """
        sent = self.send(values)
        return None if sent is None else sent.fetch()

    def send(self, values: Iterable[Any]) -> Sent | None:
        """Execute the query for ``values``; ``Sent.fetch()`` gives what ``rows`` gives.

        Inside ``rxcdc.together.together`` the query is only queued: queries sent one after the
        other then share a round trip. ``None``: it runs through the ORM (``run``).
        """
        wanted = self.wanted(values)
        if not wanted:
            return Sent(self, None)
        if not self.ready or (
            self.compiler is not None
            and self.compiler.connection is not connections[self.queryset.db]
        ):
            self._compile(wanted[0])  # (a compiler holds the connection it was made for)
        batch = together.current(self.queryset.db)
        if self.fallback:
            if batch is not None:
                batch.send()  # what was queued before it runs before the ORM's query
            return None
        field, connection = self.field, self.compiler.connection
        params = list(self.params)
        params[self.index] = [
            field.get_db_prep_value(field.get_prep_value(v), connection, prepared=True)
            for v in wanted
        ]
        if batch is not None:
            return Sent(self, batch.add(self.sql, params))
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            fetched = cursor.fetchall()
        return Sent(self, lambda: fetched)

    @property
    def span(self) -> slice:
        """Where a row (of ``rows``) holds the model's columns."""
        return slice(*self._span)

    def instances(self, rows: list[Any]) -> list[Any]:
        """Model instances of ``rows``, as iterating the queryset builds them."""
        if not rows:
            return []  # (maybe not compiled yet: nothing was wanted)
        model, db, init = self.compiler.klass_info["model"], self.queryset.db, self.init_list
        span = self.span
        out = []
        for row in rows:
            obj = model.from_db(db, init, row[span])
            for name, pos in self.annotations.items():
                setattr(obj, name, row[pos])
            out.append(obj)
        return out

    def _compile(self, sample: Any) -> None:
        """Compile with one value; fall back to the ORM if the SQL is not of the known shape."""
        self.ready, self.fallback = True, True
        query = self.queryset.filter(**{f"{self.lookup}__in": [sample]})
        compiler = query.query.get_compiler(using=query.db)
        sql, params = compiler.as_sql()
        where = query.query.where.children[-1] if query.query.where.children else None
        if (
            not isinstance(where, In)
            or sql.count(_IN) != 1
            or "%%" in sql
            or sql.count("%s") != len(params)
            or compiler.has_extra_select
            or self.queryset._known_related_objects
        ):
            return
        klass_info = compiler.klass_info
        if self.models:
            if klass_info is None or klass_info.get("related_klass_infos"):
                return  # select_related: the ORM's populators, not ours
            fields = klass_info["select_fields"]
            self._span = (fields[0], fields[-1] + 1)
            self.init_list = [f[0].target.attname for f in compiler.select[slice(*self._span)]]
            self.annotations = dict(compiler.annotation_col_map or {})
        head = sql[: sql.index(_IN)]
        self.index = head.count("%s")
        self.sql = head + _ANY + sql[len(head) + len(_IN) :]
        self.params = list(params)
        self.field = where.lhs.output_field
        self.compiler = compiler
        self.fallback = False


class Sent:
    """A ``Compiled`` query sent (or queued), its rows not converted yet (``rows`` None: none)."""

    def __init__(self, query: Compiled, rows: Callable[[], list[Any]] | None) -> None:
        self.query, self.rows = query, rows

    def fetch(self) -> list[Any]:
        """The rows, after Django's converters (see ``Compiled.rows``)."""
        if self.rows is None:
            return []
        query = self.query
        return list(query.compiler.results_iter([self.rows()], tuple_expected=not query.models))


_local = threading.local()


def compiled(key: Any, build: Any, lookup: str, *, models: bool) -> Compiled:
    """The ``Compiled`` query stored under ``key`` for this thread (``build()`` makes its queryset).

    Per thread: a compiler holds its thread's database connection.
    """
    cache: dict[Any, Compiled] = _local.__dict__.setdefault("compiled", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = Compiled(build(), lookup, models=models)
    return found

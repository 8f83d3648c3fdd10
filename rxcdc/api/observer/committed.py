"""The committed state of an observed row, read outside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections, router

__all__ = ["ObserverState", "committed_instance", "observer_state"]


class ObserverState:
    """DCRF's per-instance observer state: ``current_groups`` of the committed row.

    Read when asked, on a connection of its own: a change of the caller's open transaction
    counts once committed (as DCRF's ``on_commit`` update). The row is the one the instance
    had when its state was first asked for (``delete()`` clears the instance's pk).
    """

    def __init__(self, model: Any, pk: Any, groups: Callable[[Any], set[str]]) -> None:
        self.model, self.pk, self._groups = model, pk, groups

    @property
    def current_groups(self) -> set[str]:
        """The groups the committed row is in (empty once its deletion is committed)."""
        row = None if self.pk is None else committed_instance(self.model, self.pk)
        return set() if row is None else self._groups(row)


def observer_state(
    observer_id: str, model: Any, instance: Any, groups: Callable[[Any], set[str]]
) -> ObserverState:
    """The state of ``instance`` for one observer, kept on the instance as DCRF does."""
    states = instance._state.__dict__.setdefault("rx_observer_states", {})
    if observer_id not in states:
        states[observer_id] = ObserverState(model, instance.pk, groups)
    state: ObserverState = states[observer_id]
    return state


def committed_instance(model: Any, pk: Any) -> Any:
    """The row ``pk`` as other transactions see it (None when absent)."""
    alias = router.db_for_read(model)
    names = [f.attname for f in model._meta.concrete_fields]
    queryset = model._base_manager.using(alias).filter(pk=pk).values_list(*names)
    sql, params = queryset.query.sql_with_params()
    conn = connections.create_connection(alias)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
    finally:
        conn.close()
    return None if row is None else model.from_db(alias, names, row)

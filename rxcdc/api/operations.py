"""``ReplicaIdentity``: a migration operation setting a model's table REPLICA IDENTITY.

``ReplicaIdentity("auth.User")`` (delete bodies of an observed model) or
``ReplicaIdentity("auth.User_groups")`` (the through model of an observed M2M field); the
migration needs a dependency on the model's app. Reversed, it sets DEFAULT again.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

__all__ = ["ReplicaIdentity"]


class ReplicaIdentity(Operation):
    """``ALTER TABLE <model's table> REPLICA IDENTITY FULL`` (PostgreSQL; a no-op elsewhere)."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, model: str, identity: str = "full") -> None:
        if identity not in ("full", "default"):
            raise ValueError(f"identity must be 'full' or 'default', not {identity!r}")
        self.model, self.identity = model, identity

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {} if self.identity == "full" else {"identity": self.identity}
        return self.__class__.__qualname__, [self.model], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the schema Django models is unchanged

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._alter(schema_editor, to_state, self.identity)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._alter(schema_editor, to_state, "default" if self.identity == "full" else "full")

    def describe(self) -> str:
        return f"Set REPLICA IDENTITY {self.identity.upper()} on {self.model}"

    @property
    def migration_name_fragment(self) -> str:
        return f"replica_identity_{self.model.replace('.', '_').lower()}"

    def _alter(self, schema_editor: Any, state: Any, identity: str) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        app_label, name = self.model.split(".", 1)
        table = state.apps.get_model(app_label, name)._meta.db_table
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(table)} REPLICA IDENTITY {identity.upper()}"
        )

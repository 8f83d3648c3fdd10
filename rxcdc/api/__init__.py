"""DCRF-compatible API consumers whose observers are fed by the replication worker.

Swap ``djangochannelsrestframework`` for ``rxcdc.api`` in imports and add ``"rxcdc.api"`` to
``INSTALLED_APPS`` (docs/dcrf-migration.md).
"""

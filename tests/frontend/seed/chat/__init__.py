"""The seeds' quickstart app (top-level ``chat``, as the quickstart imports it)."""

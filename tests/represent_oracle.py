"""``pytest -p tests.represent_oracle``: every row ``rxcdc.represent`` renders in this process is
rendered by DRF too (``to_representation`` of the instance ``from_db`` builds from the same row),
and the two must be equal: the same keys in the same order, equal values of the same types.

Workers in threads of the test process (``LiveWorker``, the core pipeline) are checked; workers
in subprocesses (tests/exact) are not, their oracle is the client state against DRF's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rxcdc.represent import Representation

_original = Representation.documents
checked = {"rows": 0}


def same(ours: Any, theirs: Any) -> bool:
    """Equal, of the same types, dict keys in the same order (all the way down)."""
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, dict):
        return list(ours) == list(theirs) and all(same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list | tuple):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
    return bool(ours == theirs) or (ours != ours and theirs != theirs)  # NaN


def _checked(self: Representation, rows: list[Any]) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    objs = self.query.instances(rows)
    for (doc, values), obj in zip(_original(self, rows), objs, strict=True):
        expected = self.serializer.to_representation(obj)
        read = [getattr(obj, name) for name in self.names]
        assert same(doc, expected), (type(self.serializer).__name__, doc, expected)
        assert same(values, read), (type(self.serializer).__name__, values, read)
        checked["rows"] += 1
        yield doc, values


def pytest_configure(config: pytest.Config) -> None:
    Representation.documents = _checked  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"represent oracle: {checked['rows']} rows equal to DRF's")

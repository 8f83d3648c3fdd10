"""What a run found: the kinds of divergence, and the summary line of a run."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, fields


class Divergence(AssertionError):
    """A client or the cache did not reach the database's state in time."""


_KINDS: dict[str, type[Divergence]] = {}


def divergence(kind: str) -> type[Divergence]:
    """The ``Divergence`` subclass named ``kind``.

    Hypothesis tells bugs apart by exception type and place: one class per kind of failure
    (a list out of order, a stale value, the worker dead...) gets each kind its own shrink.
    """
    if kind not in _KINDS:
        _KINDS[kind] = type(kind, (Divergence,), {"__module__": __name__})
    return _KINDS[kind]


def classify(problem: str) -> str:
    """The kind of a problem line written by ``Stack.settle``."""
    where = "Cache" if problem.startswith("cache") else "Client"
    if "rx_replicate died" in problem:
        return "WorkerDied"
    if "did not acknowledge" in problem:
        return "WorkerStuck"
    for marker, kind in [
        ("violation:", "ProtocolViolation"),
        ("error frame:", "ErrorFrame"),
        ("closed by the server", "SocketClosed"),
        ("reader crashed", "ReaderCrashed"),
        ("not ready", "NotReady"),
        ("not hot", "NotHot"),
        ("missing row", "MissingRow"),
    ]:
        if marker in problem:
            return where + kind
    ids = re.search(r": ids (\[.*\]) != (\[.*\])$", problem)
    if ids:
        expected, actual = (ast.literal_eval(g) for g in ids.groups())
        same = sorted(map(repr, expected)) == sorted(map(repr, actual))
        return where + ("ListOrder" if same else "ListMembership")
    return where + "WrongValue"


@dataclass
class Summary:
    """What a run did, for the line printed at the end (make soak)."""

    examples: int = 0
    steps: int = 0
    kills: int = 0
    connects: int = 0
    divergences: int = 0  # settles that failed (shrinking replays count too)
    failures: int = 0  # failing examples reported by hypothesis

    def reset(self) -> None:
        """Start counting again (one summary per run of the harness)."""
        for f in fields(self):
            setattr(self, f.name, f.default)

    def line(self) -> str:
        """One line: examples, steps, worker kills, client (re)connects, divergences."""
        return (
            f"exactness: {self.examples} examples, {self.steps} steps, {self.kills} worker kills,"
            f" {self.connects} client (re)connects, {self.divergences} divergences"
            f" ({self.failures} failing runs)"
        )


SUMMARY = Summary()

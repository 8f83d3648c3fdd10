"""The worker's collector policy (rxcdc.collector), against CPython's real collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from replication import Heartbeat, Tick
from rxcdc.collector import Collector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cycle:
    """Cyclic garbage once dropped: only a full (or young) collection frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def full_runs() -> Iterator[list[int]]:
    """Counts the collections of the oldest generation while the test runs."""
    runs: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            runs.append(1)

    gc.callbacks.append(seen)
    yield runs
    gc.callbacks.remove(seen)


@pytest.fixture
def collector() -> Iterator[tuple[Collector, Clock]]:
    clock = Clock()
    policy = Collector(interval=60.0, clock=clock)
    policy.install()
    yield policy, clock
    policy.uninstall()


def churn() -> list[list[int]]:
    """Hundreds of young collections whose survivors would, by default, bring full ones."""
    return [[] for _ in range(400_000)]


def tick() -> Tick:
    return Tick(at=datetime.now(UTC))


def heartbeat() -> Heartbeat:
    now = datetime.now(UTC)
    return Heartbeat(lsn=1, emitted_at=now, received_at=now)


def test_no_automatic_full_collection_once_installed_and_python_s_own_again_after(
    full_runs: list[int],
) -> None:
    policy = Collector()
    policy.install()
    try:
        full_runs.clear()  # (install's own)
        kept = churn()
        assert full_runs == []
    finally:
        policy.uninstall()
    del kept
    gc.collect()  # the counts start afresh, as they would have before install
    full_runs.clear()
    churn()  # (its survivors live while the list is built)
    assert full_runs, "Python's thresholds were not restored"


def test_a_cycle_that_died_in_the_oldest_generation_is_freed_by_the_next_full_collection(
    collector: tuple[Collector, Clock], full_runs: list[int]
) -> None:
    # Between full collections nothing is frozen, heats included: a freeze after a young
    # collection would freeze this dead cycle with the old generation, never to be freed.
    policy, clock = collector
    cycle = Cycle()
    dead = weakref.ref(cycle)
    gc.collect(1)  # promoted to the oldest generation
    del cycle
    hot = [{"row": i} for i in range(10_000)]  # noqa: F841 (a heat's state, kept alive)
    for _ in range(3):
        policy.after(heartbeat())  # events (heats among them) before the interval
    assert full_runs == [] and dead() is not None
    clock.now += 60.0
    policy.after(tick())
    assert full_runs == [1] and dead() is None


def test_uninstall_without_install_leaves_what_others_froze_frozen() -> None:
    kept = [[i] for i in range(1_000)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        Collector().uninstall()
        assert gc.get_freeze_count() == frozen >= len(kept)
    finally:
        gc.unfreeze()


def test_a_full_collection_runs_at_the_first_idle_tick_after_the_interval(
    collector: tuple[Collector, Clock], full_runs: list[int]
) -> None:
    policy, clock = collector
    full = policy.full
    cycle = Cycle()
    dead = weakref.ref(cycle)
    gc.collect(1)  # promoted to the oldest generation: young collections no longer reach it
    del cycle
    clock.now += 59.0
    policy.after(tick())
    clock.now += 2.0
    policy.after(heartbeat())  # busy: not yet
    assert full_runs == [] and dead() is not None
    policy.after(tick())
    assert full_runs == [1] and policy.full == full + 1
    assert dead() is None
    policy.after(tick())  # the interval counts again from there
    assert policy.full == full + 1


def test_under_steady_load_a_full_collection_runs_after_twice_the_interval(
    collector: tuple[Collector, Clock], full_runs: list[int]
) -> None:
    policy, clock = collector
    full = policy.full
    clock.now += 119.0
    policy.after(heartbeat())
    assert policy.full == full
    clock.now += 1.0
    policy.after(heartbeat())
    assert full_runs == [1] and policy.full == full + 1


def test_what_a_full_collection_keeps_is_frozen_after_it(
    collector: tuple[Collector, Clock],
) -> None:
    policy, clock = collector
    kept = [[i] for i in range(10_000)]
    before = gc.get_freeze_count()
    clock.now += 60.0
    policy.after(tick())
    assert gc.get_freeze_count() >= before + len(kept)

"""Exactness under random workloads: clients and the cache always end up equal to the database.

The default run is bounded (derandomized: the same examples every run). ``make soak MINUTES=N``
runs the same machine with fresh seeds until the time is up (``RX_SOAK_SECONDS``) and prints a
summary line; ``RX_EXACT_SEED`` replays one seed.
"""

import os
import time
import traceback

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from rxcdc.testing.reference import frame_log, replay
from tests.exact.harness import SCHEMA
from tests.exact.machine import ExactMachine, machine_stack
from tests.exact.test_store_replay import disagreements, run_store
from tests.exact.verdict import SUMMARY

SOAK_SECONDS = float(os.environ.get("RX_SOAK_SECONDS", "0"))
EXAMPLES = int(os.environ.get("RX_EXACT_EXAMPLES", "30"))
STEPS = int(os.environ.get("RX_EXACT_STEPS", "40"))

pytestmark = pytest.mark.django_db(transaction=True)

COMMON = {
    "deadline": None,
    "database": None,  # the run is reproducible from its seed alone
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "stateful_step_count": STEPS,
}


@pytest.fixture
def stack(services, tmp_path, transactional_db):
    with machine_stack(services, tmp_path) as running:
        yield running


def _soak(deadline: float) -> list[str]:
    """Runs of a few examples each, with fresh seeds, until ``deadline``; failing runs' reports."""
    failures = []
    while time.monotonic() < deadline:
        try:
            run_state_machine_as_test(
                ExactMachine,
                settings=settings(
                    max_examples=3,
                    phases=[Phase.generate, Phase.shrink],
                    derandomize=False,
                    **COMMON,
                ),
            )
        except Exception as exc:
            SUMMARY.failures += 1
            failures.append("".join(traceback.format_exception(exc)))
            print(failures[-1], flush=True)
    return failures


@pytest.mark.slow
@pytest.mark.timeout(int(SOAK_SECONDS) + 1500)
def test_clients_and_cache_equal_the_database_after_any_workload(stack, tmp_path):
    if SOAK_SECONDS:
        failures = _soak(time.monotonic() + SOAK_SECONDS)
        assert not failures, f"{len(failures)} failing runs; the first:\n{failures[0]}"
        assert SUMMARY.steps > 0
        return
    if os.environ.get("RX_EXACT_SEED"):
        seed(int(os.environ["RX_EXACT_SEED"]))(ExactMachine)
    run_state_machine_as_test(
        ExactMachine,
        settings=settings(
            max_examples=EXAMPLES,
            derandomize=not os.environ.get("RX_EXACT_SEED"),
            **COMMON,
        ),
    )
    assert SUMMARY.steps >= EXAMPLES  # the machine really ran
    _store_agrees_on_the_run(stack, tmp_path)


# Error codes on which the TypeScript runtime drops the socket and reconnects by itself: a log
# with one cannot be replayed frame for frame (see frontend/test/replay.test.ts).
RECONNECTING = {"worker_unavailable", "snapshot_failed"}


def _store_agrees_on_the_run(stack, tmp_path) -> None:
    """Every frame log of the run, replayed through the real store.ts, ends where ours did."""
    logs, refs = {}, {}
    for i, client in enumerate(stack.made):
        for j, ref in enumerate(client.history):
            if not ref.frames or ref.violations:
                continue
            if any(e.get("code") in RECONNECTING for e in ref.errors):
                continue
            name = f"{i:03d}-{j:02d}-{client.name}"
            # Compared exactly: the runtime reads integers past 2^53 as bigint (json.ts).
            logs[name] = frame_log(ref, SCHEMA)
            refs[name] = replay(logs[name])
    assert len(logs) >= EXAMPLES, f"only {len(logs)} replayable frame logs"
    folder = tmp_path / "store-replay"
    folder.mkdir()
    held = run_store(logs, folder)
    problems = [
        f"{name}: {line}"
        for name, log in logs.items()
        for line in disagreements(refs[name], log, held[name])
    ]
    assert not problems, "store.ts and the reference client disagree:\n" + "\n".join(problems)

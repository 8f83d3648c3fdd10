"""The exactness state machine: random raw-SQL workloads, clients and worker kills.

After every step (``exact``) the harness waits for quiescence and requires every connected
client, per user, and the cache to equal the database. A failure shrinks to a minimal sequence
of steps that Hypothesis prints as calls on this class (``state.write(op=OPS.delete_card(...))``),
which ``test_regressions.py`` replays as plain tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rxcdc.testing.services import LocalServices
from tests.exact.harness import Stack, running_stack
from tests.exact.verdict import SUMMARY
from tests.exact.workload import BIG_INTS, OPS, TEXTS, TRUNCATABLE, Op
from tests.exact.wsclient import LiveClient

# Client slots: (user index, board index). Two users on each of two boards.
SLOTS = [(0, 0), (1, 0), (0, 1), (1, 1)]

picks = st.integers(0, 5)  # an index into the current ids of a kind (see workload.Workload.pick)
texts = st.sampled_from(TEXTS)
positions = st.integers(-2, 4)
payloads = st.recursive(
    st.one_of(st.integers(-3, 3), st.sampled_from(BIG_INTS), texts, st.booleans(), st.none()),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.sampled_from(["k", "n", "ü"]), inner, max_size=2)
    ),
    max_leaves=4,
)

# Simplest first: Hypothesis shrinks towards the start of one_of.
ops: st.SearchStrategy[Op] = st.one_of(
    st.builds(OPS.update_card, card=picks, title=texts, payload=payloads),
    st.builds(OPS.add_card, column=picks, title=texts, position=positions, payload=payloads),
    st.builds(OPS.delete_card, card=picks),
    st.builds(OPS.update_then_delete_card, card=picks, title=texts),
    st.builds(OPS.reorder_card, card=picks, position=positions),
    st.builds(OPS.swap_cards, card=picks, other=picks),
    st.builds(OPS.move_card, card=picks, column=picks, position=positions),
    st.builds(OPS.add_note, card=picks, user=st.integers(0, 1), text=texts),
    st.builds(OPS.update_note, note=picks, text=texts),
    st.builds(OPS.hand_over_note, note=picks, user=st.integers(0, 1)),
    st.builds(OPS.delete_note, note=picks),
    st.builds(OPS.link_label, card=picks, label=picks),
    st.builds(OPS.unlink_label, card=picks, label=picks),
    st.builds(OPS.add_label, name=texts),
    st.builds(OPS.rename_label, label=picks, name=texts),
    st.builds(OPS.delete_label, label=picks),
    st.builds(OPS.set_author, card=picks, author=st.none() | picks),
    st.builds(OPS.new_author, card=picks, name=texts),
    st.builds(OPS.rename_author, author=picks, name=texts),
    st.builds(OPS.delete_author, author=picks),
    st.builds(OPS.add_column, board=picks, title=texts, position=positions),
    st.builds(OPS.update_column, column=picks, title=texts, position=positions),
    st.builds(OPS.delete_column, column=picks),
    st.builds(OPS.rename_board, board=picks, title=texts),
    st.builds(OPS.set_settings, board=picks, color=texts),
    st.builds(OPS.delete_settings, board=picks),
    st.builds(OPS.set_cover, board=picks, caption=texts),
    st.builds(OPS.update_cover, board=picks, caption=texts),
    st.builds(OPS.drop_cover, board=picks),
    st.builds(OPS.big_transaction, updates=st.integers(21, 60), repeat=st.integers(1, 25)),
    st.builds(OPS.savepoint_rollback, card=picks, title=texts),
    st.builds(
        OPS.truncate, what=st.sampled_from(sorted(TRUNCATABLE)), updates=st.sampled_from([0, 100])
    ),
)


class ExactMachine(RuleBasedStateMachine):
    """Boards, clients and a worker; every step ends with an exactness check."""

    stack: ClassVar[Stack]
    users: ClassVar[list[tuple[int, str]]]  # (user id, DRF token)

    @classmethod
    def prepare(cls, stack: Stack, users: list[tuple[int, str]]) -> None:
        """Bind the machine to a running stack and its users (before Hypothesis runs it)."""
        cls.stack, cls.users = stack, users
        stack.tainted = False

    def __init__(self) -> None:
        super().__init__()
        SUMMARY.examples += 1
        if self.stack.tainted:  # a failed example may have left a poisoned slot or state
            self.stack.reset_pipeline()
        self.stack.tainted = True  # until this example ends with a successful check
        self.work = self.stack.workload([user for user, _token in self.users])
        self.clients: list[LiveClient] = []
        self.steps = self.checked = 0

    def _step(self) -> None:
        self.steps += 1
        SUMMARY.steps += 1

    @initialize(
        columns=st.lists(st.lists(st.integers(0, 3), max_size=2), min_size=2, max_size=3),
        settings=st.booleans(),
    )
    def setup(self, columns: list[list[int]], settings: bool) -> None:
        """The example's boards (``columns[b]``: card counts per column), labels and author."""
        self.work.create(columns, settings)
        for i, (user, board) in enumerate(SLOTS):
            pk = self.work.boards[board]
            name = f"c{i}-user{user}-board{board}"
            self.clients.append(self.stack.client(name, pk, self.users[user][1]))

    @invariant()
    def exact(self) -> None:
        """Quiescence, then every connected client and the cache equal the database."""
        connected = [
            (client, self.work.boards[board], self.users[user][0])
            for client, (user, board) in zip(self.clients, SLOTS, strict=True)
            if client.connected
        ]
        self.stack.settle(connected)
        self.checked = self.steps

    @rule(op=ops)
    def write(self, op: Op) -> None:
        """One write operation (one or two transactions)."""
        self._step()
        self.work.run(op)

    @rule(batch=st.lists(ops, min_size=1, max_size=4), paused=st.booleans())
    def burst(self, batch: list[Op], paused: bool) -> None:
        """Operations back to back. ``paused``: while the worker is stopped (SIGSTOP),
        so that it reads the first transaction only after the last one committed."""
        self._step()
        with self.stack.worker_paused() if paused else contextlib.nullcontext():
            for op in batch:
                self.work.run(op)

    @rule(slot=st.integers(0, len(SLOTS) - 1), resume=st.booleans())
    def connect(self, slot: int, resume: bool) -> None:
        """(Re)connect a client, fresh or resuming from what it holds (``since``)."""
        self._step()
        self.stack.ensure_worker()  # a heat needs a worker: it would fail, not wait
        self.clients[slot].connect(resume=resume)
        SUMMARY.connects += 1

    @rule(slot=st.integers(0, len(SLOTS) - 1))
    def disconnect(self, slot: int) -> None:
        """Close a client's socket; its state is kept for a later resume."""
        self._step()
        self.clients[slot].disconnect()

    @rule(
        slot=st.integers(0, len(SLOTS) - 1),
        resume=st.booleans(),
        batch=st.lists(ops, min_size=1, max_size=3),
    )
    def connect_during(self, slot: int, resume: bool, batch: list[Op]) -> None:
        """Writes, then a connection at once: its snapshot races their delivery."""
        self._step()
        self.stack.ensure_worker()
        for op in batch:
            self.work.run(op)
        self.clients[slot].connect(resume=resume)
        SUMMARY.connects += 1

    @rule(
        slot=st.integers(0, len(SLOTS) - 1),
        resume=st.booleans(),
        batch=st.lists(ops, max_size=3),
    )
    def connect_while_paused(self, slot: int, resume: bool, batch: list[Op]) -> None:
        """Writes and a snapshot request while the worker is stopped (SIGSTOP): on SIGCONT it
        streams the writes, then answers the request, in that order every time."""
        self._step()
        with self.stack.worker_paused():
            for op in batch:
                self.work.run(op)
            self.clients[slot].connect(resume=resume)
            SUMMARY.connects += 1
            self.stack.wait_heat_request(self.work.boards[SLOTS[slot][1]])

    @rule(batch=st.lists(ops, max_size=3), mid=st.booleans())
    def kill_worker(self, batch: list[Op], mid: bool) -> None:
        """SIGKILL rx_replicate right after writes (``mid``), or before them; then restart."""
        self._step()
        if not mid:
            self.stack.kill_worker()
        for op in batch:
            self.work.run(op)
        self.stack.kill_worker()
        self.stack.start_worker()

    def teardown(self) -> None:
        """Close every client; a clean example leaves the pipeline for the next one."""
        for client in self.clients:
            client.disconnect()
        if self.checked == self.steps:
            self.stack.tainted = False


@contextlib.contextmanager
def machine_stack(services: LocalServices, run: Path) -> Iterator[Stack]:
    """A running stack with two users (and their tokens), bound to ``ExactMachine``."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    with running_stack(services, run) as stack:
        users = []
        for name in ("ann", "bob"):
            user = User.objects.create(username=f"exact-{name}")
            users.append((user.pk, Token.objects.create(user=user).key))
        ExactMachine.prepare(stack, users)
        yield stack


@contextlib.contextmanager
def replay(**setup: Any) -> Iterator[ExactMachine]:
    """A machine after its ``setup`` step (checked), torn down afterwards: regression tests
    replay a printed sequence on it, ``state.exact()`` after every step."""
    state = ExactMachine()
    try:
        state.setup(**setup)
        state.exact()
        yield state
    finally:
        state.teardown()

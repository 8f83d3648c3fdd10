"""The chaos suite: faults on the real stack, each judged against DRF ground truth.

One ``Row`` per fault; each trial connects (or keeps) clients, runs a write load through the
fault, then writes a probe and measures how long until every client equals the database
(``recovery``). After that the harness's strict ``settle`` judges clients and cache; the
final states are also counted for rows lost (in the database, missing from a client) and
leaked (another user's ``user_key`` note held by a client). The attack rows
(``tests/chaos/attack.py``) count what their attacker or revoked sockets leaked, and fail the
row through ``Result.broken`` for what no column shows.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rxcdc.testing.oracle import diff, ground_truth
from tests.chaos.attack import ATTACKS_PER_TRIAL, REVOCATIONS, hostile_frames, revocation
from tests.chaos.stack import ChaosStack, Load
from tests.exact.harness import DEADLINE
from tests.exact.verdict import Divergence
from tests.exact.wsclient import LiveClient
from tests.exactapp.models import Board, Note
from tests.exactapp.serializers import BoardSerializer

RECOVERY_DEADLINE = 60.0  # seconds a trial waits for clients to equal the database

Client = tuple[LiveClient, int, int]  # (client, board, user id)


@dataclass
class Result:
    """One row of the table."""

    fault: str
    trials: int = 0
    clients: int = 0
    diverged: int = 0
    leaked: int = 0
    lost: int = 0
    recoveries: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # what failed outside the counted columns
    counts: dict[str, int] = field(default_factory=dict)  # totals shown in the notes
    worsts: dict[str, float] = field(default_factory=dict)  # worst seconds shown in the notes

    def count(self, what: str, n: int) -> None:
        """Add ``n`` to a total the notes show."""
        self.counts[what] = self.counts.get(what, 0) + n

    def worst(self, what: str, seconds: float) -> None:
        """Keep the worst time of ``what`` for the notes."""
        self.worsts[what] = max(seconds, self.worsts.get(what, 0.0))

    def line(self) -> str:
        worst = f"{max(self.recoveries):.2f}" if self.recoveries else "-"
        if len(self.recoveries) < self.trials:
            worst += f" ({self.trials - len(self.recoveries)} never)"
        notes = [f"{n} {what}" for what, n in self.counts.items()]
        notes += [f"{what} {s:.2f}s" for what, s in self.worsts.items()]
        notes += [*self.notes, *(f"FAILED: {b}" for b in self.broken)]
        return (
            f"| {self.fault} | {self.trials} | {self.clients} | {self.diverged} | {self.leaked}"
            f" | {self.lost} | {worst} | {'; '.join(dict.fromkeys(notes))} |"
        )


HEADER = (
    "| fault | trials | clients checked | diverged | leaked | lost | recovery s (worst) | notes |\n"
    "|---|---|---|---|---|---|---|---|"
)


def table(results: list[Result]) -> str:
    """The markdown table ``make chaos`` prints."""
    return "\n".join([HEADER, *(r.line() for r in results)])


class Scene:
    """Two boards, two users, three clients; the stack and its load."""

    def __init__(self, stack: ChaosStack, users: list[tuple[int, str]]) -> None:
        self.stack, self.users = stack, users
        work = stack.workload([u for u, _t in users])
        work.create([[2, 1], [1]], settings=False)
        self.work = work
        self.boards = work.boards
        self.cards = work.ids("card")
        self.slots = [(0, 0), (1, 0), (1, 1)]  # (user index, board index)
        self.clients = [
            stack.client(f"u{u}-b{b}", self.boards[b], users[u][1]) for u, b in self.slots
        ]
        self.reconnects = 0
        self._attacker: tuple[int, str] | None = None

    def attacker(self) -> tuple[int, str]:
        """A board of the attacker's own (nobody else watches it) and the attacker's token."""
        if self._attacker is None:
            board = self.stack.writes.execute(
                "INSERT INTO exactapp_board (title) VALUES ('attacker') RETURNING id"
            ).fetchone()[0]
            user = User.objects.create(username="chaos-attacker")
            self._attacker = board, Token.objects.create(user=user).key
        return self._attacker

    def connected(self) -> list[Client]:
        return [
            (c, self.boards[b], self.users[u][0])
            for c, (u, b) in zip(self.clients, self.slots, strict=True)
            if c.connected
        ]

    def connect_all(self) -> None:
        for client in self.clients:
            if not client.connected:
                client.connect(resume=False)

    def load(self) -> Load:
        return Load(self.stack.dsn, self.cards, [u for u, _t in self.users])

    def probe(self) -> None:
        """One more committed write after the fault: recovery means clients show it."""
        self.stack.writes.execute(
            "UPDATE exactapp_board SET title = %s WHERE id = %s",
            [f"probe {time.monotonic_ns()}", self.boards[0]],
        )

    # -- judging ---------------------------------------------------------------------------------

    def recover(self, since: float) -> float | None:
        """Seconds from ``since`` until every client equals the database (None: never).

        A client whose socket was closed on it, or that got an error frame, reconnects (the
        TypeScript client's retry policy); ``reconnects`` counts them.
        """
        deadline = time.monotonic() + RECOVERY_DEADLINE
        while time.monotonic() < deadline:
            for client in self.clients:
                if client.connected and client.problems():
                    # Its state is suspect after an error: a fresh connection, not a resume.
                    client.connect(resume=False)
                    self.reconnects += 1
            if self._exact():
                return time.monotonic() - since
            time.sleep(0.02)  # polling the clients' state with a deadline
        return None

    def _exact(self) -> bool:
        for client, board, user in self.connected():
            ready, state = client.view(board)
            if not ready or diff(_truth(board, user), state):
                return False
        return True

    def judge(self, result: Result) -> None:
        """The strict check, then the final states counted for lost and leaked rows."""
        clients = self.connected()
        result.clients += len(clients)
        try:
            self.stack.settle(clients)
        except Divergence as exc:
            result.diverged += 1
            result.notes.append(str(exc).splitlines()[0][:120])
            for client in self.clients:  # the next trial starts from fresh clients
                client.disconnect()
        for client, board, user in clients:
            _ready, state = client.view(board)
            truth = _truth(board, user)
            have, want = set(_ids(state)), set(_ids(truth))
            result.lost += len(want - have)
            mine = Note.objects.exclude(user_id=user).values_list("id", flat=True)
            others = {("notes", n) for n in mine}
            result.leaked += len(have & others)


def _truth(board: int, user: int) -> Any:
    return ground_truth(BoardSerializer, Board.objects.filter(pk=board).first(), user)


def _ids(state: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(list key, id) of every object in a nested state."""
    if isinstance(state, dict):
        if "id" in state and key:
            yield key, state["id"]
        for name, value in state.items():
            yield from _ids(value, name)
    elif isinstance(state, list):
        for item in state:
            yield from _ids(item, key)


@dataclass
class Row:
    """A fault: ``inject(scene, result, case)`` runs it, returns when recovery counts from.

    ``cases``: how many variants one trial runs (``case`` goes 0 … cases-1).
    """

    name: str
    inject: Callable[[Scene, Result, int], float]
    cases: int = 1
    untouched: bool = False  # the honest clients must get no error and keep their sockets


def run_row(scene: Scene, row: Row, trials: int) -> Result:
    """``trials`` trials of one fault (times its cases)."""
    result = Result(row.name)
    before = scene.reconnects
    for i in range(trials * row.cases):
        scene.stack.ensure_worker()
        scene.connect_all()
        scene.stack.settle(scene.connected())
        result.trials += 1
        reconnects = scene.reconnects
        since = row.inject(scene, result, i % row.cases)
        if row.untouched:
            _untouched(scene, result)
        scene.probe()
        took = scene.recover(since)
        if took is not None:
            result.recoveries.append(took)
        if row.untouched and scene.reconnects > reconnects:
            result.broken.append("an honest client had to reconnect")
        scene.judge(result)
    if scene.reconnects > before:
        result.notes.append(f"{scene.reconnects - before} client reconnects after errors")
    return result


def _untouched(scene: Scene, result: Result) -> None:
    for client in scene.clients:
        result.broken += [f"{client.name}: {p}"[:160] for p in client.problems()]


# -- the faults ------------------------------------------------------------------------------------


def worker_sigkill(scene: Scene, result: Result, case: int) -> float:
    with scene.load():
        since = time.monotonic()
        scene.stack.kill_worker()
        scene.stack.start_worker()  # what a supervisor does
    return since


def worker_sigstop(scene: Scene, result: Result, case: int) -> float:
    stack = scene.stack
    standby = stack.start_standby()
    log = stack.run / "standby.log"
    with scene.load():
        frozen = stack.freeze_worker()
        since = time.monotonic()
        stack._wait(
            lambda: (
                "rx_replicate: streaming" in log.read_text(errors="replace")[stack.standby_offset :]
            ),
            "the standby takes over from the frozen worker",
            60,
        )
    stack.promote_standby()
    assert standby is stack.worker
    # The fenced worker wakes: it must stop before it writes, publishes or acknowledges.
    scene.probe()
    frozen.send_signal(signal.SIGCONT)
    try:
        frozen.wait(15)
        tail = (stack.run / "worker.log").read_text(errors="replace")[-3000:]
        if "taken over" not in tail and "moved past" not in tail:
            result.notes.append("the woken worker exited without saying it lost its lease")
    except Exception:
        result.notes.append("the woken worker kept running")
        frozen.kill()
        frozen.wait(10)
    stack.dead_workers.append(frozen.pid)
    return since


def postgres_restart(scene: Scene, result: Result, case: int) -> float:
    stack = scene.stack
    with scene.load():
        # Under load: the worker is re-reading rows when the shutdown refuses its queries.
        stack._wait(lambda: stack.acknowledged() > 0, "the worker acknowledges", 10)
        shutdown = stack.services.postgres.restart()
        since = time.monotonic()
        stack.reconnect_postgres()
    result.notes.append(f"shutdown {shutdown:.1f}s")
    return since


def redis_restart(scene: Scene, result: Result, case: int) -> float:
    with scene.load():
        scene.stack.redis_server.restart()
        since = time.monotonic()
    return since


def mongo_restart(empty: bool) -> Callable[[Scene, Result, int], float]:
    def inject(scene: Scene, result: Result, case: int) -> float:
        with scene.load():
            scene.stack.mongo_server.restart(empty=empty)
            since = time.monotonic()
            scene.stack.reconnect_mongo()
        return since

    return inject


def dropped_slot(scene: Scene, result: Result, case: int) -> float:
    stack = scene.stack
    with scene.load():
        since = time.monotonic()
        # The walsender ends, the slot is dropped before the worker reconnects (backoff).
        stack.watch.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE slot_name = %s AND active_pid IS NOT NULL",
            [stack.slot],
        )
        stack._wait(lambda: stack._slot_free(), "the walsender ended", 10)
        stack.watch.execute("SELECT pg_drop_replication_slot(%s)", [stack.slot])
        proc = stack.worker
        assert proc is not None
        proc.wait(30)  # it exits, saying the slot is gone
        stack.kill_worker()
        stack.start_worker()  # the supervisor
    return since


HANDOVERS = [
    (0, 1, False),  # live: from a watching user to another watching user
    (1, 0, False),  # and back
    (0, 2, False),  # to a user with no client
    (2, 0, False),  # from a user with no client
    (1, 0, True),  # to the user whose client is away: it resumes and gets the note
    (0, 1, True),  # from the user whose client is away: it resumes and loses the note
]


def handover(scene: Scene, result: Result, case: int) -> float:
    """The ``user_key`` matrix (``HANDOVERS``): a note on board 0 changes owner."""
    stack, users = scene.stack, [u for u, _t in scene.users]
    giver, taker, away = HANDOVERS[case]
    note = stack.writes.execute(
        "INSERT INTO exactapp_note (card_id, user_id, text) VALUES (%s, %s, %s) RETURNING id",
        [scene.cards[0], users[giver], f"private {time.monotonic_ns()}"],
    ).fetchone()[0]
    stack.settle(scene.connected())
    client = scene.clients[0]  # user 0 on board 0
    if away:
        client.disconnect()
    since = time.monotonic()
    stack.writes.execute(
        "UPDATE exactapp_note SET user_id = %s WHERE id = %s", [users[taker], note]
    )
    if away:
        client.connect(resume=True)
    return since


ROWS = [
    Row("worker SIGKILL (supervisor restarts it)", worker_sigkill),
    Row("worker SIGSTOP (standby takes over)", worker_sigstop),
    Row("Postgres restart -m fast, under load", postgres_restart),
    Row("Redis restart", redis_restart),
    Row("MongoDB restart (data kept)", mongo_restart(empty=False)),
    Row("MongoDB restarted empty", mongo_restart(empty=True)),
    Row("dropped slot (worker exits, supervisor restarts it)", dropped_slot),
    Row("user_key handover matrix (6 cases per trial)", handover, cases=len(HANDOVERS)),
    Row(
        f"hostile frames ({ATTACKS_PER_TRIAL} attacker connections per trial)",
        hostile_frames,
        untouched=True,
    ),
    Row(
        f"revocation matrix ({len(REVOCATIONS)} cases per trial)",
        revocation,
        cases=len(REVOCATIONS),
        untouched=True,
    ),
]

__all__ = ["DEADLINE", "ROWS", "Result", "Row", "Scene", "run_row", "table"]

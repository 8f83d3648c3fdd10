"""The attack rows of ``make chaos``: hostile frames, and the authentication/revocation matrix.

Both run on the real stack (daphne, the worker, the chaos Redis and MongoDB) while the load runs
and the three honest clients keep watching; ``run_row`` judges those against DRF ground truth.
The attacker's and the revoked users' sockets are ``Socket``s: raw websockets that keep every
frame with the time it came and the code the socket closed with.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, logout
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rxcdc.heat import alive_key
from rxcdc.testing.waiting import WaitFailed, wait_until
from tests.chaos.settings import RX_REAUTH_INTERVAL
from tests.exact.harness import CACHE_TTL, LABEL
from tests.ws.test_hostile import frames

ANSWER_TIMEOUT = 10.0  # seconds a frame waits for its answer (after that: a hung connection)
# Seconds from a revocation to the socket's end: the re-check interval daphne runs with
# (tests/chaos/settings.py), plus the re-check itself. Frames after it count as leaked.
REVOKED_WITHIN = RX_REAUTH_INTERVAL + 2.0
ATTACKS_PER_TRIAL = 8  # attacker connections (hypothesis examples) per trial
ANSWERS = {"error", "pong", "action.result", "action.error", "write.result", "write.error"}
DAPHNE_LIMIT = 1024 * 1024  # daphne's --websocket-max-message-size: it closes 1009 above this


class Socket:
    """A raw websocket to daphne; a reader thread keeps ``(time, frame)`` and the close code."""

    def __init__(self, url: str, origin: str, headers: dict[str, str] | None = None) -> None:
        self.frames: list[tuple[float, Any]] = []
        self.close_code: int | None = None
        self.closed_at: float | None = None
        self.lock = threading.Lock()
        opening = connect(
            url, origin=origin, additional_headers=headers, open_timeout=10, max_size=None
        )
        self.ws: ClientConnection = opening.__enter__()  # close() ends it
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                try:
                    frame = json.loads(message)
                except ValueError:
                    frame = {"type": "<not json>", "raw": str(message)[:200]}
                with self.lock:
                    self.frames.append((time.monotonic(), frame))
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.close_code = self.ws.close_code
                self.closed_at = time.monotonic()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def send(self, data: str | bytes) -> bool:
        """Send one frame; False when the socket is closed already."""
        try:
            self.ws.send(data)
        except ConnectionClosed:
            return False
        return True

    def wait(self, predicate: Callable[[Any], bool], start: int, timeout: float) -> int | None:
        """Index of the first frame from ``start`` on that satisfies ``predicate`` (None: none).

        Returns early (None) when the socket closes without one.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i in range(start, len(self.frames)):
                    if predicate(self.frames[i][1]):
                        return i
                if self.closed_at is not None:
                    return None
            time.sleep(0.01)  # polling the reader's frames with a deadline
        return None

    def wait_closed(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return self.closed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self.thread.join(10)


# -- hostile frames ----------------------------------------------------------------------------

oversized = st.sampled_from([70_000, DAPHNE_LIMIT + 50_000]).map(
    lambda n: '{"type": "ping", "pad": "' + "x" * n + '"}'
)
attacks = st.tuples(
    st.booleans(),  # authenticate first (a logged-in attacker) or not
    st.lists(frames | st.binary(max_size=64) | oversized, min_size=1, max_size=6),
)


class Attack:
    """What one trial of attacker connections did, and whether each ended cleanly."""

    def __init__(self, scene: Any, board: int, token: str) -> None:
        self.scene, self.board, self.token = scene, board, token
        self.connections = self.frames = self.answered = 0
        self.unclean: list[str] = []
        self.ends: dict[str, int] = {}

    def run(self, authed: bool, batch: list[str | bytes]) -> None:
        stack = self.scene.stack
        url = f"ws://127.0.0.1:{stack.port}/ws/exact/board/{self.board}/"
        sock = Socket(url, f"http://127.0.0.1:{stack.port}")
        self.connections += 1
        try:
            self._end(self._attack(sock, authed, batch))
        finally:
            sock.close()

    def _attack(self, sock: Socket, authed: bool, batch: list[str | bytes]) -> str:
        """How the connection ended: ``ok``, ``closed <code>`` or what went wrong."""
        if authed:
            sock.send(json.dumps({"type": "auth", "token": self.token}))
            if sock.wait(lambda f: f["type"] == "snapshot.end", 0, ANSWER_TIMEOUT) is None:
                return "! no snapshot for the attacker"
        for data in batch:
            start = len(sock.frames)
            self.frames += 1
            if not sock.send(data):
                return f"closed {sock.close_code}"
            if len(data) > DAPHNE_LIMIT:  # daphne drops the connection without an answer
                closed = sock.wait_closed(ANSWER_TIMEOUT)
                return f"dropped {sock.close_code} (over 1 MiB)" if closed else "! open"
            found = sock.wait(
                lambda f: f["type"] in ANSWERS | {"auth.ok", "auth.error"}, start, ANSWER_TIMEOUT
            )
            if found is None:
                return f"closed {sock.close_code}" if sock.closed else "! no answer"
            answer = sock.frames[found][1]
            self.answered += 1
            if answer.get("code") in ("server_error", "failed"):
                return f"! {answer}"
            if answer["type"] == "auth.error":  # refused, and closed by rule
                return f"closed {sock.close_code}" if sock.wait_closed(5) else "! open"
        start = len(sock.frames)
        sock.send(json.dumps({"type": "ping"}))
        # The socket still works: pong, or (still waiting for auth) unauthenticated.
        found = sock.wait(lambda f: f["type"] in ("pong", "error"), start, ANSWER_TIMEOUT)
        if found is None:
            return f"closed {sock.close_code}" if sock.closed else "! no answer to ping"
        answer = sock.frames[found][1]
        expected = {"type": "pong"} if authed else {"type": "error", "code": "unauthenticated"}
        if {k: answer.get(k) for k in expected} != expected:
            return f"! ping answered {answer}"
        return "ok"

    def _end(self, how: str) -> None:
        # docs/deployment.md: daphne drops a frame over its limit with the connection (1006/1009).
        dropped = ("dropped 1006 (over 1 MiB)", "dropped 1009 (over 1 MiB)")
        clean = how in ("ok", "closed 4401", "closed 4403", *dropped)
        if not clean:
            self.unclean.append(how[:160])
        self.ends[how if clean else "unclean"] = self.ends.get(how if clean else "unclean", 0) + 1


def hostile_frames(scene: Any, result: Any, case: int) -> float:
    """Attacker connections send hypothesis-drawn frames while the honest clients watch."""
    board, token = scene.attacker()
    attack = Attack(scene, board, token)
    log = scene.stack.run / "daphne.log"
    offset = log.stat().st_size

    @settings(
        max_examples=ATTACKS_PER_TRIAL,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(attacks)
    def one(drawn: tuple[bool, list[str | bytes]]) -> None:
        attack.run(*drawn)

    with scene.load():
        one()
    # Nothing the attacker started outlives its connections: its board cools within the TTL.
    keys = redis.Redis.from_url(scene.stack.redis_server.url)
    try:
        key = alive_key(LABEL, board)
        try:
            wait_until(lambda: not keys.exists(key), "the board cooled", CACHE_TTL + 5)
        except WaitFailed:
            result.leaked += 1
            result.broken.append("the attacker's board stayed alive after its connections ended")
    finally:
        keys.close()
    tail = log.read_text(errors="replace")[offset:]
    crashes = tail.count("handling a frame failed") + tail.count("Exception inside application")
    if crashes:
        result.broken.append(f"{crashes} uncaught errors in daphne's log")
    result.broken += [f"attacker connection ended badly: {u}" for u in attack.unclean]
    result.count("attacker connections", attack.connections)
    result.count("frames", attack.frames)
    result.count("typed answers", attack.answered)
    for how, n in sorted(attack.ends.items()):
        result.count(f"ended {how}", n)
    return time.monotonic()


# -- the authentication and revocation matrix -------------------------------------------------

REVOCATIONS = [
    ("token deleted", "unauthenticated", 4401),  # ORM delete: the signal tells the sockets
    ("user deactivated", "unauthenticated", 4401),  # raw UPDATE: the re-check interval
    ("permission withdrawn", "forbidden", 4403),  # has_permission false after a row change
    ("session logged out", "unauthenticated", 4401),  # django.contrib.auth.logout
]


def _victim(n: int) -> tuple[User, str, str]:
    """A new user with a token and a logged-in session."""
    user = User.objects.create(username=f"chaos-victim-{n}-{time.monotonic_ns()}")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return user, Token.objects.create(user=user).key, str(session.session_key)


def revocation(scene: Any, result: Any, case: int) -> float:
    """A watching user loses access (``REVOCATIONS[case]``) under load; others go on."""
    name, code, close = REVOCATIONS[case]
    stack = scene.stack
    user, token, session = _victim(case)
    url = f"ws://127.0.0.1:{stack.port}/ws/exact/board/{scene.boards[0]}/"
    origin = f"http://127.0.0.1:{stack.port}"
    by_session = name == "session logged out"
    sock = Socket(url, origin, {"Cookie": f"sessionid={session}"} if by_session else None)
    try:
        sock.send(json.dumps({"type": "auth"} if by_session else {"type": "auth", "token": token}))
        with scene.load():
            if sock.wait(lambda f: f["type"] == "snapshot.end", 0, ANSWER_TIMEOUT) is None:
                result.broken.append(f"{name}: the user's socket never loaded")
                return time.monotonic()
            # Receiving the load's updates: there is something to leak after the revocation.
            start = len(sock.frames)
            sock.wait(lambda f: f["type"] == "update", start, ANSWER_TIMEOUT)
            since = time.monotonic()
            _revoke(stack, name, user, token, session)
            # Longer than the bound: the frames that arrive meanwhile are counted as leaked.
            sock.wait_closed(REVOKED_WITHIN + 5)
        refusals = [t for t, f in sock.frames if f["type"] == "auth.error"]
        # Anything after the refusal, or after the bound, reached a user who had lost access.
        cut = min([since + REVOKED_WITHIN, *refusals])
        result.leaked += sum(1 for t, _f in sock.frames if t > cut)
        # Within the bound, the re-check had not run yet: shown, not counted as leaked.
        in_flight = sum(1 for t, _f in sock.frames if since < t < cut)
        result.count("frames between revocation and refusal", in_flight)
        if sock.closed_at is None or sock.closed_at - since > REVOKED_WITHIN:
            result.broken.append(f"{name}: still open {REVOKED_WITHIN:.0f}s after the revocation")
            return since
        result.worst(f"{name}: closed after", sock.closed_at - since)
        codes = [f.get("code") for _t, f in sock.frames if f["type"] == "auth.error"]
        if (codes, sock.close_code) != ([code], close):
            got = f"auth.error {codes}, close {sock.close_code}"
            result.broken.append(f"{name}: {got}, expected {code} and {close}")
    finally:
        sock.close()
    return since


def _revoke(stack: Any, name: str, user: User, token: str, session: str) -> None:
    if name == "token deleted":
        Token.objects.filter(key=token).delete()
    elif name == "user deactivated":
        stack.writes.execute("UPDATE auth_user SET is_active = false WHERE id = %s", [user.pk])
    elif name == "permission withdrawn":  # tests/exactapp/channels.py refuses banned-* users
        stack.writes.execute(
            "UPDATE auth_user SET username = 'banned-' || username WHERE id = %s", [user.pk]
        )
    else:
        request = HttpRequest()
        request.session = SessionStore(session_key=session)
        request.user = user
        logout(request)

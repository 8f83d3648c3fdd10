"""The seeds' quickstart (RxDjango's README, tests/seedapp/) run as written, in Chromium.

Its project is copied to a temporary folder; ``check``, ``migrate`` and ``makefrontend`` run
there as a user would run them, its TypeScript passes ``tsc --strict`` and is built by Vite with
``VITE_SOCKET_URL``, and the page follows raw SQL through ``rx_replicate`` and daphne.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymongo
import pytest
from psycopg import sql

from rxcdc.testing.plugin import drop_database
from rxcdc.testing.services import LocalServices, free_port, stop_process
from rxcdc.testing.waiting import wait_until
from tests.e2e.browser import NODE_PACKAGES, Browser

SEEDAPP = Path(__file__).resolve().parents[1] / "seedapp"
BIN = NODE_PACKAGES / "node_modules" / ".bin"


@dataclass
class SeedProject:
    """The quickstart's project, running: its folder, environment, database and page URL."""

    root: Path
    env: dict[str, str]
    dsn: str
    url: str

    def sql(self, query: str, params: list[object] | None = None) -> None:
        """Run SQL in its own committed transaction, outside the app."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(query, params)

    def messages(self, room: str) -> list[str]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT text FROM chat_message WHERE room_id = %s ORDER BY id", [room]
            ).fetchall()
        return [text for (text,) in rows]


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture
def seed_pages(browser: Browser) -> Iterator[Browser]:
    """The browser; this test's pages are closed afterwards (after any failure's screenshot)."""
    yield browser
    browser.close_pages()


@pytest.fixture(scope="module")
def seed(
    services: LocalServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeedProject]:
    """The quickstart built as its README says, then its worker and daphne."""
    name = f"seed_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    root = tmp_path_factory.mktemp("seed") / "seedapp"
    shutil.copytree(SEEDAPP, root)
    (root / "frontend" / "node_modules").symlink_to(NODE_PACKAGES / "node_modules")
    backend, frontend, port = root / "backend", root / "frontend", free_port()
    repo = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "seedsite.settings",
        "PYTHONPATH": os.pathsep.join([str(backend), repo]),
        "PYTHONUNBUFFERED": "1",
        "PGHOST": str(services.postgres.socket_dir),
        "PGPORT": str(services.postgres.port),
        "PGDATABASE": name,
        "PGUSER": "postgres",
        "MONGO_URL": services.mongo.url,
        # The seed names no CHANNEL_LAYERS: derived from this. A database of its own: the
        # example's worker (same Redis) serves a channel of the same label, chat.ChatRoomChannel.
        "REDIS_URL": services.redis.url.rsplit("/", 1)[0] + "/9",
        "RX_SLOT_NAME": name,
        "RX_MONGO_DB": name,
        "VITE_SOCKET_URL": f"ws://127.0.0.1:{port}/",
    }
    manage = [sys.executable, "manage.py"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # `check` names hooks the consumer could not call (rxcdc.E021): it must pass as is.
        _run([*manage, "check", "--fail-level", "WARNING"], backend, env)
        _run([*manage, "migrate", "--no-input"], backend, env)
        _run(
            [*manage, "check", "--deploy", "--tag", "rxcdc", "--fail-level", "WARNING"],
            backend,
            env,
        )
        _run([*manage, "makefrontend"], backend, env)  # routes found in chat/routing.py
        assert (frontend / "src" / "app" / "modules" / "chat.channels.ts").exists()
        _run([str(BIN / "tsc"), "-p", "tsconfig.json"], frontend, env)
        _run([str(BIN / "vite"), "build", "--logLevel", "warn"], frontend, env)
        logs = root / "logs"
        logs.mkdir()
        worker_log = logs / "worker.log"
        procs.append(_spawn([*manage, "rx_replicate"], backend, env, worker_log))
        wait_until(
            lambda: "rx_replicate: streaming" in worker_log.read_text(errors="replace"),
            "rx_replicate streams",
            60,
            process=procs[-1],
            context=lambda: worker_log.read_text(errors="replace")[-2000:],
        )
        web_log = logs / "web.log"
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        procs.append(_spawn([*daphne, "seedsite.asgi:application"], backend, env, web_log))
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/"),
            "daphne serves the page",
            60,
            process=procs[-1],
            context=lambda: web_log.read_text(errors="replace")[-2000:],
        )
        yield SeedProject(root, env, services.postgres.dsn(name), f"http://127.0.0.1:{port}")
    finally:
        for proc in reversed(procs):
            stop_process(proc, signal.SIGTERM, 15)
        drop_database(services.postgres.dsn(), name)
        with pymongo.MongoClient(services.mongo.url) as client:
            client.drop_database(name)


def _token(seed: SeedProject) -> str:
    """A user and their DRF token, inserted as another process would."""
    key = secrets.token_hex(20)
    with psycopg.connect(seed.dsn, autocommit=True) as conn:
        ((user,),) = conn.execute(
            "INSERT INTO auth_user (username, password, first_name, last_name, email,"
            " is_superuser, is_staff, is_active, date_joined)"
            " VALUES (%s, '!', '', '', '', false, false, true, now()) RETURNING id",
            [f"reader-{key[:6]}"],
        ).fetchall()
        conn.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
            [key, user],
        )
    return key


PAGE_MESSAGES = (
    "() => [...document.querySelectorAll('[data-message-id]')].map((e) => e.textContent)"
)


def test_the_seeds_quickstart_runs_as_written_and_follows_raw_sql(seed, seed_pages: Browser):
    room = f"general-{uuid.uuid4().hex[:4]}"
    seed.sql("INSERT INTO chat_chatroom (name) VALUES (%s)", [room])
    seed.sql(
        "INSERT INTO chat_message (room_id, text) VALUES (%s, 'hello'), (%s, 'hi')", [room] * 2
    )
    page = seed_pages.new_page("seed")
    page.goto(f"{seed.url}/?room={room}&token={_token(seed)}")
    page.wait_for("() => document.querySelector('[data-status=live]') !== null", timeout=30)
    same = f"(expected) => JSON.stringify(({PAGE_MESSAGES})()) === JSON.stringify(expected)"
    page.wait_for(same, ["hello", "hi"])

    # raw SQL from outside the app: an UPDATE and an INSERT reach the page
    seed.sql("UPDATE chat_message SET text = upper(text) || '!' WHERE room_id = %s", [room])
    seed.sql("INSERT INTO chat_message (room_id, text) VALUES (%s, 'from psql')", [room])
    assert seed.messages(room) == ["HELLO!", "HI!", "from psql"]
    page.wait_for(same, seed.messages(room))
    # the component makes a channel on every render: one socket served it all
    sockets = [f for f in page.frames() if f.get("type") == "auth.ok"]
    assert len(sockets) == 1, sockets
    errors = [line for line in page.console() if line.startswith(("error", "pageerror"))]
    assert errors == []

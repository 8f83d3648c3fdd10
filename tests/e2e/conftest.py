"""The demo stack (example/demo.py) on the session's services, Chromium, and test helpers.

The stack runs for this package only: its own database, slot and cache database, the example's
migrations and demo data, the generated client and a fresh frontend build, then ``rx_replicate``
and daphne as subprocesses. A failing test leaves screenshots of its pages (and their console)
under ``$RXCDC_E2E_ARTIFACTS`` (default: ``<tmp>/rxcdc-e2e-artifacts``).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import pytest
from psycopg import sql

from example.demo import EXAMPLE, DemoStack
from rxcdc.testing.plugin import drop_database
from rxcdc.testing.services import LocalServices, free_port
from tests.e2e.browser import Browser, Page

ARTIFACTS = Path(
    os.environ.get("RXCDC_E2E_ARTIFACTS") or Path(tempfile.gettempdir()) / "rxcdc-e2e-artifacts"
)
PASSWORD = "e2e-password"


@dataclass
class User:
    id: int
    username: str
    password: str = PASSWORD


# The demo data's users (example/project/management/commands/demo_data.py); ids are not used.
ALICE = User(0, "alice", "wonderland")
BOB = User(0, "bob", "builder")


class Stack:
    """The running demo stack plus ways to change its database from outside the app."""

    def __init__(self, demo: DemoStack, services: LocalServices, database: str) -> None:
        self.demo, self.services, self.database = demo, services, database
        self.dsn = services.postgres.dsn(database)
        self.url = demo.url
        self._password_hash: str | None = None

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run SQL in its own committed transaction; returns the rows (if any)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def psql(self, command: str) -> None:
        """Run SQL with the ``psql`` command-line client, as an operator would."""
        pg = self.services.postgres
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(pg.socket_dir)]
        argv += ["-p", str(pg.port), "-U", "postgres", "-d", self.database, "-c", command]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    def shell(self, code: str, **popen: Any) -> subprocess.Popen[str]:
        """Start ``manage.py shell -c code`` of the example: another process using the ORM."""
        return subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=EXAMPLE,
            env=self.demo.env,
            text=True,
            **popen,
        )

    def writer(self, task: int) -> Writer:
        """Start tests/e2e/writer.py on ``task``: ~100 transactions/s until stopped."""
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("writer.py")), str(task)],
            cwd=EXAMPLE,
            env=self.demo.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return Writer(proc)

    def user(self, prefix: str) -> User:
        """A new user (password ``PASSWORD``), inserted directly: no demo user is shared."""
        if self._password_hash is None:
            from django.contrib.auth.hashers import make_password

            self._password_hash = make_password(PASSWORD)
        username = f"{prefix}-{uuid.uuid4().hex[:6]}"
        ((pk,),) = self.sql(
            "INSERT INTO auth_user (username, password, first_name, last_name, email,"
            " is_superuser, is_staff, is_active, date_joined)"
            " VALUES (%s, %s, '', '', '', false, false, true, now()) RETURNING id",
            [username, self._password_hash],
        )
        return User(pk, username)

    def task(self, user: User, title: str, items: int) -> int:
        """A task of ``user`` with ``items`` items ("item 1", "item 2", ...)."""
        ((task,),) = self.sql(
            "INSERT INTO checklist_task (user_id, title) VALUES (%s, %s) RETURNING id",
            [user.id, title],
        )
        self.sql(
            "INSERT INTO checklist_item (task_id, text, done)"
            " SELECT %s, 'item ' || n, false FROM generate_series(1, %s) AS n",
            [task, items],
        )
        return task

    def items(self, task: int) -> list[list[Any]]:
        """A task's items as the page shows them: ``[id, text, done]`` in list order."""
        rows = self.sql(
            "SELECT id, text, done FROM checklist_item WHERE task_id = %s ORDER BY id", [task]
        )
        return [list(r) for r in rows]

    def cached_items(self, task: int, pks: set[int]) -> dict[int, Any]:
        """What the worker's cache holds for these items of ``task``: text, done, _lsn, del."""
        with pymongo.MongoClient(self.services.mongo.url) as client:
            docs = client[self.database]["rx_checklist_tasklistchannel"].find({"a": task})
            return {
                d["pk"]: [
                    d.get("data", {}).get("text"),
                    d.get("data", {}).get("done"),
                    d["_lsn"],
                    d["del"],
                ]
                for d in docs
                if d["pk"] in pks and d["t"] == "checklist.ItemSerializer"
            }

    def messages(self, room: int) -> list[str]:
        """A room's message texts in the page's order."""
        rows = self.sql(
            "SELECT text FROM chat_message WHERE room_id = %s ORDER BY created, id", [room]
        )
        return [text for (text,) in rows]


class Writer:
    """A running writer.py: how many transactions it committed, and a way to stop it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.count = proc, 0

    def wait_for(self, writes: int, timeout: float = 30) -> int:
        """Wait until ``writes`` more transactions committed; returns the total."""
        target, deadline = self.count + writes, time.monotonic() + timeout
        assert self.proc.stdout is not None
        while self.count < target:
            left = deadline - time.monotonic()
            assert left > 0, f"the writer committed {self.count} transactions, not {target}"
            if select.select([self.proc.stdout], [], [], left)[0]:
                line = self.proc.stdout.readline()
                assert line, f"the writer exited with status {self.proc.wait(5)}"
                self.count = int(line)
        return self.count

    def stop(self) -> int:
        """Stop after the current transaction; returns how many were committed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        rest = self.proc.stdout.read()  # to the end: it exits after its current transaction
        assert self.proc.wait(30) == 0, f"the writer failed with {self.proc.returncode}"
        self.count = max([self.count, *(int(n) for n in rest.split())])
        return self.count


@pytest.fixture(scope="package")
def stack(services: LocalServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example running on its own database, slot and cache."""
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    run = tmp_path_factory.mktemp("e2e")
    env = {
        "PGHOST": str(services.postgres.socket_dir),
        "PGPORT": str(services.postgres.port),
        "PGDATABASE": name,
        "PGUSER": "postgres",
        "REDIS_URL": services.redis.url,
        "MONGO_URL": services.mongo.url,
        "RX_SLOT_NAME": name,
        "RX_MONGO_DB": name,
    }
    demo = DemoStack(env, port=free_port(), logs=run / "logs", dist=run / "dist")
    try:
        demo.prepare()
        demo.start_worker()
        demo.start_web()
        yield Stack(demo, services, name)
    finally:
        demo.stop()
        drop_database(services.postgres.dsn(), name)
        with pymongo.MongoClient(services.mongo.url) as client:
            client.drop_database(name)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the package."""
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def pages(browser: Browser, stack: Stack) -> Iterator[Browser]:
    """The browser, with every page this test opened closed afterwards."""
    yield browser
    browser.close_pages()


def log_in(page: Page, stack: Stack, path: str, user: User, mode: str = "session") -> None:
    """Open ``path``, log in on the login page (``mode``: session or token), wait until live."""
    page.goto(stack.url + path)
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", user.password)
    page.click("text=API token" if mode == "token" else "text=Session cookie")
    page.click("button[type=submit]")
    wait_live(page)


def wait_live(page: Page, timeout: float = 30) -> None:
    """Wait until the page's channel is live (snapshot applied)."""
    page.wait_for("() => document.querySelector('[data-status=live]') !== null", timeout=timeout)


# The page's items of one task, as [id, text, done] (ids of optimistic rows are negative).
PAGE_ITEMS = """(task) => [...document.querySelectorAll(`[data-task-id="${task}"] [data-item-id]`)]
  .map((li) => [Number(li.dataset.itemId), li.querySelector('.text')?.textContent ?? null,
                li.dataset.done === 'true'])"""


def wait_items(
    page: Page,
    task: int,
    expected: list[list[Any]],
    timeout: float = 30,
    stack: Stack | None = None,
) -> None:
    """Wait until the page shows exactly ``expected`` as the items of ``task``.

    With ``stack``, a failure also says what the cache holds for the rows that differ (is the
    cache wrong, or its delivery?).
    """
    same = f"""(arg) => JSON.stringify(({PAGE_ITEMS})(arg.task)) === JSON.stringify(arg.expected)"""
    try:
        page.wait_for(same, {"task": task, "expected": expected}, timeout=timeout)
    except AssertionError:
        shown = page.evaluate(PAGE_ITEMS, task)
        missing = [r for r in expected if r not in shown][:5]
        extra = [r for r in shown if r not in expected][:5]
        cached = ""
        if stack is not None:
            differ = {row[0] for row in missing + extra}
            cached = f"; the cache holds {stack.cached_items(task, differ)}"
        raise AssertionError(
            f"page {page.name}: task {task} shows {len(shown)} items, the database has "
            f"{len(expected)}; missing {missing}, unexpected {extra}{cached}"
        ) from None


PAGE_MESSAGES = """() => [...document.querySelectorAll('[data-message-id] .text')]
  .map((e) => e.textContent)"""


def wait_messages(page: Page, expected: list[str], timeout: float = 30) -> None:
    """Wait until the page's chat shows exactly ``expected``."""
    same = f"(expected) => JSON.stringify(({PAGE_MESSAGES})()) === JSON.stringify(expected)"
    try:
        page.wait_for(same, expected, timeout=timeout)
    except AssertionError:
        shown = page.evaluate(PAGE_MESSAGES)
        raise AssertionError(f"page {page.name} shows {shown}, expected {expected}") from None


# -- a screenshot of every open page when a test fails --------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when != "call" or not report.failed or browser is None:
        return
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, page in list(browser.pages.items()):
        try:
            saved.append(str(page.screenshot(folder / f"{name}.png", full_page=True)))
            (folder / f"{name}.console.json").write_text(json.dumps(page.console(), indent=1))
            frames = "\n".join(json.dumps(f) for f in page.frames())
            (folder / f"{name}.frames.jsonl").write_text(frames)
        except Exception as exc:  # the page may be what broke
            saved.append(f"{name}: no screenshot ({exc})")
    stack = item.funcargs.get("stack")  # type: ignore[attr-defined]
    if stack is not None:  # a copy: pytest removes old temp dirs
        shutil.copytree(stack.demo.logs, folder / "logs", dirs_exist_ok=True)
        saved.append(f"server logs: {folder / 'logs'}")
    report.sections.append(("e2e artifacts", "\n".join(saved)))

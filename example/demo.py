"""``make demo``: the example app on throwaway local services, until Ctrl-C.

Starts PostgreSQL (``wal_level=logical``), Redis and a MongoDB-wire server (``rxcdc.testing``),
migrates, loads the demo data, generates the TypeScript client (``makefrontend``), builds the
React app, then runs the replication worker (``rx_replicate``) and daphne. ``DemoStack`` is also
what the browser tests (tests/e2e) run against.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from rxcdc.testing.services import stop_process

EXAMPLE = Path(__file__).resolve().parent
FRONTEND = EXAMPLE / "frontend"
DATABASE = "rxcdc_demo"
USERS = "alice / wonderland and bob / builder"


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the step and ends with its log."""


def _die_with_parent() -> None:
    # In the child before exec: if the demo (or the test run) dies, even by SIGKILL, so do we.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DemoStack:
    """The example's processes against given services: one-off commands, worker, web server.

    ``env`` holds the settings the example reads (``PGHOST``, ``PGPORT``, ``PGDATABASE``,
    ``REDIS_URL``, ``MONGO_URL``, optionally ``RX_SLOT_NAME`` and ``RX_MONGO_DB``).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int,
        logs: Path,
        dist: Path = FRONTEND / "dist",
        host: str = "127.0.0.1",
    ) -> None:
        self.host, self.port, self.logs, self.dist = host, port, logs, dist
        logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            **env,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "EXAMPLE_FRONTEND_DIST": str(dist),
            "PYTHONUNBUFFERED": "1",
        }
        self.worker: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the browser goes."""
        return f"http://{self.host}:{self.port}"

    # -- one-off steps -----------------------------------------------------------------------

    def prepare(self) -> None:
        """Check, migrate, load the demo data, generate the client and build the frontend."""
        self.manage("check", "--fail-level", "WARNING")  # rxcdc's checks include the database
        self.manage("migrate", "--no-input")
        self.manage("demo_data")
        self.manage("makefrontend")
        vite = FRONTEND / "node_modules" / ".bin" / "vite"
        argv = [
            str(vite),
            "build",
            "--outDir",
            str(self.dist),
            "--emptyOutDir",
            "--logLevel",
            "warn",
        ]
        self.run("build", argv, cwd=FRONTEND)

    def manage(self, *args: str) -> None:
        """``manage.py <args>`` in the example, its output in the logs."""
        self.run(args[0], [sys.executable, "manage.py", *args], cwd=EXAMPLE)

    def run(self, step: str, argv: list[str], cwd: Path) -> None:
        """Run one command to completion; raise ``DemoError`` with its log when it fails."""
        log = self.logs / f"{step}.log"
        with open(log, "ab") as out:
            done = subprocess.run(argv, cwd=cwd, env=self.env, stdout=out, stderr=out, check=False)
        if done.returncode != 0:
            raise DemoError(f"{step} failed ({shlex.join(argv)}):\n{_tail(log)}")

    # -- long-running processes ----------------------------------------------------------------

    def start_worker(self, timeout: float = 60) -> None:
        """Start ``rx_replicate`` and wait until it streams (its slot exists from then on)."""
        log = self.logs / "worker.log"
        mark = log.stat().st_size if log.exists() else 0
        self.worker = self._spawn(log, [sys.executable, "manage.py", "rx_replicate"])
        self._wait(
            "rx_replicate",
            lambda: "rx_replicate: streaming" in _read_from(log, mark),
            self.worker,
            log,
            timeout,
        )

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        """Stop the worker (SIGKILL to simulate a crash)."""
        stop_process(self.worker, sig, 15)
        self.worker = None

    def start_web(self, timeout: float = 60) -> None:
        """Start daphne on ``port`` and wait until it answers."""
        log = self.logs / "web.log"
        argv = [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port)]
        self.web = self._spawn(log, [*argv, "project.asgi:application"])
        self._wait("daphne", self._answers, self.web, log, timeout)

    def stop_web(self, sig: int = signal.SIGTERM) -> None:
        """Stop daphne: its sockets close, the pages reconnect once it is back."""
        stop_process(self.web, sig, 15)
        self.web = None

    def stop(self) -> None:
        """Stop everything this stack started (idempotent)."""
        self.stop_web()
        self.stop_worker()

    def wait(self) -> None:
        """Block until the worker or the web server exits; Ctrl-C interrupts."""
        procs = [p for p in (self.worker, self.web) if p is not None]
        while all(p.poll() is None for p in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(1)
        for name, proc in (("worker", self.worker), ("web", self.web)):
            if proc is not None and proc.poll() is not None:
                print(f"{name} exited with status {proc.returncode}:", file=sys.stderr)
                print(_tail(self.logs / f"{name}.log"), file=sys.stderr)

    def pids(self) -> list[int]:
        """PIDs of the running worker and web server."""
        return [p.pid for p in (self.worker, self.web) if p is not None and p.poll() is None]

    def _spawn(self, log: Path, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                cwd=EXAMPLE,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    @staticmethod
    def _wait(
        what: str,
        ready: Callable[[], bool],
        proc: subprocess.Popen[bytes],
        log: Path,
        timeout: float,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise DemoError(f"{what} exited with status {proc.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise DemoError(f"{what} not ready after {timeout:.0f}s:\n{_tail(log)}")
            time.sleep(0.05)  # polling for readiness, bounded by the deadline


def _read_from(log: Path, offset: int) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


# -- make demo ---------------------------------------------------------------------------------


def _port(wanted: int) -> int:
    """``wanted`` if it is free, else any free port."""
    import socket

    from rxcdc.testing.services import free_port

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
        except OSError:
            port = free_port()
            print(f"demo: port {wanted} is taken, using {port} (set DEMO_PORT to choose)")
            return port
    return wanted


def _create_database(dsn: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _banner(stack: DemoStack, env: Mapping[str, str]) -> str:
    psql = (
        f"psql -h {env['PGHOST']} -p {env['PGPORT']} -U postgres {env['PGDATABASE']} "
        '-c "UPDATE chat_message SET text = upper(text)"'
    )
    return "\n".join(
        [
            "",
            f"rxcdc demo: {stack.url}/chat/lobby  and  {stack.url}/checklist",
            f"  log in as {USERS}; use two windows, one with a session and one with a token",
            "  then change the database any way you like, for example:",
            f"    {psql}",
            f"  logs: {stack.logs}/",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def main() -> int:
    """Start the services and the stack, print the URL and the logins, wait for Ctrl-C."""
    from rxcdc.testing.services import LocalServices, ServiceError

    # Started in the background by a shell, SIGINT would be ignored: Ctrl-C must stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    services = LocalServices()
    stack: DemoStack | None = None
    try:
        print("demo: starting PostgreSQL, Redis and the MongoDB-wire server", flush=True)
        services.start()
        _create_database(services.postgres.dsn(), DATABASE)
        env = {
            "PGHOST": str(services.postgres.socket_dir),
            "PGPORT": str(services.postgres.port),
            "PGDATABASE": DATABASE,
            "PGUSER": "postgres",
            "REDIS_URL": services.redis.url,
            "MONGO_URL": services.mongo.url,
        }
        port = _port(int(os.environ.get("DEMO_PORT", "8000")))
        stack = DemoStack(env, port=port, logs=services.root / "logs")
        print("demo: check, migrate, demo data, makefrontend, vite build", flush=True)
        stack.prepare()
        print("demo: starting rx_replicate and daphne", flush=True)
        stack.start_worker()
        stack.start_web()
        print(_banner(stack, env), flush=True)
        print(f"(up in {time.monotonic() - started:.1f}s)", flush=True)
        stack.wait()
        print("demo: stopping (a process exited)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping", flush=True)
        return 0
    except (DemoError, ServiceError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.stop()
        services.stop()


if __name__ == "__main__":
    raise SystemExit(main())

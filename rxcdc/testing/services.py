"""Throwaway local Postgres (logical WAL), Redis and MongoDB-wire servers for tests and demos."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rxcdc.testing.waiting import WaitFailed, wait_until

__all__ = [
    "LocalServices",
    "MongoServer",
    "PostgresServer",
    "RedisServer",
    "ServiceError",
    "free_port",
    "stop_process",
]

RUN_PREFIX = "rxcdc-services-"
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A local service is missing or failed to start; the message says what to do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec, after any uid change (which would reset it):
    # if the process that started us dies, even by SIGKILL, the kernel sends SIGTERM.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float
) -> None:
    """Poll ``ready`` until it is true; fail early if the process exits (``ServiceError``)."""
    try:
        wait_until(ready, f"{what} is ready", timeout, process=proc)
    except WaitFailed as exc:
        raise ServiceError(f"{exc}: {_tail(log)}") from None


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 10.0) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL; a no-op if it has exited."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def find_pg_bindir() -> Path:
    """Locate the newest PostgreSQL server binaries that have wal2json installed next to them."""
    override = os.environ.get("RXCDC_PG_BINDIR")
    candidates = [Path(override)] if override else []
    majors = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    candidates += [Path(p) for p in reversed(majors)]
    for bindir in candidates:
        if (bindir / "postgres").exists():
            major = bindir.parent.name
            if not (bindir.parent / "lib" / "wal2json.so").exists():
                raise ServiceError(
                    f"wal2json is not installed for PostgreSQL {major}: "
                    f"apt-get install postgresql-{major}-wal2json (or run `make setup`)"
                )
            return bindir
    raise ServiceError(
        "PostgreSQL server binaries not found: apt-get install postgresql "
        "postgresql-<major>-wal2json (or run `make setup`)"
    )


def _which(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise ServiceError(
            f"{binary} not found on PATH: apt-get install {package} (or `make setup`)"
        )
    return path


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temp dir with ``wal_level=logical``, on a unix socket and port."""

    root: Path
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    DEFAULTS = {
        "wal_level": "logical",
        "max_replication_slots": "20",
        "max_wal_senders": "20",
        "max_connections": "200",
        # A throwaway cluster: durability buys nothing and costs seconds per test run. Not
        # synchronous_commit=off: WAL senders only decode flushed WAL, so it delays every change.
        "fsync": "off",
        "full_page_writes": "off",
        "listen_addresses": "127.0.0.1",
    }

    @property
    def socket_dir(self) -> Path:
        """Where the unix socket lives."""
        return self.root / "sock"

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq DSN over the unix socket (superuser ``postgres``, trust auth)."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def start(self, timeout: float = 30.0) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        bindir = find_pg_bindir()
        user = self._run_as()
        self.port = self.port or free_port()
        for d in (self.root, self.datadir, self.socket_dir):
            d.mkdir(mode=0o700, exist_ok=True)
            if user is not None:
                os.chown(d, user.pw_uid, user.pw_gid)
        log = self.root / "postgres.log"
        with open(log, "ab") as out:
            initdb = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                **self._user_kwargs(user),
                check=False,
            )
        if initdb.returncode != 0:
            raise ServiceError(f"initdb failed: {_tail(log)}")
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        bindir, user, log = find_pg_bindir(), self._run_as(), self.root / "postgres.log"
        options = {**self.DEFAULTS, **self.settings}
        args = [
            str(bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
        ]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        self.proc = _spawn(args, log, **self._user_kwargs(user))
        socket_file = self.socket_dir / f".s.PGSQL.{self.port}"
        _wait_until(
            lambda: socket_file.exists() and self._accepts(), self.proc, "postgres", log, timeout
        )

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """Stop whatever runs and remove the run directory (idempotent)."""
        # SIGINT is Postgres's "fast" shutdown: disconnect clients, checkpoint, exit.
        stop_process(self.proc, signal.SIGINT)

    def restart(self, *, timeout: float = 120.0) -> float:
        """``pg_ctl restart -m fast`` on the same port and data; returns the shutdown's seconds.

        Waits for the shutdown as long as ``timeout`` (a walsender may hold it for a minute).
        """
        assert self.proc is not None, "not started"
        started = time.monotonic()
        stop_process(self.proc, signal.SIGINT, timeout=timeout)
        stopped = time.monotonic() - started
        self._launch(30.0)
        return stopped

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceError(
                "running as root, but there is no `postgres` user to run initdb as "
                "(it comes with apt-get install postgresql)"
            ) from exc

    @staticmethod
    def _user_kwargs(user: pwd.struct_passwd | None) -> dict[str, Any]:
        if user is None:
            return {}
        return {
            "user": user.pw_uid,
            "group": user.pw_gid,
            "extra_groups": [],
            "env": {**os.environ, "HOME": user.pw_dir, "USER": "postgres"},
        }


def _spawn(args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    out: IO[bytes]
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **kwargs,
        )


@dataclass
class RedisServer:
    """``redis-server`` on a free loopback port, without persistence."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers PING."""
        binary = _which("redis-server", "redis-server")
        self.port = self.port or free_port()
        log = self.root / "redis.log"
        self.proc = _spawn(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--daemonize",
                "no",
            ],
            log,
        )
        _wait_until(self._pong, self.proc, "redis-server", log, timeout)

    def _pong(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        """Stop whatever runs and remove the run directory (idempotent)."""
        stop_process(self.proc, signal.SIGTERM)

    def restart(self) -> None:
        """Stop and start again on the same port (empty: it persists nothing)."""
        self.stop()
        self.start()


@dataclass
class MongoServer:
    """The MongoDB server for this run: ``MONGO_URL`` if set, else ``nx-27017`` in memory."""

    root: Path
    port: int = 0
    external_url: str | None = None
    # One SQLite database per logical database ("memory": in memory). Without --data-dir,
    # nx-27017 keeps every logical database in one file and they are not isolated.
    data_dir: str = "memory"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        if self.external_url:
            return self.external_url
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 20.0) -> None:
        """Start nx-27017 (unless MONGO_URL is set) and wait until it listens."""
        if self.external_url:
            return
        # nx-27017 installs next to our interpreter; PATH may not include the venv.
        binary = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
        if not os.access(binary, os.X_OK):
            raise ServiceError(
                "nx-27017 not found: pip install nx-27017 (it is in the dev extra: `make setup`), "
                "or set MONGO_URL to a MongoDB server"
            )
        self.port = self.port or free_port()
        log = self.root / "nx-27017.log"
        # Its default pid/log files are shared by every instance: keep ours in the run dir.
        self.proc = _spawn(
            [
                binary,
                "--data-dir",
                self.data_dir,
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--log-file",
                str(log),
                "--pid-file",
                str(self.root / "nx-27017.pid"),
            ],
            self.root / "nx-27017.out",
        )
        _wait_until(
            lambda: _port_open(self.port),
            self.proc,
            "nx-27017",
            self.root / "nx-27017.out",
            timeout,
        )

    def stop(self) -> None:
        """Stop whatever runs and remove the run directory (idempotent)."""
        stop_process(self.proc, signal.SIGTERM)

    def restart(self, *, empty: bool = False) -> None:
        """Stop and start again on the same port; ``empty``: without its data.

        In memory (the default ``data_dir``) a restart is always empty. Not for ``MONGO_URL``.
        """
        if self.external_url:
            raise ServiceError("cannot restart a MongoDB server given by MONGO_URL")
        self.stop()
        if empty and self.data_dir != "memory":
            shutil.rmtree(self.data_dir, ignore_errors=True)
            Path(self.data_dir).mkdir(parents=True)
        self.start()


class LocalServices:
    """Start Postgres, Redis and MongoDB for one run and stop them, whatever happens.

    Use as a context manager. Children die with this process (``PR_SET_PDEATHSIG``), SIGTERM is
    turned into a clean stop, and run dirs left by crashed runs are removed on the next start.
    """

    def __init__(self, root: Path | None = None, pg_settings: dict[str, str] | None = None):
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the postgres user must traverse it
        self.postgres = PostgresServer(self.root / "pg", settings=pg_settings or {})
        self.redis = RedisServer(self.root)
        self.mongo = MongoServer(self.root, external_url=os.environ.get("MONGO_URL") or None)
        self._previous_sigterm: object = None

    def start(self) -> LocalServices:
        """Start all three services; on failure stop what started and re-raise."""
        _sweep_stale_runs()
        (self.root / "owner.pid").write_text(str(os.getpid()))
        self._install_sigterm()
        # Covers an unhandled exception or KeyboardInterrupt in the owner; stop() is idempotent.
        atexit.register(self.stop)
        try:
            self.postgres.start()
            self.redis.start()
            self.mongo.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop whatever runs and remove the run directory (idempotent)."""
        for service in (self.mongo, self.redis, self.postgres):
            with contextlib.suppress(Exception):
                service.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)  # type: ignore[arg-type]
            self._previous_sigterm = None

    def pids(self) -> list[int]:
        """PIDs of the server processes this object started."""
        procs = (self.postgres.proc, self.redis.proc, self.mongo.proc)
        return [p.pid for p in procs if p is not None]

    def env(self) -> dict[str, str]:
        """Environment variables that point settings modules at these services."""
        return {
            "RXCDC_PG_HOST": str(self.postgres.socket_dir),
            "RXCDC_PG_PORT": str(self.postgres.port),
            "RXCDC_PG_DSN": self.postgres.dsn(),
            "REDIS_URL": self.redis.url,
            "MONGO_URL": self.mongo.url,
        }

    def _install_sigterm(self) -> None:
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return  # somebody else (daphne, a test runner) owns SIGTERM
        # Default SIGTERM kills without running finalizers; raising lets cleanup run.
        self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    def __enter__(self) -> LocalServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _sweep_stale_runs() -> None:
    """Remove run dirs whose owning process is gone (a crashed or SIGKILLed run)."""
    for path in Path(tempfile.gettempdir()).glob(RUN_PREFIX + "*"):
        try:
            owner = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(pg_settings: dict[str, str] | None = None) -> Iterator[LocalServices]:
    """Context manager form: ``with running() as services: ...``."""
    with LocalServices(pg_settings=pg_settings) as services:
        yield services

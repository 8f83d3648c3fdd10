"""The processes a peer needs (daphne, and rxcdc's ``rx_replicate``), started and always stopped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from rxcdc.testing.services import LocalServices, free_port, stop_process
from rxcdc.testing.waiting import wait_until
from tests.bench_peers.peers import ROOT, Peer

_PR_SET_PDEATHSIG = 1


def peer_env(services: LocalServices, peer: Peer) -> dict[str, str]:
    """Environment of every process of ``peer``: the services, its settings and database."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    return {
        **env,
        **services.env(),
        "DJANGO_SETTINGS_MODULE": peer.settings,
        "PEERS_DB": peer.database,
        "PYTHONUNBUFFERED": "1",
    }


def die_with_parent() -> None:
    """Between fork and exec: the kernel sends SIGTERM if the benchmark dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` from the repository root with its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


class Stack:
    """daphne serving the peer's site, and ``rx_replicate`` when the peer needs it."""

    def __init__(self, peer: Peer, env: dict[str, str], logs: Path) -> None:
        self.peer, self.env, self.logs = peer, env, logs
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the worker (and wait until it streams), then daphne (and wait until it listens)."""
        python = str(self.peer.python)
        if self.peer.worker:
            log = self.log("rx_replicate")
            worker = self._start("rx_replicate", [python, "-m", "django", "rx_replicate"], log)
            wait_until(
                lambda: b"streaming" in log.read_bytes(), "rx_replicate streams", 60, process=worker
            )
        command = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        daphne = self._start("daphne", [*command, self.peer.asgi], self.log("daphne"))
        wait_until(lambda: _listening(self.port), "daphne listens", 60, process=daphne)

    def _start(self, name: str, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        self.procs[name] = spawn(command, self.env, log)
        return self.procs[name]

    def log(self, name: str) -> Path:
        return self.logs / f"{self.peer.key}-{name}.log"

    def peak_rss_kib(self) -> dict[str, int]:
        """Each process's peak resident set so far (``VmHWM``), in KiB."""
        return {name: peak_rss_kib(proc.pid) for name, proc in self.procs.items()}

    def failure(self) -> str | None:
        """The last exception daphne logged (its final line), if any."""
        errors = [
            line
            for line in self.log("daphne").read_text(errors="replace").splitlines()
            if "Error:" in line or "Exception:" in line
        ]
        return errors[-1].strip() if errors else None

    def check(self) -> None:
        """Fail if a process of the stack has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{self.peer.name}: {name} exited with {proc.returncode}")

    def stop(self) -> None:
        """SIGTERM every process (SIGKILL after 10 s); idempotent."""
        for proc in reversed(self.procs.values()):
            stop_process(proc, signal.SIGTERM)


@contextlib.contextmanager
def running(stacks: list[Stack]) -> Iterator[list[Stack]]:
    """Start the stacks; stop all of them whatever happens, printing logs on failure."""
    try:
        for stack in stacks:
            stack.start()
        yield stacks
    except BaseException:
        for stack in stacks:
            for name in stack.procs:
                tail = stack.log(name).read_text(errors="replace")[-3000:]
                print(f"--- {stack.peer.key} {name}\n{tail}", flush=True)
        raise
    finally:
        for stack in stacks:
            stack.stop()


def peak_rss_kib(pid: int) -> int:
    """``VmHWM`` of process ``pid``, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0

"""The three systems compared: where each one's Python and settings are, and how to talk to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.bench_peers.clients import DcrfProtocol, Protocol, RxcdcProtocol, RxDjangoProtocol

ROOT = Path(__file__).resolve().parents[2]
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
SITES = "tests.bench_peers.sites"


@dataclass(frozen=True)
class Peer:
    """One system under test, run from its own virtual environment and database."""

    key: str
    name: str
    python: Path
    site: str  # package under SITES with settings and asgi
    protocol: Protocol
    worker: bool = False  # needs rx_replicate next to daphne
    cache: str = ""  # what its cold load clears, empty if it has no cache

    @property
    def settings(self) -> str:
        return f"{SITES}.{self.site}.settings"

    @property
    def asgi(self) -> str:
        return f"{SITES}.{self.site}.asgi:application"

    @property
    def database(self) -> str:
        return f"bench_peers_{self.key}"


RXCDC = Peer(
    "rxcdc",
    "rxcdc",
    MAIN_PYTHON,
    "rxcdc_site",
    RxcdcProtocol(),
    worker=True,
    cache="`manage.py rx_cache clear`",
)
RXDJANGO = Peer(
    "rxdjango",
    "RxDjango 0.0.50",
    PEERS_PYTHON,
    "rxdjango_site",
    RxDjangoProtocol(),
    cache="`ContextChannel.clear_cache`",
)
DCRF = Peer("dcrf", "DCRF 1.3.0", PEERS_PYTHON, "dcrf_site", DcrfProtocol())
PEERS = (RXCDC, RXDJANGO, DCRF)
PLAIN = Peer("plain", "plain Django", MAIN_PYTHON, "plain_site", RxcdcProtocol())

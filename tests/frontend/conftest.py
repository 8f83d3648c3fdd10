"""Helpers for the generator tests: the test app's files, node tooling from ``make setup``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import modify_settings

from rxcdc.channels import all_channels
from rxcdc.codegen import generate

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
GOLDEN = Path(__file__).parent / "golden"
URLCONF = "tests.frontend.routing"
SOCKET_URL = "import.meta.env.VITE_RX_WEBSOCKET_URL"
SEED = Path(__file__).parent / "seed"


def generated_testapp() -> dict[str, str]:
    """What makefrontend writes for the test app (the golden files' source)."""
    channels = [c for c in all_channels() if c.label().startswith("testapp.")]
    return generate(channels, websocket_url=SOCKET_URL, urlconf=URLCONF)


@pytest.fixture
def node_bin() -> Path:
    """``frontend/node_modules/.bin``, installed by ``make setup`` (scripts/setup-node.sh)."""
    folder = FRONTEND / "node_modules" / ".bin"
    if not (folder / "tsc").exists() or shutil.which("node") is None:
        pytest.fail("frontend/node_modules is missing: run `make setup` (scripts/setup-node.sh)")
    return folder


@pytest.fixture
def quickstart(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The seeds' quickstart ``chat`` app installed (top-level, as it imports itself)."""
    monkeypatch.syspath_prepend(str(SEED))
    with modify_settings(INSTALLED_APPS={"append": "chat"}):
        yield

"""makefrontend: golden output for the test app, deterministic files, --check, --dry-run."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from rxcdc.channels import all_channels
from rxcdc.codegen import HEADER, CodegenError, generate, runtime_files
from tests.frontend.conftest import GOLDEN, ROOT, SOCKET_URL, URLCONF, generated_testapp

SETTINGS = {"RX_WEBSOCKET_URL": SOCKET_URL, "RX_WEBSOCKET_URLCONF": URLCONF}


def test_golden_files_match_the_generator():
    """Regenerate with RXCDC_UPDATE_GOLDEN=1 after an intended change."""
    files = {k: v for k, v in generated_testapp().items() if not k.startswith("rxcdc/")}
    if os.environ.get("RXCDC_UPDATE_GOLDEN") == "1":
        for name, text in files.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    golden = {p.name: p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.ts"))}
    assert golden.keys() == files.keys()
    for name, text in files.items():
        assert text == golden[name], f"{name} drifted: RXCDC_UPDATE_GOLDEN=1 pytest {__file__}"


def test_output_is_deterministic_and_marked_generated():
    first, second = generated_testapp(), generated_testapp()
    assert first == second
    assert list(first) == sorted(first)
    for name, text in first.items():
        assert text.startswith(HEADER), name
        assert not re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", text), f"timestamp in {name}"


def test_runtime_files_are_the_shipped_sources():
    sources = sorted((ROOT / "rxcdc" / "client").glob("*.ts"))
    files = runtime_files()
    assert sorted(files) == [f"rxcdc/{p.name}" for p in sources]
    for path in sources:
        assert files[f"rxcdc/{path.name}"] == HEADER + path.read_text(encoding="utf-8")
    assert "rxcdc/react.ts" not in runtime_files(react=False)


def test_channels_come_from_the_registry():
    labels = [c.label() for c in all_channels()]
    assert {"testapp.RoomChannel", "testapp.BoardsChannel"} <= set(labels)
    assert labels == sorted(labels)


def _run(*args: str, **settings: object) -> str:
    out = io.StringIO()
    with override_settings(**{**SETTINGS, **settings}):
        call_command("makefrontend", *args, stdout=out)
    return out.getvalue()


def test_writes_files_then_only_what_changed(tmp_path: Path):
    out = _run(RX_FRONTEND_DIR=str(tmp_path))
    assert f"create {tmp_path / 'testapp.channels.ts'}" in out
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ts")}
    assert {"testapp.interfaces.ts", "testapp.channels.ts", "rxcdc/store.ts"} <= written
    stamp = (tmp_path / "testapp.channels.ts").stat().st_mtime_ns
    assert "up to date" in _run(RX_FRONTEND_DIR=str(tmp_path))
    assert (tmp_path / "testapp.channels.ts").stat().st_mtime_ns == stamp
    assert "up to date" in _run("--check", RX_FRONTEND_DIR=str(tmp_path))


def test_check_fails_with_a_diff_on_drift(tmp_path: Path):
    _run(RX_FRONTEND_DIR=str(tmp_path))
    path = tmp_path / "testapp.interfaces.ts"
    path.write_text(path.read_text().replace("readonly text: string;", "readonly text: number;"))
    (tmp_path / "rxcdc" / "store.ts").unlink()
    stale = tmp_path / "gone.channels.ts"
    stale.write_text(HEADER + "export {};\n")
    mine = tmp_path / "mine.ts"
    mine.write_text("export const kept = 1;\n")
    out = io.StringIO()
    with (
        override_settings(**SETTINGS, RX_FRONTEND_DIR=str(tmp_path)),
        pytest.raises(CommandError, match=r"1 missing, 1 changed, 1 stale") as info,
    ):
        call_command("makefrontend", "--check", stdout=out)
    assert info.value.returncode == 1
    diff = out.getvalue()
    assert "--- a/testapp.interfaces.ts" in diff
    assert "-  readonly text: number;" in diff
    assert "+  readonly text: string;" in diff
    assert "+++ b/rxcdc/store.ts" in diff
    assert "--- a/gone.channels.ts" in diff
    # a normal run repairs everything, removes only generated leftovers
    _run(RX_FRONTEND_DIR=str(tmp_path))
    assert not stale.exists()
    assert mine.read_text() == "export const kept = 1;\n"
    assert "up to date" in _run("--check", RX_FRONTEND_DIR=str(tmp_path))


def test_dry_run_writes_nothing(tmp_path: Path):
    out = _run("--dry-run", RX_FRONTEND_DIR=str(tmp_path / "out"))
    assert "would create" in out
    assert not (tmp_path / "out").exists()


def test_output_option_and_missing_setting(tmp_path: Path):
    _run("--output", str(tmp_path))
    assert (tmp_path / "testapp.channels.ts").exists()
    with override_settings(**SETTINGS), pytest.raises(CommandError, match="RX_FRONTEND_DIR"):
        call_command("makefrontend")


def test_configuration_errors_are_command_errors(tmp_path: Path):
    with pytest.raises(CommandError, match="RX_WEBSOCKET_URL 'not a url'"):
        _run(RX_FRONTEND_DIR=str(tmp_path), RX_WEBSOCKET_URL="not a url")
    with pytest.raises(CommandError, match=r"testapp\.BoardsChannel: no route found"):
        _run(RX_FRONTEND_DIR=str(tmp_path), RX_WEBSOCKET_URLCONF=None)


def test_generate_refuses_unknown_channels_route():
    channels = [c for c in all_channels() if c.label().startswith("testapp.")]
    with pytest.raises(CodegenError, match="no route found"):
        generate(channels)

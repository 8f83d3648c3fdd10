"""RxDjango's quickstart (``seed/``) through the real makefrontend, ``tsc --strict`` and Node."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from rxcdc.codegen import generate
from tests.frontend.conftest import FRONTEND, SEED
from tests.frontend.test_typescript import STRICT

# The quickstart's settings (RX_FRONTEND_DIR relative to the project, no RX_WEBSOCKET_URLCONF).
# ASGI_APPLICATION routes the test app's channels, installed alongside the quickstart's.
QUICKSTART = {
    "RX_WEBSOCKET_URL": "import.meta.env.VITE_SOCKET_URL",
    "ASGI_APPLICATION": "tests.frontend.asgi.application",
}
# What a Vite project declares (vite/client types, the project's vite-env.d.ts), and the names
# the quickstart's snippet uses without declaring them.
GLOBALS = """interface ImportMetaEnv { readonly VITE_SOCKET_URL: string }
interface ImportMeta { readonly env: ImportMetaEnv }
declare const roomName: string;
declare const token: string;
declare let channel: import("./app/modules/chat.channels").ChatRoomChannel;
declare let chatState: unknown;
"""


def _tsc(node_bin: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(node_bin / "tsc"), "-p", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.usefixtures("quickstart")
def test_quickstart_typescript_passes_tsc_strict(tmp_path: Path, node_bin: Path):
    # makefrontend as the quickstart runs it: routes from chat/routing.py, nothing configured
    modules = tmp_path / "src" / "app" / "modules"
    with override_settings(**QUICKSTART, RX_FRONTEND_DIR=str(modules)):
        call_command("makefrontend", stdout=io.StringIO())
    channels = (modules / "chat.channels.ts").read_text()
    assert 'static readonly route = "ws/chat/<str:room_name>/";' in channels
    # the snippet byte for byte; its import paths are mapped as a project's tsconfig would
    shutil.copy(SEED / "quickstart.ts", tmp_path / "src" / "quickstart.ts")
    (tmp_path / "src" / "globals.d.ts").write_text(GLOBALS)
    react = FRONTEND / "node_modules" / "@types" / "react" / "index.d.ts"
    paths = {
        "app/*": ["./src/app/*"],
        "django-react": ["./src/app/modules/rxcdc/react"],
        "react": [str(react)],
    }
    config = {"compilerOptions": {**STRICT, "paths": paths}, "include": ["src/**/*.ts"]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(config, indent=2))
    done = _tsc(node_bin, tmp_path / "tsconfig.json")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.usefixtures("quickstart")
def test_generated_channels_load_outside_vite(tmp_path: Path, node_bin: Path):
    from chat.channels import ChatRoomChannel

    # the same channel generated for Vite (import.meta.env) and with a literal URL
    src = tmp_path / "src"
    for folder, url in [
        ("vite", QUICKSTART["RX_WEBSOCKET_URL"]),
        ("literal", "ws://example.test/"),
    ]:
        for name, text in generate([ChatRoomChannel], websocket_url=url, react=False).items():
            (src / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (src / folder / name).write_text(text)
    (src / "env.d.ts").write_text(GLOBALS.split("declare const")[0])
    options = {**STRICT, "noEmit": False, "outDir": str(tmp_path / "out"), "rootDir": str(src)}
    config = {"compilerOptions": options, "include": ["src/**/*.ts"]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(config, indent=2))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    done = _tsc(node_bin, tmp_path / "tsconfig.json")
    assert done.returncode == 0, done.stdout + done.stderr
    node, out = SEED / "node", tmp_path / "out"
    done = subprocess.run(
        ["node", "--import", str(node / "register.mjs"), str(node / "load.mjs"), out.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["withUrl"] == "ok"
    # without a URL the expression is read then, and says what to do when it cannot be
    assert "import.meta.env.VITE_SOCKET_URL" in result["withoutUrl"]
    assert "url" in result["withoutUrl"]
    assert result["url"] == "ws://example.test/ws/chat/a%20b/"
    assert result["frame"] == {"type": "auth", "token": "tok"}

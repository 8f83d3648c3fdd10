"""Generated TypeScript and the runtime compile with ``tsc --strict``; the vitest suite passes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from rxcdc.codegen import generate
from tests.frontend.conftest import FRONTEND, generated_testapp
from tests.frontend.sink import SinkChannel

# At least as strict as Vite's React template (its noUnused*/erasableSyntaxOnly/verbatim...).
STRICT = {
    "target": "ES2022",
    "lib": ["ES2022", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "moduleResolution": "bundler",
    "strict": True,
    "noUncheckedIndexedAccess": True,
    "exactOptionalPropertyTypes": True,
    "noImplicitOverride": True,
    "noImplicitReturns": True,
    "noUnusedLocals": True,
    "noUnusedParameters": True,
    "noFallthroughCasesInSwitch": True,
    "verbatimModuleSyntax": True,
    "isolatedModules": True,
    "erasableSyntaxOnly": True,
    "skipLibCheck": True,
    "noEmit": True,
    "types": [],
}
VITE_ENV = """interface ImportMetaEnv { readonly VITE_RX_WEBSOCKET_URL: string }
interface ImportMeta { readonly env: ImportMetaEnv }
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_generated_files_and_runtime_pass_tsc_strict(tmp_path: Path, node_bin: Path):
    # the test app as makefrontend writes it for a Vite project (URL from import.meta.env),
    # plus type-level tests of its API; and the channel that uses every mapping rule
    app, sink = tmp_path / "app", tmp_path / "sink"
    _write(app, generated_testapp())
    _write(app, {"vite-env.d.ts": VITE_ENV})
    shutil.copy(Path(__file__).parent / "ts" / "usage.ts", app / "usage.ts")
    _write(sink, generate([SinkChannel], websocket_url="wss://example.com/"))
    react = FRONTEND / "node_modules" / "@types" / "react" / "index.d.ts"
    config = {
        "compilerOptions": {**STRICT, "paths": {"react": [str(react)]}},
        "include": ["app/**/*.ts", "sink/**/*.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config, indent=2))
    done = subprocess.run(
        [str(node_bin / "tsc"), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # no `any` in what users see: the generated files and the runtime's public types
    for path in [*app.rglob("*.ts"), *sink.rglob("*.ts")]:
        if path.name in ("usage.ts", "vite-env.d.ts"):
            continue
        assert not re.search(r"(:|<|\||,)\s*any\b", path.read_text()), path


def test_runtime_sources_and_ts_tests_pass_tsc_strict(node_bin: Path):
    done = subprocess.run(
        [str(node_bin / "tsc"), "-p", str(FRONTEND / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_vitest_suite_passes(node_bin: Path):
    done = subprocess.run(
        [str(node_bin / "vitest"), "run", "--reporter=dot"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"Tests\s+\S*\s*\d+ passed", re.sub(r"\x1b\[[0-9;]*m", "", output)), output

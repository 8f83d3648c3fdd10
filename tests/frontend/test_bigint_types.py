"""Generated types say which integers may pass 2^53 (``number | bigint``); decimals stay strings.

The client parses integers outside JavaScript's safe range as ``bigint`` (rxcdc/client/json.ts),
so a 64-bit column, a key referencing one and a 128-bit UUID integer are typed ``number | bigint``;
32-bit columns stay ``number``. Checked on what makefrontend writes for the test app (its
generator, limited to the test app's channels like the golden files) and with ``tsc --strict``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from rxcdc.channels import all_channels
from rxcdc.codegen import generate
from tests.frontend.conftest import URLCONF, generated_testapp
from tests.frontend.sink import SinkChannel
from tests.frontend.test_typescript import STRICT, VITE_ENV


def _interface(text: str, name: str) -> dict[str, str]:
    """``field -> TS type`` of one generated interface."""
    body = re.search(rf"export interface {name} \{{\n(.*?)\n\}}", text, re.S)
    assert body is not None, name
    lines = re.findall(r"^  readonly (\w+)\??: (.*);$", body.group(1), re.M)
    return dict(lines)


def _write(folder: Path, files: dict[str, str]) -> dict[str, str]:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return files


def test_makefrontend_types_64_bit_keys_as_number_or_bigint(tmp_path: Path):
    files = generated_testapp()
    interfaces = files["testapp.interfaces.ts"]
    message = _interface(interfaces, "MessageState")
    assert message["_pk"] == message["id"] == "number | bigint"  # BigAutoField
    assert message["_lsn"] == "number"
    flat = _interface(interfaces, "MessageInstance")
    assert flat["author"] == "Ref<AuthorState> | null"  # Ref<T> is T["_pk"]: number | bigint
    assert _interface(interfaces, "AuthorState")["_pk"] == "number | bigint"
    assert _interface(interfaces, "NoteState")["user"] == "number"  # auth.User: a 32-bit AutoField
    channels = files["testapp.channels.ts"]
    assert "constructor(room: number | bigint, options: ChannelOptions | TokenSource = {})" in (
        channels
    )
    assert 'pkKind: "number"' in channels  # optimistic creates still use negative numbers
    assert "rxcdc/json.ts" in files  # the lossless parser ships with the runtime
    assert "parseJson" in files["rxcdc/connection.ts"]


def test_serializer_fields_past_2_53_and_decimals():
    files = generate([SinkChannel], websocket_url="wss://example.com/")
    sink = _interface(files["testapp.interfaces.ts"], "SinkMessageState")
    assert sink["huge"] == "number | bigint"  # BigIntegerField
    assert sink["huge_text"] == "string"  # BigIntegerField(coerce_to_string=True)
    assert sink["exact"] == sink["price"] == "string"  # decimals are strings, coerced or not
    assert sink["room_key"] == "number | bigint"  # source="room.id": a BigAutoField
    assert sink["room"] == "number | bigint"  # a FK to a BigAutoField key
    assert sink["ident"] == "string"
    assert sink["snowflake"] == "number | bigint"  # -> rxcdc.codegen.BigInt
    assert sink["big"] == "number"  # IntegerField
    assert sink["blob"] == "unknown"  # JSONField: any JSON value, bigints included
    channels = files["tests.channels.ts"]
    assert "lookup: (key: number | bigint, count: number): Promise<(number | bigint)[]>" in channels


def test_rx_ts_types_can_keep_64_bit_ids_numbers():
    overrides = {
        "django.db.models.fields.BigAutoField": "number",
        "rest_framework.fields.BigIntegerField": "number",
    }
    channels = [c for c in all_channels() if c.label() == "testapp.RoomChannel"]
    files = generate(channels, websocket_url="wss://x/", urlconf=URLCONF, overrides=overrides)
    message = _interface(files["testapp.interfaces.ts"], "MessageState")
    assert message["_pk"] == message["id"] == "number"


def test_generated_bigint_types_pass_tsc_strict(tmp_path: Path, node_bin: Path):
    app, sink = tmp_path / "app", tmp_path / "sink"
    _write(app, {**generated_testapp(), "vite-env.d.ts": VITE_ENV})
    _write(sink, generate([SinkChannel], websocket_url="wss://example.com/"))
    shutil.copy(Path(__file__).parent / "ts" / "bigint.ts", tmp_path / "bigint.ts")
    react = node_bin.parent / "@types" / "react" / "index.d.ts"
    config = {
        "compilerOptions": {**STRICT, "paths": {"react": [str(react)]}},
        "include": ["app/**/*.ts", "sink/**/*.ts", "bigint.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config, indent=2))
    done = subprocess.run(
        [str(node_bin / "tsc"), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

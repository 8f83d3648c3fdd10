"""rxcdc/client/frames.ts is generated from rxcdc/frames.py and must not drift from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rxcdc.codegen.frames import FRAMES_TS, main, render, ts_type
from rxcdc.codegen.ts import CodegenError


def test_committed_frames_ts_is_what_the_declarations_generate() -> None:
    assert FRAMES_TS.read_text(encoding="utf-8") == render(), (
        "rxcdc/client/frames.ts is stale: run python -m rxcdc.codegen.frames"
    )


def test_error_frame_type_carries_the_anchor() -> None:
    text = render()
    error = text[text.index("export interface ErrorFrame") :]
    assert "readonly anchor?: Pk;" in error[: error.index("}")]


def test_check_fails_on_a_stale_file_and_regeneration_fixes_it(tmp_path: Path) -> None:
    out = tmp_path / "frames.ts"
    out.write_text(render().replace("readonly anchor?: Pk;", ""), encoding="utf-8")
    assert main(["--check", "--output", str(out)]) == 1
    assert main(["--output", str(out)]) == 0
    assert main(["--check", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (dict[str, int], "{ readonly [key: string]: number }"),
        (list[str | None], "readonly (string | null)[]"),
        (Any, "unknown"),
    ],
)
def test_python_types_map_to_typescript(hint: Any, expected: str) -> None:
    assert ts_type(hint) == expected


def test_a_type_json_cannot_carry_is_refused() -> None:
    with pytest.raises(CodegenError):
        ts_type(dict[int, str])
    with pytest.raises(CodegenError):
        ts_type(bytes)

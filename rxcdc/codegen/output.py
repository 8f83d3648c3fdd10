"""Compare generated files with a directory, show diffs, write only what changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from rxcdc.codegen.ts import HEADER

__all__ = ["Changes", "compare", "write"]


@dataclass
class Changes:
    """What writing the generated files into a directory would do."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # generated earlier, no longer produced
    diff: str = ""

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.stale)


def compare(files: dict[str, str], root: Path) -> Changes:
    """Differences between ``files`` (relative path → text) and what ``root`` holds."""
    changes = Changes()
    diffs: list[str] = []
    for name, text in files.items():
        path = root / name
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            continue
        (changes.changed if old is not None else changes.created).append(name)
        diffs.extend(_diff(name, old or "", text))
    for path in _generated(root):
        name = path.relative_to(root).as_posix()
        if name not in files:
            changes.stale.append(name)
            diffs.extend(_diff(name, path.read_text(encoding="utf-8"), ""))
    changes.diff = "".join(diffs)
    return changes


def write(files: dict[str, str], root: Path, changes: Changes) -> None:
    """Write created and changed files (others keep their mtime); remove stale ones."""
    for name in changes.created + changes.changed:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name], encoding="utf-8")
    for name in changes.stale:
        (root / name).unlink()


def _generated(root: Path) -> list[Path]:
    """Files under ``root`` (top level and ``rxcdc/``) that carry the generated header."""
    out = []
    for folder in (root, root / "rxcdc"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.ts")):
            with path.open(encoding="utf-8", errors="replace") as fh:
                if fh.readline() == HEADER:
                    out.append(path)
    return out


def _diff(name: str, old: str, new: str) -> list[str]:
    return list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )

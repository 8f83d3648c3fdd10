"""The TypeScript frame types (``rxcdc/client/frames.ts``), generated from ``rxcdc.frames``.

``python -m rxcdc.codegen.frames`` rewrites the file; ``--check`` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from rxcdc import frames
from rxcdc.codegen.ts import CodegenError, array, literal, prop, union

__all__ = ["FRAMES_TS", "main", "render"]

FRAMES_TS = Path(__file__).resolve().parent.parent / "client" / "frames.ts"

_HEAD = """\
// Generated from rxcdc/frames.py by `python -m rxcdc.codegen.frames` — do not edit.
// The wire contract is docs/protocol.md; the Python side builds these frames in rxcdc/frames.py.

import type { FlatInstance, Pk, Tombstone } from "./types";
"""
_SCALARS = {str: "string", int: "number", float: "number", bool: "boolean", NoneType: "null"}


def render() -> str:
    """The text of ``frames.ts`` for the declarations in ``rxcdc.frames``."""
    out = [_HEAD, _section("frames the server sends")]
    out += [_interface(f) for f in frames.SERVER_FRAMES]
    state = [f.__name__ for f in frames.STATE_FRAMES]
    others = [f.__name__ for f in frames.SERVER_FRAMES if f not in frames.STATE_FRAMES]
    out.append(
        _alias(
            "StateFrame", "Frames that carry state for one anchor (applied by the store).", state
        )
    )
    out.append(
        _alias(
            "ServerFrame",
            "Every frame the server sends (unknown types are ignored, as the protocol asks).",
            [*others[:2], "StateFrame", *others[2:]],
        )
    )
    out.append(_section("frames the client sends"))
    out += [_interface(f) for f in frames.CLIENT_FRAMES]
    client = [f.__name__ for f in frames.CLIENT_FRAMES]
    out.append(_alias("ClientFrame", "Every frame the client sends.", client))
    return "\n".join(out)


def _section(title: str) -> str:
    return f"// -- {title} {'-' * (93 - len(title))}\n"


def _doc(text: str, indent: str = "") -> str:
    # Python's ``code`` is TypeScript's `code`.
    text = re.sub(r"``([^`]+)``", r"`\1`", " ".join(text.split()))
    return f"{indent}/** {text} */\n"


def _interface(declared: type) -> str:
    lines = [
        _doc(declared.__doc__ or declared.__name__),
        f"export interface {declared.__name__} {{\n",
    ]
    for name, (hint, required) in frames.fields(declared).items():
        doc = _field_doc(hint)
        if doc:
            lines.append(_doc(doc, "  "))
        optional = "" if required else "?"
        lines.append(f"  readonly {prop(name)}{optional}: {ts_type(hint)};\n")
    lines.append("}\n")
    return "".join(lines)


def _alias(name: str, doc: str, members: list[str]) -> str:
    body = "".join(f"\n  | {m}" for m in members)
    return f"{_doc(doc)}export type {name} ={body};\n"


def _field_doc(hint: Any) -> str:
    if get_origin(hint) is Annotated:
        return " ".join(m for m in hint.__metadata__ if isinstance(m, str))
    return ""


def ts_type(hint: Any) -> str:
    """A declared Python type as a TypeScript type; raises CodegenError for what has none."""
    origin = get_origin(hint)
    if origin is Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, frames.TS):
                return meta.name
        return ts_type(get_args(hint)[0])
    if origin is Literal:
        return union(*(literal(v) for v in get_args(hint)))
    if origin is Union or origin is UnionType:
        return union(*(ts_type(a) for a in get_args(hint)))
    if origin is list:
        return array(ts_type(get_args(hint)[0]), readonly=True)
    if origin is dict:
        key, value = get_args(hint)
        if key is not str:
            raise CodegenError(f"frame field type {hint!r}: only str keys exist in JSON")
        return f"{{ readonly [key: string]: {ts_type(value)} }}"
    if hint is Any:
        return "unknown"
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise CodegenError(f"frame field type {hint!r} has no TypeScript counterpart")


def main(argv: list[str] | None = None) -> int:
    """Write ``frames.ts`` (returns 0), or with ``--check`` return 1 when it is not ``render()``."""
    parser = argparse.ArgumentParser(prog="python -m rxcdc.codegen.frames", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    parser.add_argument("--output", type=Path, default=FRAMES_TS, help="default: %(default)s")
    args = parser.parse_args(argv)
    out: Path = args.output
    text = render()
    current = out.read_text(encoding="utf-8") if out.exists() else None
    if args.check:
        if current != text:
            print(f"{out} is stale: run python -m rxcdc.codegen.frames", file=sys.stderr)
            return 1
        return 0
    if current != text:
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

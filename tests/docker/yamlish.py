"""Read the YAML subset docker/compose.yaml is written in (PyYAML is not a dependency).

Block mappings and block sequences by indentation, ``#`` comments, plain, single- and
double-quoted scalars, and flow sequences of double-quoted strings (``["CMD", "x"]``). Anything
else (anchors, multi-line strings, flow mappings) is refused, so the file stays in the subset.
"""

from __future__ import annotations

import json
import re
from typing import Any

Line = tuple[int, str, int]  # (indent, text, line number)


class YamlishError(ValueError):
    """The text is outside the subset."""


def loads(text: str) -> Any:
    """Parse ``text``; returns dicts, lists, str, int, bool and None."""
    lines = [
        (len(raw) - len(raw.lstrip(" ")), body, number)
        for number, raw in enumerate(text.splitlines(), 1)
        if (body := _strip_comment(raw).strip())
    ]
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0][0])
    if end != len(lines):
        raise YamlishError(f"line {lines[end][2]}: unexpected indentation")
    return value


def _strip_comment(raw: str) -> str:
    quote = None
    for i, ch in enumerate(raw):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or raw[i - 1] == " "):
            return raw[:i]
    return raw


def _block(lines: list[Line], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _sequence(lines: list[Line], i: int, indent: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        item = lines[i][1][2:].strip()
        if re.match(r"^[\w.-]+:(\s|$)", item):
            raise YamlishError(f"line {lines[i][2]}: mappings inside sequences are not supported")
        out.append(_scalar(item, lines[i][2]))
        i += 1
    return out, i


def _mapping(lines: list[Line], i: int, indent: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        _, text, number = lines[i]
        match = re.match(r"^([\w.-]+|\"[^\"]*\"):(?:\s+(.*))?$", text)
        if match is None:
            raise YamlishError(f"line {number}: expected `key: value`, got {text!r}")
        key = match.group(1).strip('"')
        if key in out:
            raise YamlishError(f"line {number}: duplicate key {key!r}")
        rest = match.group(2)
        i += 1
        if rest:
            out[key] = _scalar(rest, number)
        elif i < len(lines) and lines[i][0] > indent:
            out[key], i = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise YamlishError(f"line {lines[i][2]}: unexpected indentation")
    return out, i


def _scalar(text: str, number: int) -> Any:
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise YamlishError(f"line {number}: flow sequences must be JSON: {text}") from None
    if text[0] in "&*|>{":
        raise YamlishError(f"line {number}: {text[0]!r} is outside the subset")
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'"):
            raise YamlishError(f"line {number}: unterminated string")
        return text[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    return text

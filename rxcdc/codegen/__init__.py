"""TypeScript generation for ``manage.py makefrontend``: interfaces, channel classes, runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from rxcdc.codegen.channels import render_channels
from rxcdc.codegen.hints import BigInt
from rxcdc.codegen.interfaces import render_interfaces
from rxcdc.codegen.plan import build_plan
from rxcdc.codegen.routes import find_routes
from rxcdc.codegen.ts import HEADER, CodegenError

__all__ = ["HEADER", "BigInt", "CodegenError", "generate", "runtime_files"]

RUNTIME_DIR = "rxcdc"


def runtime_files(*, react: bool = True) -> dict[str, str]:
    """The client runtime (``rxcdc/client/*.ts``) as ``rxcdc/<name>.ts`` → text."""
    out = {}
    folder = resources.files("rxcdc") / "client"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".ts") or (entry.name == "react.ts" and not react):
            continue
        out[f"{RUNTIME_DIR}/{entry.name}"] = HEADER + entry.read_text(encoding="utf-8")
    return out


def generate(
    channels: Sequence[Any],
    *,
    websocket_url: Any = "",
    urlconf: str | Sequence[str] | None = None,
    overrides: Mapping[str, str] | None = None,
    react: bool = True,
) -> dict[str, str]:
    """Every generated file, relative path → text, in a stable order.

    Raises ``CodegenError`` naming what cannot be expressed (a hint, a field, a route).
    """
    plan = build_plan(channels)
    routes = find_routes(list(channels), urlconf)
    files: dict[str, str] = {}
    for app in plan.apps():
        files[f"{app}.interfaces.ts"] = render_interfaces(plan, app, overrides or {})
    for app in sorted(plan.channels):
        files[f"{app}.channels.ts"] = render_channels(plan, app, routes, websocket_url)
    files.update(runtime_files(react=react))
    return dict(sorted(files.items()))

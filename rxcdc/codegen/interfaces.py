"""``<app>.interfaces.ts``: per layer type, the flat instance and the nested state interfaces."""

from __future__ import annotations

from collections.abc import Mapping

from rxcdc.codegen.fields import FieldMapper, pk_type
from rxcdc.codegen.hints import HintMapper
from rxcdc.codegen.plan import Plan, TypeInfo, nested_nullable
from rxcdc.codegen.ts import HEADER, array, literal, prop, union

__all__ = ["render_interfaces"]


def render_interfaces(plan: Plan, app: str, overrides: Mapping[str, str]) -> str:
    """The interfaces file of one app: every type whose model belongs to it."""
    infos = sorted((i for i in plan.types.values() if i.app == app), key=lambda i: i.base)
    hints = HintMapper(reserved={n for i in infos for n in _names(i)})
    used: set[str] = {"Pending"}
    foreign: dict[str, set[str]] = {}
    blocks: list[str] = []
    for info in infos:
        flat, state = _fields(plan, info, hints, overrides, used, foreign)
        pk = pk_type(info.layer.model, overrides)
        blocks.append(_interface(info, pk, info.instance, flat, "as sent: a flat instance", False))
        blocks.append(_interface(info, pk, info.state, state, "in a channel's state", True))
        blocks.extend(_payloads(info, hints, overrides))
    imports = [f'import type {{ {", ".join(sorted(used))} }} from "./rxcdc/index";']
    for other in sorted(foreign):
        names = ", ".join(sorted(foreign[other]))
        imports.append(f'import type {{ {names} }} from "./{other}.interfaces";')
    named = [hints.declarations[name] for name in sorted(hints.declarations)]
    return HEADER + "\n".join(imports) + "\n\n" + "\n\n".join(named + blocks) + "\n"


def _names(info: TypeInfo) -> list[str]:
    return [info.state, info.instance, f"{info.base}Save", f"{info.base}Create"]


def _fields(
    plan: Plan,
    info: TypeInfo,
    hints: HintMapper,
    overrides: Mapping[str, str],
    used: set[str],
    foreign: dict[str, set[str]],
) -> tuple[list[str], list[str]]:
    """Lines of the flat and nested interfaces, in the serializer's field order."""
    layer = info.layer
    children = {child.field_name: child for child in layer.children}
    serializer = layer.flat()
    mapper = FieldMapper(serializer, hints, layer.type_key, overrides)
    flat: list[str] = []
    state: list[str] = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        child = children.get(name)
        if child is None:
            ts = mapper.ts(name, field)
            flat.append(f"  readonly {prop(name)}: {ts};")
            state.append(f"  readonly {prop(name)}: {ts};")
            continue
        target = plan.types[child.type_key]
        if target.app != info.app:
            foreign.setdefault(target.app, set()).add(target.state)
        used.add("Ref")
        ref = f"Ref<{target.state}>"
        if child.many:
            flat_ts, state_ts = array(ref, readonly=True), array(target.state, readonly=True)
        elif nested_nullable(child):
            flat_ts, state_ts = union(ref, "null"), union(target.state, "null")
        else:
            flat_ts, state_ts = ref, target.state
        flat.append(f"  readonly {prop(name)}: {flat_ts};")
        state.append(f"  readonly {prop(name)}: {state_ts};")
    return flat, state


def _interface(
    info: TypeInfo, pk: str, name: str, lines: list[str], what: str, nested: bool
) -> str:
    head = [
        f"/** {info.type_key} {what}. */",
        f"export interface {name} {{",
        f"  readonly _type: {literal(info.type_key)};",
        f"  readonly _pk: {pk};",
        "  readonly _lsn: number;",
    ]
    if nested:
        head.append("  /** Set while an optimistic write of this object awaits the server. */")
        head.append("  readonly _pending?: Pending;")
    return "\n".join(head + lines + ["}"])


def _payloads(info: TypeInfo, hints: HintMapper, overrides: Mapping[str, str]) -> list[str]:
    """``<Type>Save`` / ``<Type>Create``: the writable fields a write may send."""
    if not info.writes & {"save", "create"}:
        return []
    serializer = info.layer.serializer_class()
    mapper = FieldMapper(serializer, hints, info.type_key, overrides)
    writable = [(n, f) for n, f in serializer.fields.items() if not f.read_only]
    out = []
    if "save" in info.writes:
        lines = [f"  readonly {prop(n)}?: {mapper.ts(n, f)};" for n, f in writable]
        doc = f"Fields a save of {info.type_key} may change."
        out.append(_payload(f"{info.base}Save", doc, lines))
    if "create" in info.writes:
        lines = [
            f"  readonly {prop(n)}{'' if f.required else '?'}: {mapper.ts(n, f)};"
            for n, f in writable
        ]
        doc = f"Fields a create of {info.type_key} takes."
        out.append(_payload(f"{info.base}Create", doc, lines))
    return out


def _payload(name: str, doc: str, lines: list[str]) -> str:
    return "\n".join([f"/** {doc} */", f"export interface {name} {{", *lines, "}"])

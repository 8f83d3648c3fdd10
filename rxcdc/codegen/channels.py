"""``<app>.channels.ts``: one class per ``StateChannel`` with typed actions and writes."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

from rxcdc.actions import is_action
from rxcdc.codegen.fields import pk_kind
from rxcdc.codegen.hints import HintMapper
from rxcdc.codegen.plan import Plan, TypeInfo
from rxcdc.codegen.routes import Route
from rxcdc.codegen.ts import HEADER, CodegenError, camel, identifier, literal, prop

__all__ = ["render_channels", "socket_url"]

_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def socket_url(value: Any) -> str:
    """RX_WEBSOCKET_URL as a TS expression: a URL/path literal, or a dotted expression."""
    text = "" if value is None else str(value)
    if text == "" or "://" in text or text.startswith("/"):
        return literal(text)
    if all(part.isidentifier() for part in text.split(".")):
        return text  # e.g. import.meta.env.VITE_RX_WEBSOCKET_URL
    raise CodegenError(
        f"RX_WEBSOCKET_URL {text!r} is neither a URL (wss://host/, /path) nor a dotted "
        "expression such as import.meta.env.VITE_RX_WEBSOCKET_URL"
    )


def _url_function(value: Any) -> list[str]:
    """``websocketUrl()``: RX_WEBSOCKET_URL, read only when a channel is given no ``url``.

    An expression is not read at import: outside Vite (Node, tests) ``import.meta.env`` is unset.
    """
    expression = socket_url(value)
    lines = [
        "/** RX_WEBSOCKET_URL when this file was generated; read when a channel has no `url`. */",
        "function websocketUrl(): string {",
    ]
    if expression.startswith('"'):
        return [*lines, f"  return {expression};", "}"]
    advice = (
        f"rxcdc: RX_WEBSOCKET_URL ({expression}) is no string here; define it, "
        "or pass { url } to the channel: "
    )
    return [
        *lines,
        "  let url: unknown;",
        "  try {",
        f"    url = {expression};",
        "  } catch (error) {",
        "    url = error; // e.g. outside Vite, where import.meta.env is undefined",
        "  }",
        '  if (typeof url === "string") return url;',
        f"  throw new Error({literal(advice)} + String(url));",
        "}",
    ]


# RxDjango's quickstart passes the token alone: `new ChatRoomChannel(roomName, token)`.
_OPTIONS = """/** A channel's last argument: its options, or only a DRF token. */
function channelOptions(options: ChannelOptions | TokenSource): ChannelOptions {
  return typeof options === "object" && options !== null ? options : { token: options };
}"""


def render_channels(plan: Plan, app: str, routes: Mapping[Any, Route], url: Any) -> str:
    """The channels file of one app."""
    channels = plan.channels[app]
    imports: dict[str, set[str]] = {}
    runtime = {"StateChannel", "ChannelOptions", "ChannelSpec", "TokenSource"}
    reserved = {c.__name__ for c in channels} | {f"{c.__name__}Runtime" for c in channels}
    reserved |= {n for i in plan.types.values() for n in (i.state, i.instance)}
    hints = HintMapper(reserved=reserved | {"websocketUrl", "channelOptions"})
    blocks = []
    for channel in channels:
        blocks.append(_channel(plan, channel, routes[channel], hints, imports, runtime))
    lines = [f'import {{ {", ".join(_runtime_names(runtime))} }} from "./rxcdc/index";']
    for other in sorted(imports):
        names = ", ".join(sorted(imports[other]))
        lines.append(f'import type {{ {names} }} from "./{other}.interfaces";')
    lines += ["", *_url_function(url), "", _OPTIONS]
    named = [hints.declarations[n] for n in sorted(hints.declarations)]
    return HEADER + "\n".join(lines) + "\n\n" + "\n\n".join(named + blocks) + "\n"


def _runtime_names(names: set[str]) -> list[str]:
    values = {"StateChannel"}
    return [n if n in values else f"type {n}" for n in sorted(names, key=str.lower)]


def _channel(
    plan: Plan,
    channel: Any,
    route: Route,
    hints: HintMapper,
    imports: dict[str, set[str]],
    runtime: set[str],
) -> str:
    name = channel.__name__
    model = channel.state()
    root = plan.types[model.root.type_key]
    imports.setdefault(root.app, set()).add(root.state)
    state = f"readonly {root.state}[]" if model.many else f"{root.state} | null"
    runtime_ts = _runtime_vars(channel, hints)
    spec = f"{camel(name[:1].lower() + name[1:])}Spec"
    params = [f"{ts}: {t}" for _, ts, t in route.ts_params()]
    out = [f"/** Runtime variables of {channel.label()} (Meta.runtime). */"]
    out.append(f"export interface {name}Runtime {runtime_ts}")
    out.append("")
    out.append(f"const {spec}: ChannelSpec = {{")
    out.append(f"  label: {literal(channel.label())},")
    out.append("  get url(): string {")
    out.append("    return websocketUrl();")
    out.append("  },")
    out.append(_schema(plan, channel))
    out.append("};")
    out.append("")
    out.append(f"/** {channel.label()} at {route.pattern} */")
    out.append(f"export class {name} extends StateChannel<{state}, {name}Runtime> {{")
    out.append(f"  static readonly label = {literal(channel.label())};")
    out.append(f"  static readonly route = {literal(route.pattern)};")
    out.append("")
    last = "options: ChannelOptions | TokenSource = {}"
    out.append(f"  constructor({', '.join([*params, last])}) {{")
    out.append(f"    super({spec}, {route.ts_path()}, channelOptions(options));")
    out.append("  }")
    actions = _actions(channel, hints)
    if actions:
        out += ["", "  /** The channel's @action methods. */", "  readonly actions = {"]
        out += actions
        out.append("  };")
    out += _writes(plan, channel, imports, runtime)
    out.append("}")
    return "\n".join(out)


def _schema(plan: Plan, channel: Any) -> str:
    model = channel.state()
    keys = sorted({layer.type_key for layer in model.layers})
    lines = [
        "  schema: {",
        f"    root: {literal(model.root.type_key)},",
        f"    many: {'true' if model.many else 'false'},",
        "    types: {",
    ]
    for key in keys:
        layer = plan.types[key].layer
        nested = ", ".join(
            f"{prop(c.field_name or '')}: [{literal(c.type_key)}, {'true' if c.many else 'false'}]"
            for c in layer.children
        )
        pk = _pk_field(layer)
        lines.append(
            f"      {literal(key)}: {{ pk: {literal(pk)}, pkKind: {literal(pk_kind(layer.model))}, "
            f"nested: {{{' ' + nested + ' ' if nested else ''}}} }},"
        )
    return "\n".join([*lines, "    },", "  },"])


def _pk_field(layer: Any) -> str | None:
    pk = layer.model._meta.pk
    for name, field in layer.flat().fields.items():
        if field.source in ("pk", pk.name, pk.attname) and not field.write_only:
            return str(name)
    return None


def _runtime_vars(channel: Any, hints: HintMapper) -> str:
    declared = getattr(channel.Meta, "runtime", None)
    if declared is None:
        return "{\n  readonly [name: string]: unknown;\n}"
    lines = []
    for key in declared:
        ts = hints.ts(declared[key], f"{channel.label()}.Meta.runtime[{key!r}]", "out")
        lines.append(f"  readonly {prop(key)}: {ts};")
    return "{\n" + "\n".join(lines) + "\n}"


def _actions(channel: Any, hints: HintMapper) -> list[str]:
    names = sorted({n for klass in channel.__mro__ for n in vars(klass) if is_action(channel, n)})
    out: list[str] = []
    seen: dict[str, str] = {}
    for name in names:
        ts_name = camel(name)
        if ts_name in seen:
            raise CodegenError(
                f"{channel.label()}: actions {seen[ts_name]!r} and {name!r} are both {ts_name}"
            )
        seen[ts_name] = name
        out.extend(_action(channel, name, ts_name, hints))
    return out


def _action(channel: Any, name: str, ts_name: str, hints: HintMapper) -> list[str]:
    fn = getattr(channel, name)
    where = f"{channel.label()}.{name}"
    try:
        annotations = typing.get_type_hints(fn)
    except NameError as exc:
        raise CodegenError(f"{where}: cannot resolve a type hint ({exc})") from None
    params = list(inspect.signature(fn).parameters.values())[1:]  # drop self
    sig, keys = [], []
    optional_seen = False
    for param in params:
        if param.kind not in _KINDS:
            raise CodegenError(
                f"{where}: parameter {param.name} ({param.kind.description}) cannot be typed; "
                "give the action named parameters"
            )
        hint = annotations.get(param.name)
        ts = "unknown" if hint is None else hints.ts(hint, f"{where}({param.name})", "in")
        ts_param = identifier(param.name)
        if param.default is not inspect.Parameter.empty:
            optional_seen = True
            sig.append(f"{ts_param}?: {ts}")
        elif optional_seen:
            sig.append(f"{ts_param}: {ts} | undefined")
        else:
            sig.append(f"{ts_param}: {ts}")
        keys.append(f"{prop(param.name)}: {ts_param}" if ts_param != param.name else ts_param)
    result = annotations.get("return")
    ret = "unknown" if result is None else hints.ts(result, f"{where} result", "out")
    doc = inspect.getdoc(fn)
    lines = [f"    /** {doc.splitlines()[0]} */"] if doc else []
    lines.append(f"    {prop(ts_name)}: ({', '.join(sig)}): Promise<{ret}> =>")
    lines.append(f"      this.call<{ret}>({literal(name)}, {{ {', '.join(keys)} }}),")
    return [line.replace("{  }", "{}") for line in lines]


def _writes(plan: Plan, channel: Any, imports: dict[str, set[str]], runtime: set[str]) -> list[str]:
    out: list[str] = []
    writable = getattr(channel.Meta, "writable", None) or {}
    for serializer in sorted(writable, key=lambda s: s.__name__):
        ops = set(writable[serializer])
        info = next(i for i in plan.types.values() if i.layer.serializer_class is serializer)
        out += _write_methods(plan, info, ops, imports, runtime)
    return out


def _write_methods(
    plan: Plan, info: TypeInfo, ops: set[str], imports: dict[str, set[str]], runtime: set[str]
) -> list[str]:
    names = imports.setdefault(info.app, set())
    names.add(info.state)
    runtime.update({"Ref", "WriteResult"})
    target = f"{info.state} | Ref<{info.state}>"
    var = identifier(camel(info.base[:1].lower() + info.base[1:]))
    key = literal(info.type_key)
    out = []
    if "save" in ops:
        names.add(f"{info.base}Save")
        out += [
            "",
            f"  /** Save changes to a {info.base} (shown at once, rolled back if refused). */",
            f"  save{info.base}({var}: {target}, data: {info.base}Save): Promise<WriteResult> {{",
            f"    return this.writeSave({key}, {var}, {{ ...data }});",
            "  }",
        ]
    if "create" in ops:
        parent_layer = info.layer.parent
        assert parent_layer is not None
        parent = plan.types[parent_layer.type_key]
        imports.setdefault(parent.app, set()).add(parent.state)
        names.add(f"{info.base}Create")
        pvar = identifier(camel(parent.base[:1].lower() + parent.base[1:]))
        if pvar == var:
            pvar = f"parent{parent.base}"
        field = literal(info.layer.field_name)
        out += [
            "",
            f"  /** Create a {info.base} under a {parent.base} (shown at once, temporary key). */",
            f"  create{info.base}({pvar}: {parent.state} | Ref<{parent.state}>, "
            f"data: {info.base}Create): Promise<WriteResult> {{",
            f"    return this.writeCreate({key}, {literal(parent.type_key)}, {pvar}, {field}, "
            "{ ...data });",
            "  }",
        ]
    if "delete" in ops:
        out += [
            "",
            f"  /** Delete a {info.base} (hidden at once, shown again if refused). */",
            f"  delete{info.base}({var}: {target}): Promise<WriteResult> {{",
            f"    return this.writeDelete({key}, {var});",
            "  }",
        ]
    return out

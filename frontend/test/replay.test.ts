/// <reference types="node" />
// Replays recorded frame logs (rxcdc.testing.reference.frame_log) through the real runtime: a
// StateChannel on a scripted socket, so frames reach the Store exactly as in the browser.
//
// RX_FRAME_LOGS: folder of *.json logs (default: tests/exact/frame_logs). RX_REPLAY_OUT: where to
// write what the store holds per log; when it is set, tests/exact/test_store_replay.py judges the
// result against the Python reference client, otherwise this test compares with the log's own
// `expected` (the reference client's states when the log was recorded).
//
// Rendering differences, by construction of the store: it cannot hold a dangling id, so where the
// reference renders {"__missing__": "<type>:<pk>"} the store drops the item from a list, renders a
// single reference as null, and leaves out an anchor whose own row is missing (rendered null here).
// `comparable()` maps the reference's rendering onto that.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StateChannel } from "../../rxcdc/client/channel";
import { parseJson, stringifyJson } from "../../rxcdc/client/json";
import type { NestedField, Schema, ServerFrame, TypeSchema } from "../../rxcdc/client/types";
import { sockets } from "./fakes";

const LOST = "__connection_lost__";
const MISSING = "__missing__";
const ROOT = "__root__";
const BOOKKEEPING = new Set(["_type", "_pk", "_lsn", "_pending"]);

interface FrameLog {
  readonly schema: Record<string, Record<string, NestedField>>;
  readonly anchors: readonly (number | bigint | string)[];
  readonly frames: readonly Record<string, unknown>[];
  readonly expected?: readonly unknown[];
}

/** What the store holds after one log: per anchor its state, `since` sent at each reconnect. */
interface Replayed {
  readonly states: Record<string, unknown>;
  readonly sinces: { readonly expected: unknown; readonly sent: unknown }[];
  readonly status: string;
}

const folder =
  process.env["RX_FRAME_LOGS"] ?? fileURLToPath(new URL("../../tests/exact/frame_logs/", import.meta.url));
const output = process.env["RX_REPLAY_OUT"];

/** The store's schema for a log's Python Schema; `many` so every anchor's root can be read. */
function storeSchema(schema: FrameLog["schema"]): Schema {
  const types: Record<string, TypeSchema> = {};
  for (const [type, nested] of Object.entries(schema)) {
    if (type !== ROOT) types[type] = { pk: null, pkKind: "number", nested };
  }
  const root = schema[ROOT]?.["root"]?.[0];
  if (root === undefined) throw new Error("frame log schema without __root__");
  return { root, many: true, types };
}

function replay(log: FrameLog): Replayed {
  const s = sockets();
  const channel = new StateChannel<readonly Record<string, unknown>[]>(
    { label: "replay", url: "ws://replay/", schema: storeSchema(log.schema) },
    "ws/",
    { socket: s.factory, random: () => 0, backoff: { base: 1, max: 1 } },
  );
  channel.connect();
  s.last().open();
  const sinces: { expected: unknown; sent: unknown }[] = [];
  log.frames.forEach((frame, index) => {
    const socket = s.last();
    if (frame["type"] === LOST) {
      socket.drop();
      vi.advanceTimersByTime(1); // the reconnect backoff (1 ms here)
      const next = s.last();
      next.open();
      sinces.push({ expected: frame["since"], sent: next.sentOf("auth")[0]?.["since"] ?? {} });
      return;
    }
    socket.push(frame as unknown as ServerFrame);
    if (socket.onmessage === null) {
      // e.g. worker_unavailable: the runtime reconnects by itself, the log's connection goes on
      throw new Error(`the runtime dropped the socket after frame ${index}: log not replayable`);
    }
  });
  const roots = new Map(channel.state.map((root) => [String(root["_pk"]), root]));
  const states: Record<string, unknown> = {};
  for (const anchor of log.anchors) states[String(anchor)] = plain(roots.get(String(anchor)) ?? null);
  const status = channel.status;
  channel.close();
  return { states, sinces, status };
}

/** The store's nested state without its bookkeeping keys (the reference drops them too). */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!BOOKKEEPING.has(k)) out[k] = plain(v);
  return out;
}

/** The reference client's rendering mapped onto what the store can show (see the header). */
function comparable(value: unknown): unknown {
  const missing = (v: unknown) => typeof v === "object" && v !== null && MISSING in v;
  if (missing(value)) return null;
  if (Array.isArray(value)) return value.filter((v) => !missing(v)).map(comparable);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = comparable(v);
  return out;
}

const names = readdirSync(folder)
  .filter((name) => name.endsWith(".json"))
  .sort();

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("frame logs replayed through the store", () => {
  it(`finds logs in ${folder}`, () => {
    expect(names.length).toBeGreaterThan(0);
  });

  it("reaches the reference client's state for every log", () => {
    const results: Record<string, Replayed> = {};
    for (const name of names) {
      // Read and written like the runtime reads frames: integers past 2^53 stay exact both ways.
      const log = parseJson(readFileSync(join(folder, name), "utf-8")) as unknown as FrameLog;
      const result = (results[name] = replay(log));
      if (output !== undefined) continue; // the Python test judges
      expect(log.expected, name).toBeDefined();
      const expected: Record<string, unknown> = {};
      log.anchors.forEach((anchor, i) => (expected[String(anchor)] = comparable(log.expected?.[i])));
      expect(result.states, name).toEqual(expected);
      for (const since of result.sinces) expect(since.sent, name).toEqual(since.expected);
      expect(result.status, name).toBe("live");
    }
    if (output !== undefined) writeFileSync(output, stringifyJson(results));
  });
});

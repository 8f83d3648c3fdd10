import { describe, expect, it } from "vitest";
import { Store } from "../../rxcdc/client/store";
import type { FlatInstance, ServerFrame, StateFrame, Tombstone } from "../../rxcdc/client/types";
import { inst, snapshot, tomb, update } from "./fakes";
import { AUTHOR, BOARD, CARD, MESSAGE, ROOM, TAG, boardsSchema, roomSchema } from "./schemas";

type Json = Record<string, unknown>;

function feed(store: Store, frames: ServerFrame[]): boolean[] {
  return frames.map((frame) => store.apply(frame as StateFrame));
}

/** The room's state without the bookkeeping keys, for readable expectations. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith("_")) out[k] = plain(v);
  return out;
}

const room = (lsn: number, messages: number[], name = "lobby") =>
  inst(ROOM, 1, lsn, { id: 1, name, messages });
const message = (id: number, lsn: number, text: string, author: number | null, tags: number[] = []) =>
  inst(MESSAGE, id, lsn, { id, text, author, tags });
const author = (id: number, lsn: number, name: string) => inst(AUTHOR, id, lsn, { id, name });
const tag = (id: number, lsn: number, name: string) => inst(TAG, id, lsn, { id, name });

/** One part of a transaction of anchor 1. */
function part(
  lsn: number,
  number: number,
  last: boolean,
  instances: FlatInstance[],
  tombstones: Tombstone[] = [],
): ServerFrame {
  return { type: "update", anchor: 1, lsn, part: number, ...(last ? { last } : {}), instances, tombstones };
}

function loaded(): Store {
  const store = new Store(roomSchema);
  store.setAnchors([1]);
  feed(store, snapshot(1, 100, [
    room(90, [10, 11]),
    message(10, 90, "hi", 5, [7]),
    message(11, 95, "yo", null),
    author(5, 80, "ann"),
    tag(7, 80, "news"),
  ]));
  return store;
}

describe("Store: recorded frame sequences", () => {
  it("rebuilds the nested state from a snapshot, null FKs staying null", () => {
    const store = loaded();
    expect(plain(store.state())).toEqual({
      id: 1,
      name: "lobby",
      messages: [
        { id: 10, text: "hi", author: { id: 5, name: "ann" }, tags: [{ id: 7, name: "news" }] },
        { id: 11, text: "yo", author: null, tags: [] },
      ],
    });
    expect(store.since()).toEqual({ "1": 100 });
    expect(store.loaded()).toBe(true);
  });

  it("shows nothing until snapshot.end, then the whole anchor at once", () => {
    const store = new Store(roomSchema);
    store.setAnchors([1]);
    const [begin, instances, end] = snapshot(1, 100, [room(90, [])]);
    expect(feed(store, [begin!, instances!])).toEqual([false, false]);
    expect(store.state()).toBeNull();
    expect(store.loaded()).toBe(false);
    expect(feed(store, [end!])).toEqual([true]);
    expect(plain(store.state())).toEqual({ id: 1, name: "lobby", messages: [] });
  });

  it("keeps unchanged subtrees (structural sharing) and replaces the changed path", () => {
    const store = loaded();
    const before = store.state() as Json;
    store.apply(update(1, 110, [message(11, 110, "yo!", null)]) as StateFrame);
    const after = store.state() as Json;
    const [m10, m11] = after["messages"] as Json[];
    const [b10, b11] = before["messages"] as Json[];
    expect(after).not.toBe(before);
    expect(m10).toBe(b10);
    expect(m11).not.toBe(b11);
    expect(m11!["text"]).toBe("yo!");
    expect(Object.isFrozen(after)).toBe(true);
  });

  it("moves a child between parents with its subtree", () => {
    const store = new Store(roomSchema);
    store.setAnchors([1]);
    feed(store, snapshot(1, 100, [room(90, [10, 11]), message(10, 90, "a", 5), author(5, 80, "ann")]));
    const kept = (store.state() as Json)["messages"] as Json[];
    // message 10 moves behind 11 in the room's order, then author 5 becomes message 11's author
    store.apply(update(1, 120, [room(120, [11, 10]), message(11, 120, "b", 5)]) as StateFrame);
    const state = store.state() as Json;
    const messages = state["messages"] as Json[];
    expect(messages.map((m) => m["id"])).toEqual([11, 10]);
    expect(messages[1]).toBe(kept[0]);
    expect(messages[0]!["author"]).toBe(messages[1]!["author"]);
  });

  it("retargets an FK: the old target's later updates no longer reach the parent", () => {
    const store = loaded();
    store.apply(update(1, 110, [message(10, 110, "hi", 6, [7]), author(6, 110, "bob")]) as StateFrame);
    const before = store.state() as Json;
    expect(plain((before["messages"] as Json[])[0]!["author"])).toEqual({ id: 6, name: "bob" });
    store.apply(update(1, 120, [author(5, 120, "ann (old)")]) as StateFrame);
    const after = store.state() as Json;
    expect((after["messages"] as Json[])[0]).toBe((before["messages"] as Json[])[0]);
    expect(plain((after["messages"] as Json[])[0]!["author"])).toEqual({ id: 6, name: "bob" });
  });

  it("sets an FK to null and back", () => {
    const store = loaded();
    store.apply(update(1, 110, [message(10, 110, "hi", null, [7])]) as StateFrame);
    expect(((store.state() as Json)["messages"] as Json[])[0]!["author"]).toBeNull();
    store.apply(update(1, 120, [message(10, 120, "hi", 5, [7])]) as StateFrame);
    expect(plain(((store.state() as Json)["messages"] as Json[])[0]!["author"])).toEqual({ id: 5, name: "ann" });
  });

  it("applies tombstones, ignores unknown deletes and drops stale references", () => {
    const store = loaded();
    // the room still lists 11 in this frame, but 11 is gone: the stale id is dropped
    const changed = store.apply(update(1, 110, [], [tomb(MESSAGE, 11, 110), tomb(MESSAGE, 999, 110)]) as StateFrame);
    expect(changed).toBe(true);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["id"])).toEqual([10]);
    // a missing FK target renders as null rather than as a placeholder
    store.apply(update(1, 111, [], [tomb(AUTHOR, 5, 111)]) as StateFrame);
    expect(((store.state() as Json)["messages"] as Json[])[0]!["author"]).toBeNull();
    expect(store.apply(update(1, 112, [], [tomb(TAG, 12345, 112)]) as StateFrame)).toBe(false);
  });

  it("ignores out-of-order and duplicate versions per (_type, _pk)", () => {
    const store = loaded();
    store.apply(update(1, 130, [message(10, 130, "newest", 5, [7])]) as StateFrame);
    const state = store.state();
    // a re-delivered older transaction and an exact duplicate change nothing
    expect(store.apply(update(1, 120, [message(10, 120, "older", 5, [7])]) as StateFrame)).toBe(false);
    expect(store.apply(update(1, 130, [message(10, 130, "newest", 5, [7])]) as StateFrame)).toBe(false);
    expect(store.state()).toBe(state);
    // an older tombstone does not delete a newer row; a newer one does
    expect(store.apply(update(1, 125, [], [tomb(MESSAGE, 10, 125)]) as StateFrame)).toBe(false);
    store.apply(update(1, 140, [room(140, [11])], [tomb(MESSAGE, 10, 140)]) as StateFrame);
    // the row re-enters only with a version newer than its tombstone
    expect(store.apply(update(1, 135, [room(141, [10, 11]), message(10, 135, "zombie", 5)]) as StateFrame)).toBe(true);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["id"])).toEqual([11]);
    store.apply(update(1, 150, [message(10, 150, "back", 5)]) as StateFrame);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["text"])).toEqual(["back", "yo"]);
  });

  it("buffers the parts of a large transaction and applies them together", () => {
    const store = loaded();
    const before = store.state();
    const parts: ServerFrame[] = [
      { type: "update", anchor: 1, lsn: 200, part: 0, instances: [message(12, 200, "new", null)], tombstones: [] },
      { type: "update", anchor: 1, lsn: 200, part: 1, instances: [], tombstones: [tomb(MESSAGE, 11, 200)] },
      { type: "update", anchor: 1, lsn: 200, part: 2, last: true, instances: [room(200, [10, 12])], tombstones: [] },
    ];
    expect(feed(store, parts)).toEqual([false, false, true]);
    expect(before).not.toBe(store.state());
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["id"])).toEqual([10, 12]);
    expect(store.since()).toEqual({ "1": 200 });
  });

  it("discards half-received parts and snapshots when the socket drops", () => {
    const store = loaded();
    store.apply({ type: "update", anchor: 1, lsn: 200, part: 0, instances: [room(200, [])], tombstones: [] });
    store.interrupted();
    store.apply({ type: "update", anchor: 1, lsn: 300, part: 0, last: true, instances: [], tombstones: [] });
    expect(((store.state() as Json)["messages"] as Json[]).length).toBe(2);
  });

  it("a redelivered transaction restarts its parts: part 0 discards what was buffered", () => {
    const store = loaded();
    const ids = () => ((store.state() as Json)["messages"] as Json[]).map((m) => [m["id"], m["text"]]);
    const frames: ServerFrame[] = [
      part(200, 0, false, [], [tomb(MESSAGE, 11, 200)]),
      // the worker restarted: the same transaction again, from part 0, with newer content
      part(200, 0, false, [message(11, 200, "kept", null)]),
      part(200, 1, true, [room(200, [10, 11])]),
    ];
    expect(feed(store, frames)).toEqual([false, false, true]);
    expect(ids()).toEqual([[10, "hi"], [11, "kept"]]);
    expect(store.takeLoss()).toBeNull();
  });

  it("a redelivery from an older transaction discards what was buffered", () => {
    const store = loaded();
    feed(store, [part(210, 0, false, [], [tomb(MESSAGE, 11, 210)])]);
    // the worker restarted from an earlier transaction: 200 first, then 210 again from part 0
    expect(feed(store, [part(200, 0, false, [message(11, 200, "new", null)])])).toEqual([false]);
    expect(feed(store, [part(200, 1, true, [room(200, [10, 11])])])).toEqual([true]);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["text"])).toEqual(["hi", "new"]);
    expect(store.since()).toEqual({ "1": 200 });
    expect(store.loaded()).toBe(true);
    expect(store.takeLoss()).toBeNull();
  });

  it("a redelivered transaction sent whole replaces its buffered parts", () => {
    const store = loaded();
    feed(store, [part(200, 0, false, [], [tomb(MESSAGE, 11, 200)])]);
    expect(store.apply(update(1, 200, [message(11, 200, "kept", null)]) as StateFrame)).toBe(true);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["text"])).toEqual(["hi", "kept"]);
    expect(store.loaded()).toBe(true);
  });

  it("a newer transaction while one is incomplete is a lost message: nothing applies until resumed", () => {
    const store = loaded();
    const before = store.state();
    feed(store, [part(200, 0, false, [message(11, 200, "half", null)])]);
    expect(store.apply(update(1, 210, [message(10, 210, "later", 5)]) as StateFrame)).toBe(false);
    expect(store.takeLoss()).toMatch(/transaction 200 stopped before its last part; 210 followed/);
    // later updates would move `since` past the lost transaction
    expect(store.apply(update(1, 220, [message(10, 220, "later", 5)]) as StateFrame)).toBe(false);
    expect(store.state()).toBe(before);
    expect(store.since()).toEqual({ "1": 100 });
    expect(store.loaded()).toBe(false);
    // the resume: a delta snapshot from since = 100, then updates flow again
    feed(store, [
      { type: "snapshot.begin", anchor: 1, lsn: 220, mode: "delta" },
      { type: "snapshot.instances", anchor: 1, instances: [message(11, 200, "whole", null), message(10, 220, "later", 5)] },
      { type: "snapshot.end", anchor: 1, lsn: 220 },
    ]);
    expect(store.loaded()).toBe(true);
    expect(store.apply(update(1, 230, [message(10, 230, "after", 5)]) as StateFrame)).toBe(true);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["text"])).toEqual(["after", "whole"]);
  });

  it("a snapshot that contains a buffered transaction drops its parts", () => {
    const store = loaded();
    feed(store, [part(200, 0, false, [message(11, 200, "half", null)])]);
    expect(store.loaded()).toBe(false);
    feed(store, [
      { type: "snapshot.begin", anchor: 1, lsn: 210, mode: "delta" },
      { type: "snapshot.instances", anchor: 1, instances: [message(11, 200, "whole", null)] },
      { type: "snapshot.end", anchor: 1, lsn: 210 },
    ]);
    expect(store.loaded()).toBe(true);
    expect(store.apply(update(1, 220, [message(10, 220, "next", 5)]) as StateFrame)).toBe(true);
    expect(store.takeLoss()).toBeNull();
  });

  it("a skipped part number is a lost message: nothing of the transaction applies", () => {
    const store = loaded();
    const before = store.state();
    const frames: ServerFrame[] = [
      part(200, 0, false, [message(12, 200, "new", null)]),
      part(200, 2, false, [], [tomb(MESSAGE, 11, 200)]), // part 1 went missing
      part(200, 3, true, [room(200, [10, 12])]),
    ];
    expect(feed(store, frames)).toEqual([false, false, false]);
    expect(store.state()).toBe(before);
    expect(store.takeLoss()).toMatch(/part 2 of transaction 200 arrived where part 1 was due/);
    expect(store.takeLoss()).toBeNull(); // reported once
    // resumed from the last LSN applied, and not current until then
    expect(store.since()).toEqual({ "1": 100 });
    expect(store.loaded()).toBe(false);
  });

  it("a transaction's later part without its first is a lost message too", () => {
    const store = loaded();
    expect(feed(store, [part(200, 1, true, [room(200, [])])])).toEqual([false]);
    expect(store.takeLoss()).toMatch(/part 1 of transaction 200 arrived where part 0 was due/);
    expect(((store.state() as Json)["messages"] as Json[]).length).toBe(2);
  });

  it("parts of a transaction the snapshot contains are ignored, gaps included", () => {
    const store = loaded();
    expect(feed(store, [part(100, 1, false, [message(10, 100, "old", 5)])])).toEqual([false]);
    expect(store.takeLoss()).toBeNull();
    expect(store.loaded()).toBe(true);
  });

  it("not loaded while a transaction's parts are pending", () => {
    const store = loaded();
    expect(store.loaded()).toBe(true);
    feed(store, [part(200, 0, false, [message(12, 200, "new", null)])]);
    expect(store.loaded()).toBe(false);
    feed(store, [part(200, 1, true, [room(200, [10, 11, 12])])]);
    expect(store.loaded()).toBe(true);
  });

  it("reset: keeps showing the old state, resumes from nothing, swaps at snapshot.end", () => {
    const store = loaded();
    const old = store.state();
    expect(store.apply({ type: "reset", anchor: 1, lsn: 500 })).toBe(false);
    expect(store.state()).toBe(old);
    expect(store.since()).toEqual({});
    expect(store.loaded()).toBe(false);
    feed(store, snapshot(1, 510, [room(505, [], "after truncate")]));
    expect(plain(store.state())).toEqual({ id: 1, name: "after truncate", messages: [] });
    expect(store.since()).toEqual({ "1": 510 });
    // the fresh snapshot is not guarded by LSNs seen before the reset
    feed(store, snapshot(1, 520, [room(10, [])]));
    expect((store.state() as Json)["_lsn"]).toBe(10);
  });

  it("applies a delta snapshot on top of what it kept, as one transition", () => {
    const store = loaded();
    const frames: ServerFrame[] = [
      { type: "snapshot.begin", anchor: 1, lsn: 300, mode: "delta" },
      { type: "snapshot.instances", anchor: 1, instances: [room(250, [10])] },
      { type: "snapshot.instances", anchor: 1, instances: [], tombstones: [tomb(MESSAGE, 11, 250)] },
      { type: "snapshot.end", anchor: 1, lsn: 300 },
    ];
    expect(feed(store, frames)).toEqual([false, false, false, true]);
    expect(((store.state() as Json)["messages"] as Json[]).map((m) => m["id"])).toEqual([10]);
  });

  it("list channels: anchors in order, added and removed", () => {
    const store = new Store(boardsSchema);
    store.setAnchors([2, 1]);
    feed(store, snapshot(1, 10, [inst(BOARD, 1, 5, { id: 1, cards: [] })]));
    expect(store.loaded()).toBe(false);
    expect(plain(store.state())).toEqual([{ id: 1, cards: [] }]);
    feed(store, snapshot(2, 11, [inst(BOARD, 2, 6, { id: 2, cards: [3] }), inst(CARD, 3, 6, { id: 3 })]));
    expect(store.loaded()).toBe(true);
    expect(plain(store.state())).toEqual([{ id: 2, cards: [{ id: 3 }] }, { id: 1, cards: [] }]);
    const first = (store.state() as Json[])[0];
    store.apply({ type: "anchor.added", anchor: 9 });
    expect(store.loaded()).toBe(false);
    feed(store, snapshot(9, 12, [inst(BOARD, 9, 12, { id: 9, cards: [] })]));
    expect((store.state() as Json[]).map((b) => b["id"])).toEqual([2, 1, 9]);
    expect((store.state() as Json[])[0]).toBe(first);
    expect(store.apply({ type: "anchor.removed", anchor: 1 })).toBe(true);
    expect((store.state() as Json[]).map((b) => b["id"])).toEqual([2, 9]);
    // a row shared by two anchors leaves one of them only
    store.apply(update(2, 20, [inst(BOARD, 2, 20, { id: 2, cards: [3] })]) as StateFrame);
    store.apply(update(9, 20, [inst(BOARD, 9, 20, { id: 9, cards: [3] }), inst(CARD, 3, 20, { id: 3 })]) as StateFrame);
    store.apply(update(2, 21, [inst(BOARD, 2, 21, { id: 2, cards: [] })], [tomb(CARD, 3, 21)]) as StateFrame);
    expect(plain(store.state())).toEqual([{ id: 2, cards: [] }, { id: 9, cards: [{ id: 3 }] }]);
    // auth.ok on a reconnect: anchors no longer listed are forgotten
    store.setAnchors([9]);
    expect((store.state() as Json[]).map((b) => b["id"])).toEqual([9]);
    expect(store.since()).toEqual({ "9": 20 });
  });

  it("a deleted anchor row empties a single channel's state", () => {
    const store = loaded();
    store.apply(update(1, 300, [], [tomb(ROOM, 1, 300)]) as StateFrame);
    expect(store.state()).toBeNull();
  });

  it("ignores instances of types the schema does not know", () => {
    const store = loaded();
    expect(store.apply(update(1, 300, [inst("other.Serializer", 1, 300, {})]) as StateFrame)).toBe(false);
  });
});

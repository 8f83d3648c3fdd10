import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StateChannel, type ChannelOptions, type WriteResult } from "../../rxcdc/client/channel";
import type { Pending, ServerFrame } from "../../rxcdc/client/types";
import { inst, snapshot, sockets, tomb, update } from "./fakes";
import { AUTHOR, MESSAGE, ROOM, roomSchema } from "./schemas";

interface Message {
  readonly _pk: number;
  readonly _pending?: Pending;
  readonly id: number;
  readonly text: string;
}
interface Room {
  readonly _pk: number;
  readonly name: string;
  readonly messages: readonly Message[];
}

/** What makefrontend writes for the test app's RoomChannel, trimmed to what these tests use. */
class RoomChannel extends StateChannel<Room | null, { greeting: string }> {
  constructor(room: number, options: ChannelOptions = {}) {
    super({ label: "testapp.RoomChannel", url: "ws://h/", schema: roomSchema }, `ws/room/${room}/`, options);
  }
  readonly actions = {
    post: (text: string): Promise<number> => this.call<number>("post", { text }),
  };
  saveMessage(m: Message | number, data: { text?: string }): Promise<WriteResult> {
    return this.writeSave(MESSAGE, m, { ...data });
  }
  createMessage(room: Room | number, data: { text: string }): Promise<WriteResult> {
    return this.writeCreate(MESSAGE, ROOM, room, "messages", { ...data });
  }
  deleteMessage(m: Message | number): Promise<WriteResult> {
    return this.writeDelete(MESSAGE, m);
  }
}

const OK: ServerFrame = { type: "auth.ok", protocol: 1, channel: "testapp.RoomChannel", list: false, anchors: [1], user: 7 };
const room = (lsn: number, messages: number[]) => inst(ROOM, 1, lsn, { id: 1, name: "lobby", messages });
const msg = (id: number, lsn: number, text: string) => inst(MESSAGE, id, lsn, { id, text, author: null, tags: [] });

function live(options: ChannelOptions = {}) {
  const s = sockets();
  const channel = new RoomChannel(1, { socket: s.factory, random: () => 0, ...options });
  let notified = 0;
  const unsubscribe = channel.subscribe(() => {
    notified += 1;
  });
  s.last().open();
  s.last().push(OK, ...snapshot(1, 100, [room(90, [10, 11]), msg(10, 90, "a"), msg(11, 90, "b")]));
  return { channel, s, notified: () => notified, unsubscribe };
}

const texts = (channel: RoomChannel) => channel.state?.messages.map((m) => m.text);
const pendings = (channel: RoomChannel) => channel.state?.messages.map((m) => m._pending ?? null);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("StateChannel", () => {
  it("connects on subscribe at the route's URL; status connecting → loading → live", () => {
    const s = sockets();
    const channel = new RoomChannel(1, { socket: s.factory });
    const seen: string[] = [];
    channel.subscribe(() => seen.push(channel.status));
    expect(s.last().url).toBe("ws://h/ws/room/1/");
    s.last().open();
    s.last().push(OK, ...snapshot(1, 100, [room(90, [])]));
    expect(seen).toEqual(["connecting", "loading", "live"]);
    expect(channel.state).toMatchObject({ name: "lobby", messages: [] });
  });

  it("notifies once per transaction frame and not for replays", () => {
    const t = live();
    const before = t.notified();
    t.s.last().push(update(1, 110, [room(110, [10, 11, 12]), msg(12, 110, "c")]));
    expect(t.notified()).toBe(before + 1);
    t.s.last().push(update(1, 110, [room(110, [10, 11, 12]), msg(12, 110, "c")]));
    expect(t.notified()).toBe(before + 1);
    expect(texts(t.channel)).toEqual(["a", "b", "c"]);
  });

  it("snapshots are immutable values, stable between changes", () => {
    const t = live();
    const snap = t.channel.getSnapshot();
    expect(t.channel.getSnapshot()).toBe(snap);
    t.s.last().push(update(1, 110, [msg(10, 110, "A")]));
    expect(t.channel.getSnapshot()).not.toBe(snap);
    expect(snap.state?.messages[0]?.text).toBe("a");
  });

  it("resumes after a drop with since = the last applied LSN", async () => {
    const t = live();
    t.s.last().push(update(1, 120, [msg(10, 120, "A")]));
    t.s.last().drop(1006);
    expect(t.channel.status).toBe("reconnecting");
    expect(texts(t.channel)).toEqual(["A", "b"]);
    await vi.advanceTimersByTimeAsync(250);
    t.s.last().open();
    expect(t.s.last().sentOf("auth")).toEqual([{ type: "auth", since: { "1": 120 } }]);
    t.s.last().push(OK);
    expect(t.channel.status).toBe("reconnecting"); // until the resume is applied: live
    t.s.last().push(
      { type: "snapshot.begin", anchor: 1, lsn: 130, mode: "delta" },
      { type: "snapshot.instances", anchor: 1, instances: [room(125, [10])], tombstones: [tomb(MESSAGE, 11, 125)] },
      { type: "snapshot.end", anchor: 1, lsn: 130 },
    );
    expect(t.channel.status).toBe("live");
    expect(texts(t.channel)).toEqual(["A"]);
  });

  it("a skipped part is a lost message: no half transaction, reconnects with since = last applied", async () => {
    const t = live();
    t.s.last().push(update(1, 120, [msg(10, 120, "A")]));
    const before = t.channel.state;
    const seen: string[] = [];
    t.channel.subscribe(() => seen.push(t.channel.status));
    t.s.last().push(
      { type: "update", anchor: 1, lsn: 130, part: 0, instances: [msg(12, 130, "c")], tombstones: [] },
      // part 1 went missing
      { type: "update", anchor: 1, lsn: 130, part: 2, last: true, instances: [room(130, [10, 11, 12])], tombstones: [] },
    );
    expect(t.channel.state).toBe(before);
    expect(seen).toEqual(["loading", "reconnecting"]); // loading while part 0 waited for the rest
    expect(t.channel.error).toMatchObject({ kind: "connection", code: "lost" });
    expect(t.s.last().closed).not.toBeNull();
    await vi.advanceTimersByTimeAsync(250);
    expect(t.s.all.length).toBe(2);
    t.s.last().open();
    expect(t.s.last().sentOf("auth")).toEqual([{ type: "auth", since: { "1": 120 } }]);
    t.s.last().push(
      OK,
      { type: "snapshot.begin", anchor: 1, lsn: 130, mode: "delta" },
      { type: "snapshot.instances", anchor: 1, instances: [room(130, [10, 11, 12]), msg(12, 130, "c")] },
      { type: "snapshot.end", anchor: 1, lsn: 130 },
    );
    expect(t.channel.status).toBe("live");
    expect(t.channel.error).toBeNull();
    expect(texts(t.channel)).toEqual(["A", "b", "c"]);
  });

  it("status is loading while a transaction's parts are pending, live with its last part", () => {
    const t = live();
    const seen: string[] = [];
    t.channel.subscribe(() => seen.push(t.channel.status));
    t.s.last().push({ type: "update", anchor: 1, lsn: 130, part: 0, instances: [msg(12, 130, "c")], tombstones: [] });
    expect(t.channel.status).toBe("loading");
    expect(texts(t.channel)).toEqual(["a", "b"]);
    t.s.last().push({
      type: "update",
      anchor: 1,
      lsn: 130,
      part: 1,
      last: true,
      instances: [room(130, [10, 11, 12])],
      tombstones: [],
    });
    expect(seen).toEqual(["loading", "live"]);
    expect(texts(t.channel)).toEqual(["a", "b", "c"]);
  });

  it("actions resolve with their result or reject with a typed error", async () => {
    const t = live();
    const ok = t.channel.actions.post("hi");
    const bad = t.channel.actions.post("");
    const [a1, a2] = t.s.last().sentOf("action");
    expect(a1).toMatchObject({ action: "post", params: { text: "hi" } });
    t.s.last().push({ type: "action.result", id: String(a1!["id"]), result: 17 });
    t.s.last().push({ type: "action.error", id: String(a2!["id"]), code: "invalid_params", message: "empty" });
    await expect(ok).resolves.toBe(17);
    await expect(bad).rejects.toMatchObject({ kind: "action", code: "invalid_params" });
    const slow = t.channel.actions.post("x");
    vi.advanceTimersByTime(15_000);
    await expect(slow).rejects.toMatchObject({ code: "timeout" });
  });

  it("save: shown at once, settled by the update that carries it", async () => {
    const t = live();
    const saved = t.channel.saveMessage(10, { text: "edited" });
    expect(texts(t.channel)).toEqual(["edited", "b"]);
    expect(pendings(t.channel)).toEqual(["save", null]);
    const [w] = t.s.last().sentOf("write");
    expect(w).toMatchObject({ op: "save", instance_type: MESSAGE, pk: 10, data: { text: "edited" } });
    t.s.last().push({ type: "write.result", id: String(w!["id"]), pk: 10 });
    await expect(saved).resolves.toEqual({ pk: 10 });
    expect(pendings(t.channel)).toEqual(["save", null]);
    t.s.last().push(update(1, 110, [msg(10, 110, "edited")]));
    expect(pendings(t.channel)).toEqual([null, null]);
    expect(texts(t.channel)).toEqual(["edited", "b"]);
  });

  it("save refused: rolled back without losing an update that arrived meanwhile", async () => {
    const t = live();
    const saved = t.channel.saveMessage(10, { text: "forbidden" });
    const [w] = t.s.last().sentOf("write");
    t.s.last().push(update(1, 110, [msg(11, 110, "b (by someone else)")]));
    expect(texts(t.channel)).toEqual(["forbidden", "b (by someone else)"]);
    t.s.last().push({ type: "write.error", id: String(w!["id"]), code: "forbidden", message: "save refused" });
    await expect(saved).rejects.toMatchObject({ kind: "write", code: "forbidden" });
    expect(texts(t.channel)).toEqual(["a", "b (by someone else)"]);
  });

  it("a newer server version of the row supersedes a pending save", () => {
    const t = live();
    void t.channel.saveMessage(10, { text: "mine" }).catch(() => undefined);
    t.s.last().push(update(1, 110, [msg(10, 110, "theirs")]));
    expect(texts(t.channel)).toEqual(["theirs", "b"]);
  });

  it("create: a temporary row at the end of the parent's list, replaced by the real one", async () => {
    const t = live();
    const created = t.channel.createMessage(t.channel.state!, { text: "new" });
    const temp = t.channel.state!.messages[2]!;
    expect(temp).toMatchObject({ text: "new", _pending: "create", id: -1, _pk: -1 });
    const [w] = t.s.last().sentOf("write");
    expect(w).toMatchObject({ op: "create", parent_type: ROOM, parent_pk: 1, data: { text: "new" } });
    t.s.last().push({ type: "write.result", id: String(w!["id"]), pk: 12 });
    await expect(created).resolves.toEqual({ pk: 12 });
    expect(texts(t.channel)).toEqual(["a", "b", "new"]);
    t.s.last().push(update(1, 110, [room(110, [10, 11, 12]), msg(12, 110, "new")]));
    expect(t.channel.state!.messages.map((m) => [m.id, m._pending ?? null])).toEqual([
      [10, null],
      [11, null],
      [12, null],
    ]);
  });

  it("create: the update may come before write.result; an unconfirmed row goes after confirmTimeout", async () => {
    const t = live({ confirmTimeout: 2000 });
    const first = t.channel.createMessage(1, { text: "fast" });
    const [w1] = t.s.last().sentOf("write");
    t.s.last().push(update(1, 110, [room(110, [10, 11, 12]), msg(12, 110, "fast")]));
    t.s.last().push({ type: "write.result", id: String(w1!["id"]), pk: 12 });
    await first;
    expect(texts(t.channel)).toEqual(["a", "b", "fast"]);
    const second = t.channel.createMessage(1, { text: "invisible" });
    const [, w2] = t.s.last().sentOf("write");
    t.s.last().push({ type: "write.result", id: String(w2!["id"]), pk: 13 });
    await second;
    expect(texts(t.channel)).toEqual(["a", "b", "fast", "invisible"]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(texts(t.channel)).toEqual(["a", "b", "fast"]);
  });

  it("create refused: the temporary row disappears", async () => {
    const t = live();
    const created = t.channel.createMessage(1, { text: "" });
    const [w] = t.s.last().sentOf("write");
    t.s.last().push({ type: "write.error", id: String(w!["id"]), code: "invalid", message: "text required" });
    await expect(created).rejects.toMatchObject({ code: "invalid" });
    expect(texts(t.channel)).toEqual(["a", "b"]);
  });

  it("delete: hidden at once; refused → back at its original position", async () => {
    const t = live();
    const deleted = t.channel.deleteMessage(t.channel.state!.messages[0]!);
    expect(texts(t.channel)).toEqual(["b"]);
    const [w] = t.s.last().sentOf("write");
    t.s.last().push({ type: "write.error", id: String(w!["id"]), code: "forbidden", message: "keep" });
    await expect(deleted).rejects.toMatchObject({ code: "forbidden" });
    expect(texts(t.channel)).toEqual(["a", "b"]);
  });

  it("delete: confirmed by the tombstone", async () => {
    const t = live();
    const deleted = t.channel.deleteMessage(10);
    const [w] = t.s.last().sentOf("write");
    t.s.last().push({ type: "write.result", id: String(w!["id"]), pk: 10 });
    await deleted;
    t.s.last().push(update(1, 110, [room(110, [11])], [tomb(MESSAGE, 10, 110)]));
    expect(texts(t.channel)).toEqual(["b"]);
    expect(pendings(t.channel)).toEqual([null]);
  });

  it("writes made offline are shown, queued, and rolled back if the socket never returns in time", async () => {
    const t = live({ requestTimeout: 3000 });
    t.s.last().drop();
    const saved = t.channel.saveMessage(11, { text: "offline" });
    expect(texts(t.channel)).toEqual(["a", "offline"]);
    const outcome = expect(saved).rejects.toMatchObject({ code: "timeout" });
    await vi.advanceTimersByTimeAsync(3000);
    await outcome;
    expect(texts(t.channel)).toEqual(["a", "b"]);
  });

  it("runtime variables, notifications and system messages", () => {
    const t = live();
    const notes: unknown[] = [];
    const system: string[] = [];
    t.channel.onNotification((payload, anchor) => notes.push([payload, anchor]));
    const off = t.channel.onSystem((message, source) => system.push(`${source}: ${message}`));
    t.s.last().push(
      { type: "runtime", name: "greeting", value: "hello ann" },
      { type: "notification", anchor: 1, payload: { typing: "bob" } },
      { type: "system", source: "maintenance", message: "back soon" },
    );
    off();
    t.s.last().push({ type: "system", source: "x", message: "unheard" });
    expect(t.channel.runtime.greeting).toBe("hello ann");
    expect(notes).toEqual([[{ typing: "bob" }, 1]]);
    expect(system).toEqual(["maintenance: back soon"]);
  });

  it("worker_unavailable: shows the error and tries again later", async () => {
    const s = sockets();
    const channel = new RoomChannel(1, { socket: s.factory, random: () => 0 });
    channel.subscribe(() => undefined);
    s.last().open();
    s.last().push(OK, { type: "error", code: "worker_unavailable", message: "is rx_replicate running?" });
    expect(channel.error).toMatchObject({ kind: "server", code: "worker_unavailable" });
    expect(channel.status).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(250);
    expect(s.all.length).toBe(2);
    s.last().open();
    s.last().push(OK, ...snapshot(1, 100, [room(90, [])]));
    expect(channel.status).toBe("live");
    expect(channel.error).toBeNull();
  });

  it("status frames: stale while the worker is down, live again once it is back", async () => {
    const t = live();
    expect(t.channel.status).toBe("live");
    t.s.last().push({ type: "status", worker: "down" });
    expect(t.channel.status).toBe("stale");
    // Snapshot requests time out meanwhile: the server resumes by itself, no reconnect loop.
    t.s.last().push({ type: "error", code: "worker_unavailable", message: "down", anchor: 1 });
    expect(t.channel.error).toMatchObject({ kind: "server", code: "worker_unavailable", anchor: 1 });
    await vi.advanceTimersByTimeAsync(5_000); // a restart would have come after 250 ms
    expect(t.s.all.length).toBe(1);
    expect(t.channel.status).toBe("stale");
    t.s.last().push({ type: "status", worker: "up" }, ...snapshot(1, 120, [room(110, [10]), msg(10, 110, "a2")]));
    expect(t.channel.status).toBe("live");
    expect(texts(t.channel)).toEqual(["a2"]);
  });

  it("a drop stays reconnecting, with its reason, through every next attempt until live", async () => {
    const t = live();
    const seen: [string, string | null][] = [];
    t.channel.subscribe(() => seen.push([t.channel.status, t.channel.reason]));
    t.s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(250);
    t.s.last().open(); // a new attempt: neither "connecting" nor, once authenticated, "loading"
    t.s.last().push(OK);
    // the heat timed out (the worker is slow or gone, not known down): another attempt
    t.s.last().push({ type: "error", code: "worker_unavailable", message: "is rx_replicate running?" });
    await vi.advanceTimersByTimeAsync(500);
    t.s.last().open();
    t.s.last().push(OK, ...snapshot(1, 120, [room(110, [10]), msg(10, 110, "a2")]));
    expect(t.s.all.length).toBe(3);
    const shown = seen.filter((x, i) => i === 0 || x.join() !== seen[i - 1]!.join());
    expect(shown).toEqual([
      ["reconnecting", "disconnected"],
      ["reconnecting", "worker_unavailable"],
      ["live", null],
    ]);
  });

  it("worker down: stale because worker_down from the first connect, lasting until it is back", async () => {
    const s = sockets();
    const channel = new RoomChannel(1, { socket: s.factory, random: () => 0 });
    const seen: [string, string | null][] = [];
    channel.subscribe(() => seen.push([channel.status, channel.reason]));
    s.last().open();
    s.last().push(OK, { type: "status", worker: "down" });
    for (let i = 0; i < 5; i++) {
      // each snapshot request times out while the worker is away: no reconnect loop
      s.last().push({ type: "error", code: "worker_unavailable", message: "down", anchor: 1 });
      await vi.advanceTimersByTimeAsync(10_500);
    }
    expect(s.all.length).toBe(1);
    expect(channel.state).toBeNull();
    s.last().push({ type: "status", worker: "up" }, ...snapshot(1, 120, [room(110, [])]));
    const statuses = seen.map(([status]) => status).filter((x, i, all) => x !== all[i - 1]);
    expect(statuses).toEqual(["connecting", "loading", "stale", "loading", "live"]);
    expect(seen.filter(([status]) => status === "stale").every(([, why]) => why === "worker_down")).toBe(true);
    expect(channel.reason).toBeNull();
  });

  it.each([
    ["bad_origin", 4403, "forbidden"],
    ["forbidden", 4403, "forbidden"],
    ["not_found", 4404, "not_found"],
    ["unauthenticated", 4401, "unauthenticated"],
  ] as const)("refused with %s: a lasting %s status that says why", async (code, close, status) => {
    const s = sockets();
    const channel = new RoomChannel(1, { socket: s.factory });
    channel.subscribe(() => undefined);
    s.last().open();
    s.last().push({ type: "auth.error", code, message: "no" });
    s.last().drop(close);
    await vi.advanceTimersByTimeAsync(60_000);
    expect([channel.status, channel.reason, s.all.length]).toEqual([status, code, 1]);
  });

  it("the last unsubscribe closes after linger; a quick resubscribe keeps the socket", async () => {
    const t = live({ linger: 1000 });
    t.unsubscribe();
    await vi.advanceTimersByTimeAsync(500);
    const again = t.channel.subscribe(() => undefined);
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.s.all.length).toBe(1);
    expect(t.s.last().closed).toBeNull();
    again();
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.s.last().closed).toEqual({ code: 1000, reason: "closed by the client" });
    expect(t.channel.status).toBe("closed");
  });

  it("a missing FK target renders as null, never as a placeholder", () => {
    const t = live();
    t.s.last().push(update(1, 110, [inst(MESSAGE, 10, 110, { id: 10, text: "a", author: 99, tags: [] })]));
    expect(t.channel.state!.messages[0]).toMatchObject({ author: null });
    t.s.last().push(update(1, 111, [inst(AUTHOR, 99, 111, { id: 99, name: "zed" })]));
    expect(t.channel.state!.messages[0]).toMatchObject({ author: { name: "zed" } });
  });
});

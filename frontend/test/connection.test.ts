import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection, socketUrl, type ConnectionOptions, type ConnectionStatus } from "../../rxcdc/client/connection";
import { RxError, type ServerFrame } from "../../rxcdc/client/types";
import { sockets } from "./fakes";

const OK: ServerFrame = { type: "auth.ok", protocol: 1, channel: "app.C", list: false, anchors: [1], user: 7 };

function setup(options: Partial<ConnectionOptions> = {}, since: Record<string, number> = {}) {
  const s = sockets();
  const frames: ServerFrame[] = [];
  const statuses: ConnectionStatus[] = [];
  const errors: (RxError | null)[] = [];
  let interrupted = 0;
  const conn = new Connection("ws://h/ws/c/", { socket: s.factory, random: () => 0.5, ...options }, {
    since: () => since,
    frame: (f) => frames.push(f),
    status: (st, e) => {
      statuses.push(st);
      errors.push(e);
    },
    interrupted: () => {
      interrupted += 1;
    },
  });
  return { conn, s, frames, statuses, errors, interrupted: () => interrupted };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Connection", () => {
  it("authenticates with a token from a function and resumes with since", async () => {
    const t = setup({ token: async () => "secret" }, { "1": 42 });
    t.conn.start();
    t.s.last().open();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.s.last().url).toBe("ws://h/ws/c/");
    expect(t.s.last().sent).toEqual([{ type: "auth", token: "secret", since: { "1": 42 } }]);
    t.s.last().push(OK);
    expect(t.statuses).toEqual(["connecting", "open"]);
    expect(t.frames).toEqual([OK]);
  });

  it("session auth sends no token and no empty since", () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    expect(t.s.last().sent).toEqual([{ type: "auth" }]);
  });

  it("reconnects with capped exponential backoff and jitter, reset by auth.ok", async () => {
    const t = setup({ backoff: { base: 500, max: 4000 } });
    t.conn.start();
    // ceilings 500, 1000, 2000, 4000, 4000; with jitter 0.5 each delay is 3/4 of its ceiling
    for (const delay of [375, 750, 1500, 3000, 3000]) {
      const count = t.s.all.length;
      t.s.last().drop(1006);
      expect(t.statuses.at(-1)).toBe("reconnecting");
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(t.s.all.length).toBe(count);
      await vi.advanceTimersByTimeAsync(1);
      expect(t.s.all.length).toBe(count + 1);
    }
    t.s.last().open();
    t.s.last().push(OK);
    t.s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(375);
    expect(t.s.all.length).toBe(7);
  });

  it("jitter spreads delays between half and all of the ceiling", async () => {
    for (const [random, delay] of [[0, 250], [0.998, 499]] as const) {
      const t = setup({ random: () => random });
      t.conn.start();
      t.s.last().drop();
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(t.s.all.length).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(t.s.all.length).toBe(2);
    }
  });

  it("reconnects after a clean close of an authenticated socket (a deploy)", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    t.s.last().drop(1001, "going away");
    expect(t.interrupted()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.s.all.length).toBe(2);
  });

  it.each([
    ["unauthenticated", 4401],
    ["forbidden", 4403],
    ["not_found", 4404],
  ] as const)("stops on auth.error %s", async (code, close) => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push({ type: "auth.error", code, message: "no" });
    t.s.last().drop(close);
    expect(t.statuses.at(-1)).toBe(code);
    expect(t.errors.at(-1)).toMatchObject({ kind: "auth", code });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.s.all.length).toBe(1);
    // after logging in, start() connects again
    t.conn.start();
    expect(t.s.all.length).toBe(2);
  });

  it.each([
    ["bad_origin", 4403, "forbidden"],
    ["unauthenticated", 4401, "unauthenticated"],
  ] as const)("stops on %s after auth.ok too (revoked, refused origin)", async (code, close, status) => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    t.s.last().push({ type: "auth.error", code, message: "gone" });
    t.s.last().drop(close);
    expect(t.statuses.at(-1)).toBe(status);
    expect(t.errors.at(-1)).toMatchObject({ kind: "auth", code });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.s.all.length).toBe(1);
  });

  it.each([
    [4401, "unauthenticated"],
    [4403, "forbidden"],
    [4404, "not_found"],
  ] as const)("stops on close %i even when its auth.error frame never came", async (close, status) => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().drop(close);
    expect(t.statuses.at(-1)).toBe(status);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.s.all.length).toBe(1);
  });

  it.each([
    ["server_error", 4500],
    ["timeout", 4408],
  ] as const)("retries with backoff after %s (transient)", async (code, close) => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push({ type: "auth.error", code, message: "try later" });
    t.s.last().drop(close);
    expect(t.statuses.at(-1)).toBe("reconnecting");
    expect(t.errors.at(-1)).toMatchObject({ kind: "auth", code });
    await vi.advanceTimersByTimeAsync(500);
    expect(t.s.all.length).toBe(2);
  });

  it("retries after 1011 and after daphne's 1009 (a frame over its size limit)", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().drop(1009);
    expect(t.errors.at(-1)).toMatchObject({ kind: "connection", code: "too_large" });
    await vi.advanceTimersByTimeAsync(500);
    t.s.last().open();
    t.s.last().drop(1011);
    expect(t.statuses.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.s.all.length).toBe(3);
  });

  it("refuses a request over maxFrameBytes (UTF-8) without sending it", async () => {
    const t = setup({ maxFrameBytes: 1000 });
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    const emoji = "\u{1F600}".repeat(300); // 300 characters, 1,200 bytes
    const big = t.conn.request("action", { type: "action", id: "a1", params: [emoji] } as never, 5000);
    await expect(big).rejects.toMatchObject({ kind: "action", code: "too_large" });
    expect(t.s.last().sentOf("action")).toEqual([]);
    const small = t.conn.request("action", { type: "action", id: "a2" }, 5000);
    expect(t.s.last().sentOf("action")).toEqual([{ type: "action", id: "a2" }]);
    t.s.last().push({ type: "action.result", id: "a2", result: 1 });
    await expect(small).resolves.toMatchObject({ result: 1 });
  });

  it("retries after an auth timeout", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().push({ type: "auth.error", code: "timeout", message: "slow" });
    t.s.last().drop(4408);
    expect(t.statuses.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(500);
    expect(t.s.all.length).toBe(2);
  });

  it("queues requests until authenticated and answers them by id", async () => {
    const t = setup();
    t.conn.start();
    const answer = t.conn.request("action", { type: "action", id: "a1" }, 5000);
    t.s.last().open();
    expect(t.s.last().sentOf("action")).toEqual([]);
    t.s.last().push(OK);
    expect(t.s.last().sentOf("action")).toEqual([{ type: "action", id: "a1" }]);
    t.s.last().push({ type: "action.result", id: "a1", result: 3 });
    await expect(answer).resolves.toEqual({ type: "action.result", id: "a1", result: 3 });
  });

  it("rejects with typed errors: server refusals, error frames with an id, timeouts", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    const refused = t.conn.request("write", { type: "write", id: "w1" }, 5000);
    const malformed = t.conn.request("action", { type: "action", id: "a2" }, 5000);
    const slow = t.conn.request("action", { type: "action", id: "a3" }, 5000);
    t.s.last().push({ type: "write.error", id: "w1", code: "forbidden", message: "save refused" });
    t.s.last().push({ type: "error", id: "a2", code: "malformed", message: "bad" });
    await expect(refused).rejects.toMatchObject({ kind: "write", code: "forbidden", message: "save refused" });
    await expect(malformed).rejects.toMatchObject({ kind: "action", code: "malformed" });
    vi.advanceTimersByTime(5000);
    await expect(slow).rejects.toBeInstanceOf(RxError);
    await expect(slow).rejects.toMatchObject({ code: "timeout" });
  });

  it("offline requests time out too (the clock starts at the call)", async () => {
    const t = setup();
    t.conn.start();
    const queued = t.conn.request("action", { type: "action", id: "a1" }, 1000);
    vi.advanceTimersByTime(1000);
    await expect(queued).rejects.toMatchObject({ code: "timeout" });
    t.s.last().open();
    t.s.last().push(OK);
    expect(t.s.last().sentOf("action")).toEqual([]);
  });

  it("fails requests in flight when the socket drops; unsent ones wait for the next socket", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    const sent = t.conn.request("action", { type: "action", id: "a1" }, 60_000);
    t.s.last().drop();
    const later = t.conn.request("action", { type: "action", id: "a2" }, 60_000);
    await expect(sent).rejects.toMatchObject({ code: "disconnected" });
    await vi.advanceTimersByTimeAsync(500);
    t.s.last().open();
    t.s.last().push(OK);
    expect(t.s.last().sentOf("action")).toEqual([{ type: "action", id: "a2" }]);
    t.s.last().push({ type: "action.result", id: "a2", result: null });
    await expect(later).resolves.toMatchObject({ result: null });
  });

  it("pings after silence and reconnects when no answer comes", async () => {
    const t = setup({ pingInterval: 1000, pongTimeout: 500 });
    t.conn.start();
    t.s.last().open();
    t.s.last().push(OK);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.s.last().sentOf("ping")).toEqual([{ type: "ping" }]);
    t.s.last().push({ type: "pong" });
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.s.last().sentOf("ping").length).toBe(2);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.statuses.at(-1)).toBe("reconnecting");
    expect(t.s.all[0]!.closed).not.toBeNull();
  });

  it("stop() closes, rejects everything with closed and never reconnects", async () => {
    const t = setup();
    t.conn.start();
    const queued = t.conn.request("action", { type: "action", id: "a1" }, 60_000);
    t.conn.stop();
    await expect(queued).rejects.toMatchObject({ code: "closed" });
    expect(t.statuses.at(-1)).toBe("closed");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.s.all.length).toBe(1);
  });

  it("refuses a server that speaks another protocol version", async () => {
    const t = setup();
    t.conn.start();
    t.s.last().open();
    t.s.last().push({ ...OK, protocol: 2 } as ServerFrame);
    expect(t.statuses.at(-1)).toBe("closed");
    expect(t.errors.at(-1)).toMatchObject({ code: "protocol" });
    expect(t.frames).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.s.all.length).toBe(1);
  });

  it("ignores frames of a socket it already dropped", async () => {
    const t = setup();
    t.conn.start();
    const old = t.s.last();
    old.drop();
    await vi.advanceTimersByTimeAsync(500);
    old.push(OK);
    expect(t.frames).toEqual([]);
  });
});

describe("socketUrl", () => {
  it("joins RX_WEBSOCKET_URL and the route with one slash; http(s) becomes ws(s)", () => {
    expect(socketUrl("wss://example.com/", "ws/room/5/")).toBe("wss://example.com/ws/room/5/");
    expect(socketUrl("https://example.com", "/ws/x/")).toBe("wss://example.com/ws/x/");
    expect(socketUrl("http://localhost:8000/api/", "ws/x/")).toBe("ws://localhost:8000/api/ws/x/");
  });

  it("resolves an empty or /path URL against the page", () => {
    vi.stubGlobal("location", { protocol: "https:", host: "app.test" });
    expect(socketUrl("", "ws/x/")).toBe("wss://app.test/ws/x/");
    expect(socketUrl("/socket", "ws/x/")).toBe("wss://app.test/socket/ws/x/");
    vi.unstubAllGlobals();
  });
});

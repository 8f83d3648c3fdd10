// @vitest-environment happy-dom
import { act, cleanup, render, screen } from "@testing-library/react";
import { StrictMode, useMemo } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StateChannel, type ChannelOptions } from "../../rxcdc/client/channel";
import { useChannelState } from "../../rxcdc/client/react";
import type { ServerFrame } from "../../rxcdc/client/types";
import { inst, snapshot, sockets, update } from "./fakes";
import { MESSAGE, ROOM, roomSchema } from "./schemas";

interface Room {
  readonly _pk: number;
  readonly name: string;
  readonly messages: readonly { readonly _pk: number; readonly text: string }[];
}

class RoomChannel extends StateChannel<Room | null, { greeting: string }> {
  constructor(room: number, options: ChannelOptions = {}) {
    super({ label: "testapp.RoomChannel", url: "ws://h/", schema: roomSchema }, `ws/room/${room}/`, options);
  }
  post(text: string): Promise<number> {
    return this.call<number>("post", { text });
  }
}

const OK: ServerFrame = { type: "auth.ok", protocol: 1, channel: "testapp.RoomChannel", list: false, anchors: [1], user: 7 };
const room = (lsn: number, messages: number[]) => inst(ROOM, 1, lsn, { id: 1, name: "lobby", messages });
const msg = (id: number, lsn: number, text: string) => inst(MESSAGE, id, lsn, { id, text, author: null, tags: [] });

let renders = 0;

function RoomView({ channel }: { channel: RoomChannel | null }) {
  renders += 1;
  const snap = useChannelState(channel);
  if (snap === null) return <p>no channel</p>;
  const { state, status, runtime } = snap;
  return (
    <div>
      <p data-testid="status">{status}</p>
      <p data-testid="greeting">{runtime.greeting ?? ""}</p>
      <ul>{state?.messages.map((m) => <li key={m._pk}>{m.text}</li>)}</ul>
    </div>
  );
}

function App({ room, factory }: { room: number; factory: (room: number) => RoomChannel }) {
  const channel = useMemo(() => factory(room), [room, factory]);
  return <RoomView channel={channel} />;
}

beforeEach(() => {
  vi.useFakeTimers();
  renders = 0;
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

const items = () => screen.queryAllByRole("listitem").map((li) => li.textContent);

describe("useChannelState", () => {
  it("under StrictMode: one socket, live state, one render per transaction", async () => {
    const s = sockets();
    const made: RoomChannel[] = [];
    const factory = (r: number) => {
      const channel = new RoomChannel(r, { socket: s.factory });
      made.push(channel);
      return channel;
    };
    render(
      <StrictMode>
        <App room={1} factory={factory} />
      </StrictMode>,
    );
    // StrictMode mounts, unmounts and mounts again; useMemo may build a spare channel that is
    // never subscribed: exactly one socket opens and it stays open
    await act(() => vi.advanceTimersByTimeAsync(5000));
    expect(s.all.length).toBe(1);
    expect(s.last().closed).toBeNull();
    expect(screen.getByTestId("status").textContent).toBe("connecting");
    act(() => {
      s.last().open();
      s.last().push(OK, ...snapshot(1, 100, [room(90, [10]), msg(10, 90, "hello")]));
      s.last().push({ type: "runtime", name: "greeting", value: "hi ann" });
    });
    expect(screen.getByTestId("status").textContent).toBe("live");
    expect(screen.getByTestId("greeting").textContent).toBe("hi ann");
    expect(items()).toEqual(["hello"]);
    const before = renders;
    act(() => s.last().push(update(1, 110, [room(110, [10, 11]), msg(11, 110, "world")])));
    expect(items()).toEqual(["hello", "world"]);
    expect(renders - before).toBe(2); // one commit, rendered twice by StrictMode
    act(() => s.last().push(update(1, 110, [room(110, [10, 11]), msg(11, 110, "world")])));
    expect(renders - before).toBe(2); // a replay changes nothing: no render
  });

  it("closes the socket after unmount, and a new mount connects again", async () => {
    const s = sockets();
    const channel = new RoomChannel(1, { socket: s.factory, linger: 1000 });
    const view = render(
      <StrictMode>
        <RoomView channel={channel} />
      </StrictMode>,
    );
    act(() => {
      s.last().open();
      s.last().push(OK, ...snapshot(1, 100, [room(90, [])]));
    });
    view.unmount();
    await act(() => vi.advanceTimersByTimeAsync(999));
    expect(s.last().closed).toBeNull();
    await act(() => vi.advanceTimersByTimeAsync(1));
    expect(s.last().closed).not.toBeNull();
    expect(channel.status).toBe("closed");
    render(<RoomView channel={channel} />);
    expect(s.all.length).toBe(2);
    expect(s.last().sentOf("auth")).toEqual([]);
    act(() => s.last().open());
    expect(s.last().sentOf("auth")).toEqual([{ type: "auth", since: { "1": 100 } }]);
  });

  it("switching channels moves the subscription", async () => {
    const s = sockets();
    const factory = (r: number) => new RoomChannel(r, { socket: s.factory, linger: 0 });
    const view = render(<App room={1} factory={factory} />);
    view.rerender(<App room={2} factory={factory} />);
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(s.all.map((x) => [x.url, x.closed === null])).toEqual([
      ["ws://h/ws/room/1/", false],
      ["ws://h/ws/room/2/", true],
    ]);
  });

  it("a channel created on every render (the seeds' quickstart) keeps one socket and its state", async () => {
    const s = sockets();
    let latest: RoomChannel | null = null;
    function SeedRoom({ roomId }: { roomId: number }) {
      // as RxDjango's quickstart writes it: `channel = new ChatRoomChannel(roomName, token)`
      const channel = new RoomChannel(roomId, { socket: s.factory, token: "tok", backoff: { base: 100 } });
      const chatState = useChannelState(channel);
      latest = channel;
      return (
        <div>
          <p data-testid="status">{chatState.status}</p>
          <ul>{chatState.state?.messages.map((m) => <li key={m._pk}>{m.text}</li>)}</ul>
        </div>
      );
    }
    const view = render(
      <StrictMode>
        <SeedRoom roomId={1} />
      </StrictMode>,
    );
    act(() => {
      s.last().open();
      s.last().push(OK, ...snapshot(1, 100, [room(90, [10]), msg(10, 90, "hello")]));
    });
    act(() => s.last().push(update(1, 110, [room(110, [10, 11]), msg(11, 110, "world")])));
    await act(() => vi.advanceTimersByTimeAsync(5000));
    expect(items()).toEqual(["hello", "world"]);
    expect(screen.getByTestId("status").textContent).toBe("live");
    expect(s.all.length).toBe(1);
    expect(s.last().sentOf("auth")).toEqual([{ type: "auth", token: "tok" }]);
    // the channel of the latest render never connected: it reads and calls through the first
    const posted = latest!.post("from a later render");
    expect(s.last().sentOf("action")).toEqual([
      { type: "action", id: "a1", action: "post", params: { text: "from a later render" } },
    ]);
    s.last().push({ type: "action.result", id: "a1", result: 12 });
    await expect(posted).resolves.toBe(12);
    expect([latest!.status, latest!.state?.messages.length]).toEqual(["live", 2]);
    // another room is another channel: the first one's socket closes after its linger
    view.rerender(
      <StrictMode>
        <SeedRoom roomId={2} />
      </StrictMode>,
    );
    await act(() => vi.advanceTimersByTimeAsync(5000));
    expect(s.all.map((x) => [x.url, x.closed === null])).toEqual([
      ["ws://h/ws/room/1/", false],
      ["ws://h/ws/room/2/", true],
    ]);
  });

  it("renders without a channel", () => {
    render(<RoomView channel={null} />);
    expect(screen.getByText("no channel")).toBeTruthy();
  });
});

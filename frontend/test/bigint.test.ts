// Integers outside JavaScript's safe range, as the server writes them (docs/protocol.md,
// "Numbers"): frames are pushed as JSON text, so the runtime's own parsing is under test.
import { describe, expect, it } from "vitest";
import { StateChannel } from "../../rxcdc/client/channel";
import { sockets } from "./fakes";
import { MESSAGE, ROOM, roomSchema } from "./schemas";

const A = "9007199254740992"; // 2^53: the first integer a double cannot tell from its neighbour
const B = "9007199254740993"; // 2^53 + 1: JSON.parse reads it as 2^53
const HUGE = "36893488147419103233"; // 2^65 + 1, a jsonb integer past 64 bits

type Room = { readonly messages: readonly Record<string, unknown>[] } & Record<string, unknown>;

function live(): { channel: StateChannel<Room | null>; push: (text: string) => void; sent: () => string[] } {
  const s = sockets();
  const channel = new StateChannel<Room | null>({ label: "t", url: "ws://t/", schema: roomSchema }, "ws/", {
    socket: s.factory,
  });
  channel.connect();
  s.last().open();
  const raw: string[] = [];
  const socket = s.last();
  const send = socket.send.bind(socket);
  socket.send = (data: string) => {
    raw.push(data);
    send(data);
  };
  return { channel, push: (text) => socket.pushText(text), sent: () => raw };
}

/** A snapshot of room 1 holding two messages, written as the server's JSON text. */
function snapshotText(messages: string[], blob = "null"): string[] {
  const rows = messages.map(
    (id) =>
      `{"id":${id},"text":"m${id}","author":null,"tags":[],"blob":${blob},` +
      `"_type":"${MESSAGE}","_pk":${id},"_lsn":90}`,
  );
  const room = `{"id":1,"name":"lobby","messages":[${messages.join(",")}],"_type":"${ROOM}","_pk":1,"_lsn":90}`;
  return [
    `{"type":"auth.ok","protocol":1,"channel":"t","list":false,"anchors":[1],"user":7}`,
    `{"type":"snapshot.begin","anchor":1,"lsn":100,"mode":"full"}`,
    `{"type":"snapshot.instances","anchor":1,"instances":[${[room, ...rows].join(",")}]}`,
    `{"type":"snapshot.end","anchor":1,"lsn":100}`,
  ];
}

describe("integers past 2^53 reach the state exactly", () => {
  it("keeps two bigint ids that a double cannot tell apart as two rows", () => {
    const { channel, push } = live();
    snapshotText([A, B]).forEach(push);
    const messages = channel.state?.messages ?? [];
    expect(messages.map((m) => m["id"])).toEqual([BigInt(A), BigInt(B)]);
    expect(messages.map((m) => m["_pk"])).toEqual([BigInt(A), BigInt(B)]);
    expect(messages.map((m) => m["text"])).toEqual([`m${A}`, `m${B}`]);
    expect(channel.status).toBe("live");
  });

  it("applies updates and tombstones to the exact row", () => {
    const { channel, push } = live();
    snapshotText([A, B]).forEach(push);
    push(
      `{"type":"update","anchor":1,"lsn":110,"instances":[` +
        `{"id":1,"name":"lobby","messages":[${B}],"_type":"${ROOM}","_pk":1,"_lsn":110},` +
        `{"id":${B},"text":"edited","author":null,"tags":[],"blob":null,"_type":"${MESSAGE}","_pk":${B},"_lsn":110}],` +
        `"tombstones":[{"_type":"${MESSAGE}","_pk":${A},"_lsn":110}]}`,
    );
    const messages = channel.state?.messages ?? [];
    expect(messages.map((m) => [m["_pk"], m["text"]])).toEqual([[BigInt(B), "edited"]]);
  });

  it("keeps a jsonb integer past 2^64 exact, and safe integers plain numbers", () => {
    const { channel, push } = live();
    const blob = `{"huge":${HUGE},"negative":-${HUGE},"list":[${HUGE},1,2.5,1e300],"safe":9007199254740991,"zero":-0}`;
    snapshotText(["5"], blob).forEach(push);
    const message = channel.state?.messages[0];
    expect(message?.["_pk"]).toBe(5);
    expect(message?.["blob"]).toEqual({
      huge: BigInt(HUGE),
      negative: -BigInt(HUGE),
      list: [BigInt(HUGE), 1, 2.5, 1e300],
      safe: 9007199254740991,
      zero: -0,
    });
  });

  it("sends bigint keys exactly in writes", async () => {
    const { channel, push, sent } = live();
    snapshotText([A, B]).forEach(push);
    const target = channel.state?.messages[1];
    const write = (channel as unknown as {
      writeSave(type: string, target: unknown, data: Record<string, unknown>): Promise<unknown>;
    }).writeSave(MESSAGE, target, { text: "mine" });
    expect(channel.state?.messages.map((m) => m["text"])).toEqual([`m${A}`, "mine"]);
    const frame = sent().find((text) => text.includes('"write"'));
    expect(frame).toContain(`"pk":${B}`);
    push(`{"type":"write.error","id":"w1","code":"forbidden","message":"no"}`);
    await expect(write).rejects.toMatchObject({ code: "forbidden" });
    expect(channel.state?.messages.map((m) => m["text"])).toEqual([`m${A}`, `m${B}`]);
  });
});

// Type-level tests: integers that may pass 2^53 are typed `number | bigint`, the others `number`,
// decimals `string` (compiled by tests/frontend/test_bigint_types.py with tsc --strict).
import { parseJson, type Ref } from "./app/rxcdc/index";
import { RoomChannel } from "./app/testapp.channels";
import type { MessageState, NoteState, RoomState } from "./app/testapp.interfaces";
import { SinkChannel } from "./sink/tests.channels";
import type { SinkMessageState } from "./sink/testapp.interfaces";

declare const message: MessageState;
declare const note: NoteState;
declare const sink: SinkMessageState;

// BigAutoField keys, their references and the <int:room> route take and give bigints
const room = new RoomChannel(9007199254740993n);
const key: number | bigint = message._pk;
const id: number | bigint = message.id;
const ref: Ref<MessageState> = 9007199254740993n;
const rooms: Ref<RoomState>[] = [1, 2n ** 64n];
void room.saveMessage(ref, { text: "edited" });
void room.deleteMessage(2n ** 60n);
// @ts-expect-error past 2^53 a key is a bigint: never assume a number
const notNumber: number = message._pk;
// @ts-expect-error likewise an id
const idNotNumber: number = message.id;

// a FK to auth.User (AutoField, 32 bits) stays a number
const user: number = note.user;
// @ts-expect-error no bigint there
const userBig: NoteState["user"] = 5n;

// DRF fields: BigIntegerField, its string form, decimals, a bigint key read through `source`
const huge: number | bigint = sink.huge;
// @ts-expect-error a BigIntegerField may hold a bigint
const hugeNumber: number = sink.huge;
const hugeText: string = sink.huge_text;
const exact: string = sink.exact;
const roomKey: number | bigint = sink.room_key;
const snowflake: number | bigint = sink.snowflake;
// @ts-expect-error a `BigInt` hint may be a bigint
const snowflakeNumber: number = sink.snowflake;

// actions: a `BigInt` hint takes and returns bigints; a plain `int` stays a number
declare const channel: SinkChannel;
const found: Promise<(number | bigint)[]> = channel.actions.lookup(2n ** 64n, 2);
// @ts-expect-error count is an int: number only
void channel.actions.lookup(1, 2n);

// the runtime's parser says what it returns
const parsed = parseJson("9007199254740993");
if (typeof parsed === "bigint") void (parsed + 1n);

export {
  exact, found, huge, hugeNumber, hugeText, id, idNotNumber, key, notNumber, rooms, roomKey, snowflake,
  snowflakeNumber, user, userBig,
};

// Type-level tests of the generated API (compiled by tests/frontend/test_typescript.py).
import { RxError, type Ref, type Status } from "./rxcdc/index";
import { useChannelState } from "./rxcdc/react";
import { BoardsChannel, RoomChannel, type RoomChannelRuntime } from "./testapp.channels";
import type { AuthorState, BoardState, MessageInstance, MessageState, RoomState } from "./testapp.interfaces";

const room = new RoomChannel(5, { token: () => "token", requestTimeout: 5000 });
const boards = new BoardsChannel({ url: "wss://elsewhere.example/" });
// @ts-expect-error the route's <int:room> is a number
new RoomChannel("5");
// a DRF token alone as the last argument (RxDjango's `new ChatRoomChannel(roomName, token)`)
new RoomChannel(5, "token");
new RoomChannel(5n, () => localStorage.getItem("token"));
new BoardsChannel(null);
// @ts-expect-error a number is neither a token nor options
new RoomChannel(5, 5);

const state: RoomState | null = room.state;
const list: readonly BoardState[] = boards.state;
const status: Status = room.status;
const greeting: unknown = room.runtime["greeting"];
const runtime: Readonly<Partial<RoomChannelRuntime>> = room.runtime;

// nested state: references resolved, nullable FKs typed as such, lists readonly
const first: MessageState | undefined = state?.messages[0];
const author: AuthorState | null | undefined = first?.author;
const text: string | undefined = first?.text;
// @ts-expect-error state is immutable
state?.messages.push(first!);
// @ts-expect-error fields are readonly
if (first) first.text = "changed";

// flat instances carry ids typed as references
const flat: Pick<MessageInstance, "author" | "tags"> = { author: null, tags: [1, 2] };
const ref: Ref<MessageState> = 3;

// actions: typed parameters and results
const posted: Promise<number> = room.actions.post("hi");
// @ts-expect-error post takes a string
void room.actions.post(5);
const echoed: Promise<Record<string, unknown>> = room.actions.echo("2026-01-01T00:00:00Z", "1.50", "id");

// writes: declared operations with their payload types
void room.saveMessage(ref, { text: "edited" });
void room.saveMessage(first!, {});
// @ts-expect-error shout is read-only
void room.saveMessage(ref, { shout: "x" });
void room.createMessage(state!, { text: "new" });
// @ts-expect-error create needs the required fields
void room.createMessage(5, {});
void room.deleteMessage(ref).then(({ pk }) => pk);
// @ts-expect-error boards declare no writes
void boards.saveCard;

room.onNotification((payload: unknown, anchor) => [payload, anchor]);
room.onSystem((message: string) => message);
const failed = (error: unknown): string => (error instanceof RxError ? error.code : "");

/** The React hook keeps the channel's types. */
export function useRoom(): [RoomState | null, Status] {
  const snapshot = useChannelState(room);
  const none = useChannelState(null as RoomChannel | null);
  return [snapshot.state, none?.status ?? snapshot.status];
}

export { author, echoed, failed, flat, greeting, list, posted, runtime, status, text };

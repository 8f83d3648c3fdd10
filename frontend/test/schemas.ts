// Schemas shaped like the test app's channels (tests/testapp), as makefrontend writes them.
import type { Schema } from "../../rxcdc/client/types";

export const ROOM = "testapp.RoomSerializer";
export const MESSAGE = "testapp.MessageSerializer";
export const AUTHOR = "testapp.AuthorSerializer";
export const TAG = "testapp.TagSerializer";
export const BOARD = "testapp.BoardSerializer";
export const CARD = "testapp.CardSerializer";

export const roomSchema: Schema = {
  root: ROOM,
  many: false,
  types: {
    [AUTHOR]: { pk: "id", pkKind: "number", nested: {} },
    [MESSAGE]: {
      pk: "id",
      pkKind: "number",
      nested: { author: [AUTHOR, false], tags: [TAG, true] },
    },
    [ROOM]: { pk: "id", pkKind: "number", nested: { messages: [MESSAGE, true] } },
    [TAG]: { pk: "id", pkKind: "number", nested: {} },
  },
};

export const boardsSchema: Schema = {
  root: BOARD,
  many: true,
  types: {
    [BOARD]: { pk: "id", pkKind: "number", nested: { cards: [CARD, true] } },
    [CARD]: { pk: "id", pkKind: "number", nested: {} },
  },
};

// rxcdc client runtime: everything but the React hook (import that from "./react").
export { AnchorData, keyOf, type Key } from "./anchor";
export {
  StateChannel,
  type ChannelOptions,
  type ChannelSnapshot,
  type ChannelSpec,
  type Target,
  type WriteResult,
} from "./channel";
export {
  browserSocket,
  Connection,
  PROTOCOL,
  socketUrl,
  type ConnectionOptions,
  type ConnectionStatus,
  type SocketFactory,
  type SocketLike,
  type TokenSource,
} from "./connection";
export { parseJson, stringifyJson, type JsonValue } from "./json";
export { Overlay, type PendingOp } from "./pending";
export { Store } from "./store";
export {
  RxError,
  type ClientErrorCode,
  type FlatInstance,
  type NestedField,
  type Pending,
  type Pk,
  type Ref,
  type Schema,
  type ServerFrame,
  type StateFrame,
  type Status,
  type Tombstone,
  type TypeSchema,
} from "./types";

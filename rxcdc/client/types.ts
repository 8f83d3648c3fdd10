// rxcdc client runtime: shared types (docs/protocol.md is the wire contract).

/**
 * A primary key as the server renders it: a number, a `bigint` when it is an integer outside
 * JavaScript's safe range (`BigAutoField` ids past 2^53), or a string.
 */
export type Pk = number | bigint | string;

/** The id of a referenced instance: `Ref<AuthorState>` is the type of `AuthorState._pk`. */
export type Ref<T extends { readonly _pk: Pk }> = T["_pk"];

/** Why a state object differs from the server's version: an optimistic write not yet confirmed. */
export type Pending = "save" | "create" | "delete";

/** A flat instance: one layer's serializer fields (nested ones as ids) plus `_type/_pk/_lsn`. */
export interface FlatInstance {
  readonly _type: string;
  readonly _pk: Pk;
  readonly _lsn: number;
  readonly [field: string]: unknown;
}

/** The row left the anchor (deleted, moved away, no longer referenced). */
export interface Tombstone {
  readonly _type: string;
  readonly _pk: Pk;
  readonly _lsn: number;
}

/** A nested field: the child layer's type key and whether it is a list of ids. */
export type NestedField = readonly [childType: string, many: boolean];

/** What the generator knows about one layer type. */
export interface TypeSchema {
  /** The serializer field that holds the primary key, when the serializer renders it. */
  readonly pk: string | null;
  /** How this type renders its primary key (temporary keys of optimistic creates follow it). */
  readonly pkKind: "number" | "string";
  readonly nested: { readonly [field: string]: NestedField };
}

/** The shape of a channel's state, generated from its layers. */
export interface Schema {
  readonly root: string;
  readonly many: boolean;
  readonly types: { readonly [typeKey: string]: TypeSchema };
}

/** A channel's connection status. */
export type Status =
  | "idle" // not started: no subscriber and no connect()
  | "connecting" // opening the socket and authenticating
  | "loading" // authenticated; snapshots (or a large transaction's parts) are loading
  | "live" // every anchor is loaded; updates flow
  | "stale" // connected, but the server's replication worker is down: no updates until it returns
  | "reconnecting" // dropped (the reason says why): trying again, until live again
  | "unauthenticated" // the server refused the credentials: log in, then reconnect()
  | "forbidden" // has_permission refused, or this page's origin is not allowed: not retried
  | "not_found" // the anchor does not exist: not retried
  | "closed"; // close() was called

/**
 * Error codes the client raises itself; the server's codes (protocol.md) pass through. `lost`: a
 * message went missing (a skipped part number), so the channel reconnects to resume. `too_large`:
 * a request over `maxFrameBytes`, refused before sending (the server would drop it).
 */
export type ClientErrorCode =
  | "timeout"
  | "disconnected"
  | "closed"
  | "protocol"
  | "lost"
  | "too_large";

/** A typed failure: an action/write refusal, an auth error, or a client-side timeout. */
export class RxError extends Error {
  /** The server's error code (`invalid_params`, `forbidden`, ...) or a client code. */
  readonly code: string;
  /** What failed: a request kind, the connection, or a server `error` frame. */
  readonly kind: "action" | "write" | "auth" | "connection" | "server";
  /** The anchor a server `error` frame is about, when it names one. */
  readonly anchor: Pk | undefined;

  constructor(kind: RxError["kind"], code: string, message: string, anchor?: Pk) {
    super(message);
    this.name = "RxError";
    this.kind = kind;
    this.code = code;
    this.anchor = anchor;
  }
}

// -- frames the server sends ------------------------------------------------------------------

export interface AuthOkFrame {
  readonly type: "auth.ok";
  readonly protocol: number;
  readonly channel: string;
  readonly list: boolean;
  readonly anchors: readonly Pk[];
  readonly user: Pk | null;
}
export interface AuthErrorFrame {
  readonly type: "auth.error";
  readonly code: string;
  readonly message: string;
}
export interface SnapshotBeginFrame {
  readonly type: "snapshot.begin";
  readonly anchor: Pk;
  readonly lsn: number;
  readonly mode: "full" | "delta";
}
export interface SnapshotInstancesFrame {
  readonly type: "snapshot.instances";
  readonly anchor: Pk;
  readonly instances: readonly FlatInstance[];
  readonly tombstones?: readonly Tombstone[];
}
export interface SnapshotEndFrame {
  readonly type: "snapshot.end";
  readonly anchor: Pk;
  readonly lsn: number;
}
export interface UpdateFrame {
  readonly type: "update";
  readonly anchor: Pk;
  readonly lsn: number;
  readonly instances: readonly FlatInstance[];
  readonly tombstones: readonly Tombstone[];
  readonly part?: number;
  readonly last?: boolean;
}
export interface ResetFrame {
  readonly type: "reset";
  readonly anchor: Pk;
  readonly lsn: number;
}
export interface AnchorFrame {
  readonly type: "anchor.added" | "anchor.removed";
  readonly anchor: Pk;
}
export interface ActionResultFrame {
  readonly type: "action.result";
  readonly id: string;
  readonly result: unknown;
}
export interface WriteResultFrame {
  readonly type: "write.result";
  readonly id: string;
  readonly pk: Pk;
}
export interface RequestErrorFrame {
  readonly type: "action.error" | "write.error";
  readonly id: string;
  readonly code: string;
  readonly message: string;
}
export interface RuntimeFrame {
  readonly type: "runtime";
  readonly name: string;
  readonly value: unknown;
}
export interface NotificationFrame {
  readonly type: "notification";
  readonly anchor: Pk;
  readonly payload: unknown;
}
export interface SystemFrame {
  readonly type: "system";
  readonly source: string;
  readonly message: string;
}
export interface ErrorFrame {
  readonly type: "error";
  readonly code: string;
  readonly message: string;
  /** The request it answers. */
  readonly id?: string;
  /** The anchor that could not be loaded or kept up to date (stale until a reset follows). */
  readonly anchor?: Pk;
}
/** Whether the server's replication worker runs; after `up`, the anchors are resumed. */
export interface StatusFrame {
  readonly type: "status";
  readonly worker: "up" | "down";
}

/** Frames that carry state for one anchor (applied by the store). */
export type StateFrame =
  | SnapshotBeginFrame
  | SnapshotInstancesFrame
  | SnapshotEndFrame
  | UpdateFrame
  | ResetFrame
  | AnchorFrame;

/** Every frame type of protocol version 1 (unknown types are ignored, as the protocol asks). */
export type ServerFrame =
  | AuthOkFrame
  | AuthErrorFrame
  | StateFrame
  | ActionResultFrame
  | WriteResultFrame
  | RequestErrorFrame
  | RuntimeFrame
  | NotificationFrame
  | SystemFrame
  | ErrorFrame
  | StatusFrame
  | { readonly type: "pong" };

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

// -- frames: declared in rxcdc/frames.py, generated into ./frames.ts ------------------------------

export type * from "./frames";

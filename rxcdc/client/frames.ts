// Generated from rxcdc/frames.py by `python -m rxcdc.codegen.frames` — do not edit.
// The wire contract is docs/protocol.md; the Python side builds these frames in rxcdc/frames.py.

import type { FlatInstance, Pk, Tombstone } from "./types";

// -- frames the server sends ----------------------------------------------------------------------

/** Authenticated: the channel, whether it lists anchors, the anchors and the user's key. */
export interface AuthOkFrame {
  readonly type: "auth.ok";
  readonly protocol: number;
  readonly channel: string;
  readonly list: boolean;
  readonly anchors: readonly Pk[];
  readonly user: Pk | null;
}

/** The connection was refused (the socket closes with a 44xx code next). */
export interface AuthErrorFrame {
  readonly type: "auth.error";
  readonly code: string;
  readonly message: string;
}

/** An anchor's snapshot starts: `full` replaces local state, `delta` patches it. */
export interface SnapshotBeginFrame {
  readonly type: "snapshot.begin";
  readonly anchor: Pk;
  readonly lsn: number;
  readonly mode: "full" | "delta";
}

/** One batch of a snapshot's instances (and, in a delta, what left the anchor). */
export interface SnapshotInstancesFrame {
  readonly type: "snapshot.instances";
  readonly anchor: Pk;
  readonly instances: readonly FlatInstance[];
  readonly tombstones?: readonly Tombstone[];
}

/** The snapshot is complete at `lsn`. */
export interface SnapshotEndFrame {
  readonly type: "snapshot.end";
  readonly anchor: Pk;
  readonly lsn: number;
}

/** One transaction's changes to an anchor; `part`/`last` when it came in several. */
export interface UpdateFrame {
  readonly type: "update";
  readonly anchor: Pk;
  readonly lsn: number;
  readonly instances: readonly FlatInstance[];
  readonly tombstones: readonly Tombstone[];
  readonly part?: number;
  readonly last?: boolean;
}

/** Drop the anchor's local state; a fresh snapshot follows. */
export interface ResetFrame {
  readonly type: "reset";
  readonly anchor: Pk;
  readonly lsn: number;
}

/** List channels: an anchor is shown (its snapshot follows) or no longer shown. */
export interface AnchorFrame {
  readonly type: "anchor.added" | "anchor.removed";
  readonly anchor: Pk;
}

/** What an action returned. */
export interface ActionResultFrame {
  readonly type: "action.result";
  readonly id: string;
  readonly result: unknown;
}

/** A write was applied; `pk` is the row's key (a create's new one). */
export interface WriteResultFrame {
  readonly type: "write.result";
  readonly id: string;
  readonly pk: Pk;
}

/** An action or write was refused or failed. */
export interface RequestErrorFrame {
  readonly type: "action.error" | "write.error";
  readonly id: string;
  readonly code: string;
  readonly message: string;
}

/** A runtime variable of this connection (`set_runtime_var`). */
export interface RuntimeFrame {
  readonly type: "runtime";
  readonly name: string;
  readonly value: unknown;
}

/** A notification for an anchor (`broadcast_notification`); not cached. */
export interface NotificationFrame {
  readonly type: "notification";
  readonly anchor: Pk;
  readonly payload: unknown;
}

/** A message to every connected client (`manage.py rx_broadcast`). */
export interface SystemFrame {
  readonly type: "system";
  readonly source: string;
  readonly message: string;
}

/** A frame the server could not use, or an anchor it could not load or keep up to date. */
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

/** The answer to a `ping`. */
export interface PongFrame {
  readonly type: "pong";
}

/** Frames that carry state for one anchor (applied by the store). */
export type StateFrame =
  | SnapshotBeginFrame
  | SnapshotInstancesFrame
  | SnapshotEndFrame
  | UpdateFrame
  | ResetFrame
  | AnchorFrame;

/** Every frame the server sends (unknown types are ignored, as the protocol asks). */
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
  | PongFrame;

// -- frames the client sends ----------------------------------------------------------------------

/** The first frame: a token (else the session cookie), and the LSNs to resume anchors from. */
export interface AuthFrame {
  readonly type: "auth";
  readonly token?: string;
  readonly since?: { readonly [key: string]: number };
}

/** Run an action of the channel; answered by `action.result` or `action.error`. */
export interface ActionFrame {
  readonly type: "action";
  readonly id: string;
  readonly action: string;
  readonly params?: { readonly [key: string]: unknown } | readonly unknown[];
}

/** Save, create or delete an instance; answered by `write.result` or `write.error`. */
export interface WriteFrame {
  readonly type: "write";
  readonly id: string;
  readonly op: string;
  readonly instance_type: string;
  readonly pk?: Pk;
  readonly data?: { readonly [key: string]: unknown };
  readonly parent_type?: string;
  readonly parent_pk?: Pk;
}

/** Keep-alive; answered by `pong`. */
export interface PingFrame {
  readonly type: "ping";
}

/** Every frame the client sends. */
export type ClientFrame =
  | AuthFrame
  | ActionFrame
  | WriteFrame
  | PingFrame;

// Test doubles: a scripted socket and helpers to build server frames.
import type { SocketFactory, SocketLike } from "../../rxcdc/client/connection";
import { parseJson, stringifyJson } from "../../rxcdc/client/json";
import type { FlatInstance, Pk, ServerFrame, Tombstone } from "../../rxcdc/client/types";

/** A socket the test plays the server for. */
export class FakeSocket implements SocketLike {
  readonly sent: Record<string, unknown>[] = [];
  closed: { code?: number | undefined; reason?: string | undefined } | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  send(data: string): void {
    this.sent.push(parseJson(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }

  /** The server accepts the connection. */
  open(): void {
    this.onopen?.();
  }

  /** The server sends frames. */
  push(...frames: ServerFrame[]): void {
    for (const frame of frames) this.onmessage?.({ data: stringifyJson(frame) });
  }

  /** The server sends frames as JSON text, exactly as written (integers of any size). */
  pushText(...texts: string[]): void {
    for (const text of texts) this.onmessage?.({ data: text });
  }

  /** The server (or the network) closes the socket. */
  drop(code = 1006, reason = ""): void {
    this.onclose?.({ code, reason });
  }

  /** Frames the client sent, of one type. */
  sentOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f["type"] === type);
  }
}

/** A socket factory that keeps every socket it made. */
export function sockets(): { factory: SocketFactory; all: FakeSocket[]; last(): FakeSocket } {
  const all: FakeSocket[] = [];
  return {
    all,
    factory: (url) => {
      const socket = new FakeSocket(url);
      all.push(socket);
      return socket;
    },
    last() {
      const socket = all[all.length - 1];
      if (socket === undefined) throw new Error("no socket was opened");
      return socket;
    },
  };
}

export function inst(type: string, pk: Pk, lsn: number, fields: Record<string, unknown>): FlatInstance {
  return { ...fields, _type: type, _pk: pk, _lsn: lsn };
}

export function tomb(type: string, pk: Pk, lsn: number): Tombstone {
  return { _type: type, _pk: pk, _lsn: lsn };
}

/** A whole full snapshot of one anchor. */
export function snapshot(anchor: Pk, lsn: number, instances: FlatInstance[]): ServerFrame[] {
  return [
    { type: "snapshot.begin", anchor, lsn, mode: "full" },
    { type: "snapshot.instances", anchor, instances },
    { type: "snapshot.end", anchor, lsn },
  ];
}

export function update(
  anchor: Pk,
  lsn: number,
  instances: FlatInstance[],
  tombstones: Tombstone[] = [],
): ServerFrame {
  return { type: "update", anchor, lsn, instances, tombstones };
}

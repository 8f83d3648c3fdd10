// rxcdc client runtime: one websocket with auth, resume, reconnect and request bookkeeping.
import { parseJson, stringifyJson } from "./json";
import { RxError, type AuthFrame, type PingFrame, type ServerFrame } from "./types";

/** The part of a WebSocket the client uses (tests and other environments provide their own). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: (() => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

/** A DRF token, or a function returning one (called on every connect); none = session auth. */
export type TokenSource = string | null | (() => string | null | Promise<string | null>);

export interface ConnectionOptions {
  readonly token?: TokenSource;
  readonly socket?: SocketFactory;
  /** First reconnect delay and its cap, in ms (doubling, with jitter). Default 500 / 15000. */
  readonly backoff?: { readonly base?: number; readonly max?: number };
  /** Source of jitter in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Ping after this many ms without a frame; reconnect when the pong does not come. */
  readonly pingInterval?: number;
  readonly pongTimeout?: number;
  /**
   * Requests larger than this many bytes of UTF-8 fail with `too_large` without being sent.
   * Default 65536, the server's RX_MAX_FRAME_BYTES default (daphne drops frames over 1 MiB).
   */
  readonly maxFrameBytes?: number;
}

/** `open` means authenticated. */
export type ConnectionStatus =
  | "idle"
  | "connecting"
  | "open"
  | "reconnecting"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "closed";

export interface ConnectionEvents {
  /** `since` for the auth frame: the last LSN applied per anchor. */
  since(): Record<string, number>;
  frame(frame: ServerFrame): void;
  status(status: ConnectionStatus, error: RxError | null): void;
  /** The socket dropped (requests in flight were rejected). */
  interrupted(): void;
}

interface Request {
  readonly frame: { readonly id: string; readonly type: string };
  readonly kind: "action" | "write";
  readonly resolve: (frame: ServerFrame) => void;
  readonly reject: (error: RxError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  sent: boolean;
}

/** Refusals that end retrying (`auth.error` codes), and the status each leaves. */
const TERMINAL: Readonly<Record<string, ConnectionStatus>> = {
  unauthenticated: "unauthenticated", // also revoked credentials: log in, then reconnect()
  forbidden: "forbidden",
  bad_origin: "forbidden", // this page's origin is not allowed: retrying cannot help
  not_found: "not_found",
};

/** Close codes that say the same when their `auth.error` frame did not arrive. */
const TERMINAL_CLOSE: Readonly<Record<number, string>> = {
  4401: "unauthenticated",
  4403: "forbidden",
  4404: "not_found",
};

const encoder = new TextEncoder();

/** The protocol version this client speaks (docs/protocol.md). */
export const PROTOCOL = 1;

/** Connects, authenticates (`auth` with token and `since`), reconnects, routes answers. */
export class Connection {
  status: ConnectionStatus = "idle";
  private readonly url: string;
  private readonly options: ConnectionOptions;
  private readonly events: ConnectionEvents;
  private socket: SocketLike | null = null;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setTimeout> | null = null;
  private readonly requests = new Map<string, Request>();
  private refusal: RxError | null = null;

  constructor(url: string, options: ConnectionOptions, events: ConnectionEvents) {
    this.url = url;
    this.options = options;
    this.events = events;
  }

  /** Open the socket unless it is open or opening. */
  start(): void {
    if (this.socket !== null || this.retry !== null) return;
    this.refusal = null;
    this.open();
  }

  /** Close for good; every request is rejected with `closed`. */
  stop(): void {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      detach(socket);
      socket.close(1000, "closed by the client");
    }
    for (const id of [...this.requests.keys()]) {
      this.fail(id, new RxError("connection", "closed", "the channel was closed"));
    }
    this.setStatus("closed", null);
  }

  /** Drop the socket and connect again after a backoff (e.g. the server could not load). */
  restart(error: RxError): void {
    if (this.socket === null) return;
    this.dropped(error);
  }

  /** Send a request now, or when authenticated; it fails after `timeout` ms either way. */
  request(
    kind: "action" | "write",
    frame: { readonly id: string; readonly type: string },
    timeout: number,
  ): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const max = this.options.maxFrameBytes ?? 65536;
      const size = encoder.encode(stringifyJson(frame)).length;
      if (size > max) {
        // The server answers too_large up to 1 MiB; past that daphne drops the socket (1009).
        reject(new RxError(kind, "too_large", `request of ${size} bytes exceeds ${max}`));
        return;
      }
      const timer = setTimeout(() => {
        this.fail(frame.id, new RxError(kind, "timeout", `no answer within ${timeout} ms`));
      }, timeout);
      const request: Request = { frame, kind, resolve, reject, timer, sent: false };
      this.requests.set(frame.id, request);
      if (this.status === "open") this.send(request);
    });
  }

  private send(request: Request): void {
    request.sent = true;
    // Action parameters and write keys may hold bigints, which JSON.stringify refuses.
    this.socket?.send(stringifyJson(request.frame));
  }

  private fail(id: string, error: RxError): void {
    const request = this.requests.get(id);
    if (request === undefined) return;
    this.requests.delete(id);
    clearTimeout(request.timer);
    request.reject(error);
  }

  private open(): void {
    this.setStatus("connecting", null);
    const socket = (this.options.socket ?? browserSocket)(this.url);
    this.socket = socket;
    socket.onopen = () => void this.authenticate(socket);
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onerror = () => undefined; // a close event follows
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.dropped(this.refusal ?? closeError(event.code));
    };
  }

  private async authenticate(socket: SocketLike): Promise<void> {
    const source = this.options.token;
    let token: string | null = null;
    try {
      token = typeof source === "function" ? await source() : (source ?? null);
    } catch (error) {
      this.refusal = new RxError("auth", "unauthenticated", `no token: ${String(error)}`);
      socket.close(4401, "no token");
      return;
    }
    if (this.socket !== socket) return;
    const since = this.events.since();
    const frame: AuthFrame = {
      type: "auth",
      ...(token ? { token } : {}),
      ...(Object.keys(since).length > 0 ? { since } : {}),
    };
    socket.send(stringifyJson(frame));
  }

  private receive(socket: SocketLike, data: unknown): void {
    if (this.socket !== socket || typeof data !== "string") return;
    let frame: ServerFrame;
    try {
      // Integers past 2^53 (bigint ids, big jsonb values) arrive exact, as bigint.
      const parsed: unknown = parseJson(data);
      if (typeof parsed !== "object" || parsed === null || !("type" in parsed)) return;
      frame = parsed as ServerFrame;
    } catch {
      return;
    }
    this.schedulePing();
    switch (frame.type) {
      case "auth.ok":
        if (frame.protocol !== PROTOCOL) {
          const message = `the server speaks protocol ${frame.protocol}, this client ${PROTOCOL}`;
          this.stop();
          this.setStatus("closed", new RxError("connection", "protocol", `${message}: run makefrontend`));
          return;
        }
        this.attempt = 0;
        this.events.frame(frame);
        this.setStatus("open", null);
        for (const request of this.requests.values()) if (!request.sent) this.send(request);
        return;
      case "auth.error":
        // The server closes the socket next; the refusal decides whether to retry.
        this.refusal = new RxError("auth", frame.code, frame.message);
        return;
      case "action.result":
      case "write.result":
        this.answer(frame.id, (r) => r.resolve(frame));
        return;
      case "action.error":
      case "write.error":
        this.answer(frame.id, (r) => r.reject(new RxError(r.kind, frame.code, frame.message)));
        return;
      case "error":
        if (frame.id !== undefined && this.requests.has(frame.id)) {
          this.answer(frame.id, (r) => r.reject(new RxError(r.kind, frame.code, frame.message)));
          return;
        }
        break;
      case "pong":
        return;
    }
    this.events.frame(frame);
  }

  private answer(id: string, settle: (request: Request) => void): void {
    const request = this.requests.get(id);
    if (request === undefined) return;
    this.requests.delete(id);
    clearTimeout(request.timer);
    settle(request);
  }

  private dropped(error: RxError): void {
    const socket = this.socket;
    this.socket = null;
    this.clearTimers();
    if (socket !== null) {
      detach(socket);
      socket.close(1000, "reconnecting");
    }
    for (const [id, request] of [...this.requests]) {
      if (request.sent) this.fail(id, new RxError(request.kind, "disconnected", error.message));
    }
    this.events.interrupted();
    const terminal = error.kind === "auth" ? TERMINAL[error.code] : undefined;
    if (terminal !== undefined) {
      this.setStatus(terminal, error);
      return;
    }
    const base = this.options.backoff?.base ?? 500;
    const max = this.options.backoff?.max ?? 15000;
    const ceiling = Math.min(max, base * 2 ** this.attempt);
    const delay = ceiling / 2 + (ceiling / 2) * (this.options.random ?? Math.random)();
    this.attempt += 1;
    this.setStatus("reconnecting", error);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.refusal = null;
      this.open();
    }, delay);
  }

  private schedulePing(): void {
    if (this.ping !== null) clearTimeout(this.ping);
    const interval = this.options.pingInterval ?? 30000;
    this.ping = setTimeout(() => {
      const ping: PingFrame = { type: "ping" };
      this.socket?.send(stringifyJson(ping));
      this.ping = setTimeout(() => {
        this.ping = null;
        this.dropped(new RxError("connection", "timeout", "no answer to ping"));
      }, this.options.pongTimeout ?? 10000);
    }, interval);
  }

  private clearTimers(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.ping !== null) clearTimeout(this.ping);
    this.retry = this.ping = null;
  }

  private setStatus(status: ConnectionStatus, error: RxError | null): void {
    this.status = status;
    this.events.status(status, error);
  }
}

/** Why a socket closed without an `auth.error`: a terminal refusal by its code, else a drop. */
function closeError(code: number): RxError {
  const refusal = TERMINAL_CLOSE[code];
  if (refusal !== undefined) return new RxError("auth", refusal, `socket closed (${code})`);
  if (code === 1009) {
    return new RxError("connection", "too_large", "the server dropped a frame over its size limit");
  }
  return new RxError("connection", "disconnected", `socket closed (${code})`);
}

function detach(socket: SocketLike): void {
  socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
}

/** The browser's WebSocket behind the `SocketLike` interface. */
export function browserSocket(url: string): SocketLike {
  const ws = new WebSocket(url);
  const socket: SocketLike = {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
  ws.onopen = () => socket.onopen?.();
  ws.onmessage = (event) => socket.onmessage?.({ data: event.data });
  ws.onclose = (event) => socket.onclose?.({ code: event.code, reason: event.reason });
  ws.onerror = () => socket.onerror?.();
  return socket;
}

/** The socket URL of a route: `base` is RX_WEBSOCKET_URL (absolute, `/path`, http(s) or empty). */
export function socketUrl(base: string, path: string): string {
  let root = base;
  if (!/^[a-z]+:\/\//i.test(root)) {
    const here = globalThis.location;
    if (here === undefined) throw new Error(`rxcdc: cannot resolve ${JSON.stringify(base)}`);
    const scheme = here.protocol === "https:" ? "wss:" : "ws:";
    root = `${scheme}//${here.host}${root.startsWith("/") ? root : "/"}`;
  }
  root = root.replace(/^http(s?):/i, "ws$1:");
  return root.replace(/\/+$/, "") + "/" + path.replace(/^\/+/, "");
}

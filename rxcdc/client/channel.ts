// rxcdc client runtime: the base class of generated channels.
import { keyOf } from "./anchor";
import { Connection, socketUrl, type ConnectionOptions, type ConnectionStatus } from "./connection";
import { Store } from "./store";
import { RxError, type Pk, type Schema, type ServerFrame, type StateFrame, type Status } from "./types";

/** What a generated channel class knows about its server side. */
export interface ChannelSpec {
  /** `"<app>.<ChannelClass>"`, as `auth.ok.channel` names it. */
  readonly label: string;
  /** RX_WEBSOCKET_URL at generation time (absolute, `/path`, or empty for this page's host). */
  readonly url: string;
  readonly schema: Schema;
}

export interface ChannelOptions extends ConnectionOptions {
  /** Overrides the generated RX_WEBSOCKET_URL. */
  readonly url?: string;
  /** Actions and writes fail with `timeout` after this many ms (queued time included). Default 15000. */
  readonly requestTimeout?: number;
  /** An acknowledged write stops being shown when its update arrives, or after this. Default 10000. */
  readonly confirmTimeout?: number;
  /** The socket closes this many ms after the last subscriber leaves. Default 1000. */
  readonly linger?: number;
}

/** Everything a view renders, replaced (never mutated) when any part changes. */
export interface ChannelSnapshot<S, R> {
  readonly state: S;
  readonly status: Status;
  /**
   * Why the status is not `live`, until it is: `worker_down` (stale), the code that dropped the
   * socket while `reconnecting` (`worker_unavailable`, `disconnected`, `timeout`, `lost`, ...), or
   * the refusal (`unauthenticated`, `forbidden`, `bad_origin`, `not_found`, `protocol`).
   */
  readonly reason: string | null;
  readonly error: RxError | null;
  readonly runtime: Readonly<Partial<R>>;
}

/** The result of an acknowledged write: the row's primary key (the new one for a create). */
export interface WriteResult {
  readonly pk: Pk;
}

/** A state object or its primary key. */
export type Target = Pk | { readonly _pk: Pk };

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});

type Listener<A extends unknown[]> = (...args: A) => void;

/**
 * A live channel: `state` follows the server, actions and writes return promises.
 *
 * The socket opens with the first `subscribe` (or `connect()`) and closes shortly after the last
 * subscriber leaves, so React StrictMode's double mount reuses one connection.
 */
export class StateChannel<S, R extends object = Record<string, unknown>> {
  readonly spec: ChannelSpec;
  protected readonly store: Store;
  private readonly connection: Connection;
  private readonly options: ChannelOptions;
  private readonly address: string;
  private readonly listeners = new Set<() => void>();
  private readonly notificationListeners = new Set<Listener<[unknown, Pk]>>();
  private readonly systemListeners = new Set<Listener<[string, string]>>();
  private readonly acked = new Map<string, { pk: Pk; timer: ReturnType<typeof setTimeout> }>();
  private snap: ChannelSnapshot<S, R>;
  private conn: ConnectionStatus = "idle";
  private worker: "up" | "down" = "up";
  // What dropped or refused the connection: kept through the next attempts until live, so a
  // page keeps saying why instead of flashing "connecting" and "loading" between them.
  private why: RxError | null = null;
  // Set by `follow`: an equal channel already running, which this one stands in for.
  private twin: StateChannel<S, R> | null = null;
  private lingering: ReturnType<typeof setTimeout> | null = null;
  private counter = 0;

  constructor(spec: ChannelSpec, path: string, options: ChannelOptions = {}) {
    this.spec = spec;
    this.options = options;
    this.store = new Store(spec.schema);
    this.snap = {
      state: this.store.state() as S,
      status: "idle",
      reason: null,
      error: null,
      runtime: EMPTY as Partial<R>,
    };
    this.address = socketUrl(options.url ?? spec.url, path);
    this.connection = new Connection(this.address, options, {
      since: () => this.store.since(),
      frame: (frame) => this.receive(frame),
      status: (status, error) => {
        this.conn = status;
        if (status !== "connecting" && status !== "open") this.why = error;
        this.publish({ error: error ?? (status === "open" ? null : this.snap.error) });
      },
      interrupted: () => this.store.interrupted(),
    });
  }

  /** The nested state: `null` (or `[]` for list channels) until the first snapshot. */
  get state(): S {
    return this.target.snap.state;
  }

  get status(): Status {
    return this.target.snap.status;
  }

  /** Why the status is not `live` (see `ChannelSnapshot.reason`); null when live. */
  get reason(): string | null {
    return this.target.snap.reason;
  }

  /** The last error: a refused auth, a dropped socket, or a server `error` frame. */
  get error(): RxError | null {
    return this.target.snap.error;
  }

  /** Runtime variables set by the server (`set_runtime_var`). */
  get runtime(): Readonly<Partial<R>> {
    return this.target.snap.runtime;
  }

  /** State, status, error and runtime variables as one immutable value. */
  readonly getSnapshot = (): ChannelSnapshot<S, R> => this.target.snap;

  /** Call `listener` after every change; the first subscriber connects. */
  readonly subscribe = (listener: () => void): (() => void) => {
    if (this.twin !== null) return this.twin.subscribe(listener);
    this.listeners.add(listener);
    if (this.lingering !== null) clearTimeout(this.lingering);
    this.lingering = null;
    this.connect();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.lingering = setTimeout(() => {
        this.lingering = null;
        if (this.listeners.size === 0) this.close();
      }, this.options.linger ?? 1000);
    };
  };

  /** Whether `other` would be this channel again: same class, socket URL and options. */
  sameAs(other: StateChannel<S, R>): boolean {
    return (
      other.constructor === this.constructor &&
      other.address === this.address &&
      shallowEqual(other.options, this.options, 2)
    );
  }

  /**
   * Stand in for `other`, an equal channel (`sameAs`) already running: reads, subscriptions,
   * actions and writes of this one go to it. `useChannelState` does this for a channel created
   * on every render, so that calls on the latest one still reach the one socket.
   */
  follow(other: StateChannel<S, R>): void {
    const target = other.target;
    if (target !== this) this.twin = target;
  }

  private get target(): StateChannel<S, R> {
    return this.twin ?? this;
  }

  /** Open the connection (idempotent; also after `close()`). */
  connect(): void {
    if (this.twin !== null) return this.twin.connect();
    this.connection.start();
  }

  /** Close the connection; pending actions and writes fail with `closed`. */
  close(): void {
    if (this.twin !== null) return this.twin.close();
    this.connection.stop();
  }

  /** Connect again now, e.g. after logging in when the status is `unauthenticated`. */
  reconnect(): void {
    if (this.twin !== null) return this.twin.reconnect();
    this.connection.stop();
    this.connection.start();
  }

  /** `broadcast_notification` payloads; returns an unsubscribe function. */
  onNotification(listener: (payload: unknown, anchor: Pk) => void): () => void {
    if (this.twin !== null) return this.twin.onNotification(listener);
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  /** `system` messages (`manage.py rx_broadcast`); returns an unsubscribe function. */
  onSystem(listener: (message: string, source: string) => void): () => void {
    if (this.twin !== null) return this.twin.onSystem(listener);
    this.systemListeners.add(listener);
    return () => this.systemListeners.delete(listener);
  }

  /** Call an `@action` with keyword (object) or positional (array) parameters. */
  protected call<T>(action: string, params: Record<string, unknown> | unknown[]): Promise<T> {
    if (this.twin !== null) return this.twin.call<T>(action, params);
    const frame = { type: "action", id: this.nextId("a"), action, params };
    return this.connection
      .request("action", frame, this.timeout())
      .then((answer) => (answer.type === "action.result" ? answer.result : null) as T);
  }

  /** Optimistically apply `data` to a row and ask the server to save it. */
  protected writeSave(type: string, target: Target, data: Record<string, unknown>): Promise<WriteResult> {
    if (this.twin !== null) return this.twin.writeSave(type, target, data);
    const pk = pkOf(target);
    const id = this.nextId("w");
    const row = this.store.row(type, pk);
    if (row !== undefined) {
      this.store.addPending({ kind: "save", id, key: keyOf(type, pk), data, baseLsn: row._lsn });
    }
    const frame = { type: "write", id, op: "save", instance_type: type, pk, data };
    return this.write(id, frame);
  }

  /** Optimistically add a row under `parent` (its `field`) and ask the server to create it. */
  protected writeCreate(
    type: string,
    parentType: string,
    parent: Target,
    field: string,
    data: Record<string, unknown>,
  ): Promise<WriteResult> {
    if (this.twin !== null) return this.twin.writeCreate(type, parentType, parent, field, data);
    const id = this.nextId("w");
    const parentPk = pkOf(parent);
    const many = this.spec.schema.types[parentType]?.nested[field]?.[1] ?? true;
    const temp = this.store.overlay.tempPk(type);
    const row = this.store.overlay.tempRow(type, temp, data);
    const parentKey = keyOf(parentType, parentPk);
    this.store.addPending({ kind: "create", id, key: keyOf(type, temp), row, parentKey, field, many });
    const frame = {
      type: "write",
      id,
      op: "create",
      instance_type: type,
      parent_type: parentType,
      parent_pk: parentPk,
      data,
    };
    return this.write(id, frame);
  }

  /** Optimistically hide a row and ask the server to delete it. */
  protected writeDelete(type: string, target: Target): Promise<WriteResult> {
    if (this.twin !== null) return this.twin.writeDelete(type, target);
    const pk = pkOf(target);
    const id = this.nextId("w");
    this.store.addPending({ kind: "delete", id, key: keyOf(type, pk) });
    const frame = { type: "write", id, op: "delete", instance_type: type, pk };
    return this.write(id, frame);
  }

  private write(id: string, frame: { readonly id: string; readonly type: string }): Promise<WriteResult> {
    this.publish({});
    return this.connection.request("write", frame, this.timeout()).then(
      (answer) => {
        const pk = answer.type === "write.result" ? answer.pk : "";
        const timer = setTimeout(() => this.settle(id), this.options.confirmTimeout ?? 10000);
        this.acked.set(id, { pk, timer });
        this.settleAcked();
        return { pk };
      },
      (error: unknown) => {
        if (this.store.removePending(id)) this.publish({});
        throw error;
      },
    );
  }

  private settle(id: string): void {
    const ack = this.acked.get(id);
    if (ack !== undefined) clearTimeout(ack.timer);
    this.acked.delete(id);
    if (this.store.removePending(id)) this.publish({});
  }

  /** Stop showing acknowledged writes the server's state has caught up with. */
  private settleAcked(): void {
    for (const [id, ack] of [...this.acked]) {
      const op = this.store.overlay.get(id);
      if (op === undefined || this.store.settled(op, ack.pk)) this.settle(id);
    }
  }

  private receive(frame: ServerFrame): void {
    switch (frame.type) {
      case "auth.ok":
        this.worker = "up"; // a new connection: the server says so if the worker is down
        this.store.setAnchors(frame.anchors);
        this.publish({});
        return;
      case "status":
        // Down: the state is stale until the worker is back; then the server resumes anchors.
        this.worker = frame.worker;
        this.publish({});
        return;
      case "snapshot.begin":
      case "snapshot.instances":
      case "snapshot.end":
      case "update":
      case "reset":
      case "anchor.added":
      case "anchor.removed":
        this.receiveState(frame);
        return;
      case "runtime":
        this.publish({ runtime: { ...this.snap.runtime, [frame.name]: frame.value } });
        return;
      case "notification":
        for (const listener of [...this.notificationListeners]) listener(frame.payload, frame.anchor);
        return;
      case "system":
        for (const listener of [...this.systemListeners]) listener(frame.message, frame.source);
        return;
      case "error": {
        const error = new RxError("server", frame.code, frame.message, frame.anchor);
        this.publish({ error });
        // While the worker is known to be down, the server resumes by itself when it returns.
        const waiting = frame.code === "worker_unavailable" && this.worker === "down";
        if (!waiting && (frame.code === "worker_unavailable" || frame.code === "snapshot_failed")) {
          this.connection.restart(error);
        }
        return;
      }
    }
  }

  private receiveState(frame: StateFrame): void {
    if (this.store.apply(frame)) this.settleAcked();
    const loss = this.store.takeLoss();
    // A lost message: resume the way any other loss does, reconnecting with `since` (the last
    // LSN applied), so the server sends the missing transaction again, whole.
    if (loss !== null) this.connection.restart(new RxError("connection", "lost", loss));
    // Also without a visible change: the status follows snapshots, resets and pending parts.
    this.publish({});
  }

  private publish(change: {
    error?: RxError | null;
    runtime?: Readonly<Partial<R>>;
  }): void {
    const prev = this.snap;
    const loaded = this.store.loaded();
    const open: Status = this.worker === "down" ? "stale" : loaded ? "live" : "loading";
    let status: Status = this.conn === "open" ? open : this.conn;
    if (status === "live") this.why = null;
    // A new attempt after a drop is still the same recovery: it stays "reconnecting" (and says
    // why) until the state is live again, or the server says the worker is down.
    if (this.why !== null && (status === "connecting" || status === "loading")) status = "reconnecting";
    const reason = status === "stale" ? "worker_down" : status === "live" ? null : (this.why?.code ?? null);
    const next: ChannelSnapshot<S, R> = {
      state: this.store.state() as S,
      status,
      reason,
      error: change.error === undefined ? prev.error : change.error,
      runtime: change.runtime ?? prev.runtime,
    };
    if (
      next.state === prev.state &&
      next.status === prev.status &&
      next.reason === prev.reason &&
      next.error === prev.error &&
      next.runtime === prev.runtime
    ) {
      return;
    }
    this.snap = next;
    for (const listener of [...this.listeners]) listener();
  }

  private timeout(): number {
    return this.options.requestTimeout ?? 15000;
  }

  private nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}${this.counter}`;
  }
}

/** Equal keys with identical values, or (down to `depth` levels) plain objects equal so. */
function shallowEqual(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (depth === 0 || !isPlain(a) || !isPlain(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => key in b && shallowEqual(a[key], b[key], depth - 1));
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function pkOf(target: Target): Pk {
  return typeof target === "object" ? target._pk : target;
}

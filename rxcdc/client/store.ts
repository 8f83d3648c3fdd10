// rxcdc client runtime: every anchor of a channel, fed by state frames, with optimistic writes.
import { AnchorData, keyOf, type Key } from "./anchor";
import { Overlay, type PendingOp } from "./pending";
import type { FlatInstance, Pk, Schema, StateFrame, Tombstone, UpdateFrame } from "./types";

type Loading =
  | { readonly mode: "full"; readonly data: AnchorData }
  | { readonly mode: "delta"; readonly instances: FlatInstance[]; readonly tombstones: Tombstone[] };

/** What one transaction changes in one anchor. */
interface Change {
  readonly instances: readonly FlatInstance[];
  readonly tombstones: readonly Tombstone[];
}

/** The parts of one transaction received so far (one transaction per anchor at a time). */
interface Parts {
  readonly lsn: number;
  /** The part number due next: parts count 0, 1, 2, ... per anchor. */
  next: number;
  readonly instances: FlatInstance[];
  readonly tombstones: Tombstone[];
}

/**
 * The normalized state of one channel: per anchor, LSN-guarded flat rows and their nested tree.
 *
 * `apply` takes one state frame and says whether the visible state changed: one transaction
 * (an `update`, all its parts, or a whole snapshot) is one transition. A part that skips a number
 * is a lost message: `takeLoss` reports it, and the owner resumes (reconnects with `since`).
 */
export class Store {
  readonly schema: Schema;
  readonly overlay: Overlay;
  private order: Pk[] = [];
  private readonly anchors = new Map<string, AnchorData>();
  private readonly loading = new Map<string, Loading>();
  private readonly parts = new Map<string, Parts>();
  private readonly stale = new Set<string>();
  private readonly awaiting = new Set<string>();
  /** Anchors that lost a message: their updates wait for the resume (their next snapshot). */
  private readonly lost = new Set<string>();
  private loss: string | null = null;
  private view: unknown = undefined;

  constructor(schema: Schema) {
    this.schema = schema;
    this.overlay = new Overlay(schema);
  }

  /** The anchors the server shows (`auth.ok`): others are forgotten. */
  setAnchors(pks: readonly Pk[]): boolean {
    this.order = [...pks];
    const keep = new Set(pks.map(String));
    this.awaiting.clear();
    for (const id of keep) this.awaiting.add(id);
    let changed = false;
    for (const id of [...this.anchors.keys()]) {
      if (!keep.has(id)) changed = this.forget(id) || changed;
    }
    return this.changed(changed);
  }

  /** Apply one state frame; true when the visible state changed. */
  apply(frame: StateFrame): boolean {
    const id = String(frame.anchor);
    switch (frame.type) {
      case "snapshot.begin": {
        const held = this.anchors.has(id) && !this.stale.has(id);
        this.loading.set(
          id,
          frame.mode === "delta" && held
            ? { mode: "delta", instances: [], tombstones: [] }
            : { mode: "full", data: new AnchorData(this.schema, frame.anchor, this.overlay) },
        );
        if (!this.order.some((pk) => String(pk) === id)) this.order.push(frame.anchor);
        this.awaiting.add(id);
        return false;
      }
      case "snapshot.instances": {
        const loading = this.loading.get(id);
        if (loading?.mode === "full") loading.data.apply(frame.instances, frame.tombstones);
        else if (loading?.mode === "delta") {
          loading.instances.push(...frame.instances);
          loading.tombstones.push(...(frame.tombstones ?? []));
        }
        return false;
      }
      case "snapshot.end":
        return this.changed(this.endSnapshot(id, frame.lsn));
      case "update":
        return this.changed(this.update(id, frame));
      case "reset":
        // The old state stays visible until the new snapshot replaces it (no empty flash).
        this.stale.add(id);
        this.awaiting.add(id);
        this.parts.delete(id);
        return false;
      case "anchor.added":
        if (!this.order.some((pk) => String(pk) === id)) this.order.push(frame.anchor);
        this.awaiting.add(id);
        return false;
      case "anchor.removed":
        this.order = this.order.filter((pk) => String(pk) !== id);
        return this.changed(this.forget(id));
    }
  }

  private endSnapshot(id: string, lsn: number): boolean {
    const loading = this.loading.get(id);
    if (loading === undefined) return false;
    this.loading.delete(id);
    this.stale.delete(id);
    this.awaiting.delete(id);
    this.lost.delete(id);
    // Parts of a transaction the snapshot contains: the rest of it will not be sent.
    if ((this.parts.get(id)?.lsn ?? Infinity) <= lsn) this.parts.delete(id);
    if (loading.mode === "full") {
      loading.data.lsn = lsn;
      loading.data.floor = lsn;
      for (const op of this.overlay.all()) {
        for (const key of affectedKeys(op)) loading.data.touch(key);
      }
      this.anchors.set(id, loading.data);
      return true;
    }
    const data = this.anchors.get(id);
    if (data === undefined) return false;
    data.apply(loading.instances, loading.tombstones);
    data.lsn = Math.max(data.lsn, lsn);
    data.floor = Math.max(data.floor, lsn);
    return true; // the anchor is loaded again: a status change even when no row changed
  }

  private update(id: string, frame: UpdateFrame): boolean {
    const data = this.anchors.get(id);
    // Already contained in the last snapshot (redelivered after a worker restart): even its parts
    // are old news, so they neither wait for `last` nor count as a gap.
    if (data !== undefined && !this.stale.has(id) && frame.lsn <= data.floor) return false;
    // After a loss nothing applies until the resume: a later transaction would move `since` past
    // the lost one, and the server would never send it again.
    if (this.lost.has(id)) return false;
    const whole = this.transaction(id, frame);
    if (whole === null) return false;
    const loading = this.loading.get(id);
    if (loading?.mode === "full") {
      loading.data.apply(whole.instances, whole.tombstones);
      return false;
    }
    if (data === undefined) return false;
    const changed = data.apply(whole.instances, whole.tombstones);
    data.lsn = Math.max(data.lsn, frame.lsn);
    return changed;
  }

  /** The transaction this frame completes (the frame itself unless it is a part), or null. */
  private transaction(id: string, frame: UpdateFrame): Change | null {
    const held = this.parts.get(id);
    if (held !== undefined && frame.lsn > held.lsn) {
      // Frames arrive in commit order: the buffered transaction's other parts will not come.
      this.lose(id, `transaction ${held.lsn} stopped before its last part; ${frame.lsn} followed`);
      return null;
    }
    if (frame.part === undefined && frame.last === undefined) {
      // A redelivery (this transaction again, whole, or an older one): the buffered parts will
      // be sent again from part 0.
      this.parts.delete(id);
      return frame;
    }
    return this.collect(id, frame, held);
  }

  /** Buffer one part; the whole transaction once its `last` part arrived, else null. */
  private collect(id: string, frame: UpdateFrame, held: Parts | undefined): Parts | null {
    const number = frame.part ?? 0;
    this.parts.delete(id);
    // Part 0 starts over: after a worker restart a transaction is delivered again from its first
    // part, possibly with newer content, which must not mix with what was buffered.
    const parts = number === 0 ? emptyParts(frame.lsn) : held;
    const due = parts?.lsn === frame.lsn ? parts.next : 0; // an older transaction's: from part 0
    if (parts === undefined || number !== due) {
      // A part went missing: applying the others would show half a transaction.
      this.lose(id, `part ${number} of transaction ${frame.lsn} arrived where part ${due} was due`);
      return null;
    }
    parts.next = number + 1;
    parts.instances.push(...frame.instances);
    parts.tombstones.push(...frame.tombstones);
    if (frame.last === true) return parts;
    this.parts.set(id, parts);
    return null;
  }

  private lose(id: string, what: string): void {
    this.parts.delete(id);
    this.lost.add(id);
    this.awaiting.add(id); // not current until resumed: its next snapshot makes it live again
    this.loss ??= `anchor ${id}: ${what}`;
  }

  /** A message lost since the last call (then resume: reconnect with `since`), or null. */
  takeLoss(): string | null {
    const loss = this.loss;
    this.loss = null;
    return loss;
  }

  private forget(id: string): boolean {
    this.loading.delete(id);
    this.parts.delete(id);
    this.stale.delete(id);
    this.awaiting.delete(id);
    this.lost.delete(id);
    return this.anchors.delete(id);
  }

  /** The socket dropped: half-received snapshots and transactions are discarded. */
  interrupted(): void {
    this.loading.clear();
    this.parts.clear();
    this.loss = null; // the resume this drop causes recovers it
  }

  /** `since` for the next `auth`: the last LSN applied per loaded anchor. */
  since(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, data] of this.anchors) if (!this.stale.has(id)) out[id] = data.lsn;
    return out;
  }

  /**
   * Whether every anchor the server listed has had its snapshot since the last `auth.ok`, and no
   * transaction waits for its remaining parts (until then the state lags the server's).
   */
  loaded(): boolean {
    return this.awaiting.size === 0 && this.parts.size === 0;
  }

  /** The server's row of a type and key in any anchor (optimistic writes not applied). */
  row(type: string, pk: Pk): FlatInstance | undefined {
    const key = keyOf(type, pk);
    for (const data of this.anchors.values()) {
      const row = data.rows.get(key);
      if (row !== undefined) return row;
    }
    return undefined;
  }

  /** Whether the server's state has caught up with an acknowledged write. */
  settled(op: PendingOp, pk: Pk | undefined): boolean {
    const all = [...this.anchors.values()];
    if (op.kind === "save") return all.every((d) => (d.rows.get(op.key)?._lsn ?? Infinity) > op.baseLsn);
    if (op.kind === "delete") return all.every((d) => !d.rows.has(op.key));
    const key = pk === undefined ? undefined : keyOf(op.row._type, pk);
    return key !== undefined && all.some((d) => d.rows.has(key));
  }

  /** Show an optimistic write. */
  addPending(op: PendingOp): void {
    this.retouch(this.overlay.add(op));
  }

  /** Stop showing an optimistic write (confirmed or rolled back). */
  removePending(id: string): boolean {
    return this.retouch(this.overlay.remove(id));
  }

  private retouch(keys: readonly Key[]): boolean {
    let changed = false;
    for (const data of this.anchors.values()) {
      for (const key of keys) changed = data.touch(key) || changed;
    }
    for (const loading of this.loading.values()) {
      if (loading.mode === "full") for (const key of keys) loading.data.touch(key);
    }
    return this.changed(changed);
  }

  private changed(changed: boolean): boolean {
    if (changed) this.view = undefined;
    return changed;
  }

  /** Single channels: the anchor's nested state or null; list channels: loaded anchors, in order. */
  state(): unknown {
    if (this.view !== undefined) return this.view;
    if (!this.schema.many) {
      const first = this.order[0];
      const data = first === undefined ? undefined : this.anchors.get(String(first));
      this.view = data?.state() ?? null;
      return this.view;
    }
    const roots: unknown[] = [];
    for (const pk of this.order) {
      const root = this.anchors.get(String(pk))?.state();
      if (root) roots.push(root);
    }
    this.view = Object.freeze(roots);
    return this.view;
  }
}

function emptyParts(lsn: number): Parts {
  return { lsn, next: 0, instances: [], tombstones: [] };
}

function affectedKeys(op: PendingOp): Key[] {
  return op.kind === "create" ? [op.key, op.parentKey] : [op.key];
}

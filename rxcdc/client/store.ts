// rxcdc client runtime: every anchor of a channel, fed by state frames, with optimistic writes.
import { AnchorData, keyOf, type Key } from "./anchor";
import { Overlay, type PendingOp } from "./pending";
import type { FlatInstance, Pk, Schema, StateFrame, Tombstone } from "./types";

type Loading =
  | { readonly mode: "full"; readonly data: AnchorData }
  | { readonly mode: "delta"; readonly instances: FlatInstance[]; readonly tombstones: Tombstone[] };

interface Parts {
  instances: FlatInstance[];
  tombstones: Tombstone[];
}

/**
 * The normalized state of one channel: per anchor, LSN-guarded flat rows and their nested tree.
 *
 * `apply` takes one state frame and says whether the visible state changed: one transaction
 * (an `update`, all its parts, or a whole snapshot) is one transition.
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

  private update(id: string, frame: Extract<StateFrame, { type: "update" }>): boolean {
    let instances = frame.instances;
    let tombstones = frame.tombstones;
    if (frame.part !== undefined || frame.last !== undefined) {
      const parts = this.parts.get(id) ?? { instances: [], tombstones: [] };
      parts.instances.push(...frame.instances);
      parts.tombstones.push(...frame.tombstones);
      if (frame.last !== true) {
        this.parts.set(id, parts);
        return false;
      }
      this.parts.delete(id);
      ({ instances, tombstones } = parts);
    }
    const loading = this.loading.get(id);
    if (loading?.mode === "full") {
      loading.data.apply(instances, tombstones);
      return false;
    }
    const data = this.anchors.get(id);
    if (data === undefined) return false;
    const changed = data.apply(instances, tombstones);
    data.lsn = Math.max(data.lsn, frame.lsn);
    return changed;
  }

  private forget(id: string): boolean {
    this.loading.delete(id);
    this.parts.delete(id);
    this.stale.delete(id);
    this.awaiting.delete(id);
    return this.anchors.delete(id);
  }

  /** The socket dropped: half-received snapshots and transactions are discarded. */
  interrupted(): void {
    this.loading.clear();
    this.parts.clear();
  }

  /** `since` for the next `auth`: the last LSN applied per loaded anchor. */
  since(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, data] of this.anchors) if (!this.stale.has(id)) out[id] = data.lsn;
    return out;
  }

  /** Whether every anchor the server listed has had its snapshot since the last `auth.ok`. */
  loaded(): boolean {
    return this.awaiting.size === 0;
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

function affectedKeys(op: PendingOp): Key[] {
  return op.kind === "create" ? [op.key, op.parentKey] : [op.key];
}

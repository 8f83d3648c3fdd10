// rxcdc client runtime: one anchor's normalized rows and the nested tree built from them.
import type { FlatInstance, Pk, Schema, Tombstone } from "./types";

/** `"<type>\0<pk>"`: identifies a row within an anchor. */
export type Key = string;

/**
 * The key of a row. Exact for every integer: `String()` of a `bigint` is all its digits, and a
 * safe integer reads the same as a number or a `bigint` (`5` and `5n` are one row).
 */
export function keyOf(type: string, pk: Pk): Key {
  return type + "\u0000" + String(pk);
}

/** Computes the row a user sees from the server's row (optimistic writes live there). */
export interface RowView {
  effective(key: Key, row: FlatInstance | undefined): FlatInstance | undefined;
}

type Node = { readonly [field: string]: unknown };

/**
 * The rows of one anchor, LSN-guarded per `(_type, _pk)`, and its nested state.
 *
 * Every row keeps the keys it references; a change marks the row and, through the reverse
 * index, its ancestors dirty. Rebuilding reuses every clean subtree (structural sharing).
 */
export class AnchorData {
  readonly pk: Pk;
  /** The LSN of the last snapshot or update applied (what `since` resumes from). */
  lsn = 0;
  /**
   * The LSN of the last snapshot: the rows were exactly the database's as of at least this LSN,
   * so any version at or below it that arrives later (a replayed transaction) is old news.
   */
  floor = -Infinity;
  readonly rows = new Map<Key, FlatInstance>();
  private readonly schema: Schema;
  private readonly view: RowView;
  private readonly seen = new Map<Key, number>();
  private readonly shown = new Map<Key, FlatInstance>();
  private readonly outgoing = new Map<Key, readonly Key[]>();
  private readonly parents = new Map<Key, Set<Key>>();
  private readonly nodes = new Map<Key, Node>();
  private readonly dirty = new Set<Key>();
  private root: Node | null = null;

  constructor(schema: Schema, pk: Pk, view: RowView) {
    this.schema = schema;
    this.pk = pk;
    this.view = view;
  }

  /** Apply instances and tombstones; anything older than what was applied is ignored. */
  apply(instances: readonly FlatInstance[], tombstones: readonly Tombstone[] = []): boolean {
    let changed = false;
    for (const tomb of tombstones) {
      const key = this.admit(tomb);
      if (key !== null && this.rows.delete(key)) changed = this.touch(key) || changed;
    }
    for (const inst of instances) {
      const key = this.admit(inst);
      if (key === null || this.schema.types[inst._type] === undefined) continue;
      this.rows.set(key, inst);
      changed = this.touch(key) || changed;
    }
    return changed;
  }

  /** Record the LSN of a version; null when an equal or newer one was already applied. */
  private admit(item: Tombstone): Key | null {
    const key = keyOf(item._type, item._pk);
    if (Math.max(this.seen.get(key) ?? -Infinity, this.floor) >= item._lsn) return null;
    this.seen.set(key, item._lsn);
    return key;
  }

  /** Recompute what a row shows (server row + pending writes); true when that changed. */
  touch(key: Key): boolean {
    const before = this.shown.get(key);
    const after = this.view.effective(key, this.rows.get(key));
    if (before === after) return false;
    if (after === undefined) this.shown.delete(key);
    else this.shown.set(key, after);
    const old = this.outgoing.get(key) ?? [];
    const now = after === undefined ? [] : this.refs(after);
    for (const child of old) this.parents.get(child)?.delete(key);
    for (const child of now) {
      let set = this.parents.get(child);
      if (set === undefined) this.parents.set(child, (set = new Set()));
      set.add(key);
    }
    if (now.length > 0) this.outgoing.set(key, now);
    else this.outgoing.delete(key);
    this.dirty.add(key);
    return true;
  }

  private refs(row: FlatInstance): Key[] {
    const out: Key[] = [];
    const nested = this.schema.types[row._type]?.nested ?? {};
    for (const [field, [child, many]] of Object.entries(nested)) {
      const value = row[field];
      if (many && Array.isArray(value)) {
        for (const id of value) if (isPk(id)) out.push(keyOf(child, id));
      } else if (isPk(value)) {
        out.push(keyOf(child, value));
      }
    }
    return out;
  }

  /** The nested state of this anchor (null while its row is missing). */
  state(): Node | null {
    if (this.dirty.size === 0) return this.root;
    const stack = [...this.dirty];
    for (let key = stack.pop(); key !== undefined; key = stack.pop()) {
      for (const parent of this.parents.get(key) ?? []) {
        if (!this.dirty.has(parent)) {
          this.dirty.add(parent);
          stack.push(parent);
        }
      }
    }
    const previous = new Map<Key, Node>();
    for (const key of this.dirty) {
      const node = this.nodes.get(key);
      if (node !== undefined) previous.set(key, node);
      this.nodes.delete(key);
    }
    this.dirty.clear();
    this.root = this.node(keyOf(this.schema.root, this.pk), previous, new Set()) ?? null;
    return this.root;
  }

  private node(key: Key, previous: Map<Key, Node>, path: Set<Key>): Node | undefined {
    const built = this.nodes.get(key);
    if (built !== undefined) return built;
    const row = this.shown.get(key);
    if (row === undefined || path.has(key)) return undefined;
    path.add(key);
    const prev = previous.get(key);
    const nested = this.schema.types[row._type]?.nested ?? {};
    const out: Record<string, unknown> = {};
    for (const field of Object.keys(row)) {
      const link = nested[field];
      const value = row[field];
      if (link === undefined) {
        out[field] = value;
      } else if (link[1]) {
        const items: Node[] = [];
        for (const id of Array.isArray(value) ? value : []) {
          const child = isPk(id) ? this.node(keyOf(link[0], id), previous, path) : undefined;
          if (child !== undefined) items.push(child);
        }
        const old = prev?.[field];
        out[field] = Array.isArray(old) && sameItems(old, items) ? old : Object.freeze(items);
      } else {
        out[field] = isPk(value) ? (this.node(keyOf(link[0], value), previous, path) ?? null) : null;
      }
    }
    path.delete(key);
    const node = prev !== undefined && sameNode(prev, out) ? prev : Object.freeze(out);
    this.nodes.set(key, node);
    return node;
  }
}

function isPk(value: unknown): value is Pk {
  return typeof value === "number" || typeof value === "bigint" || typeof value === "string";
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameNode(a: Node, b: Node): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => k in b && a[k] === b[k]);
}

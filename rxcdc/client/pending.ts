// rxcdc client runtime: optimistic writes, shown on top of the server's rows until settled.
import type { Key, RowView } from "./anchor";
import type { FlatInstance, Pk, Schema } from "./types";

export type PendingOp =
  | {
      readonly kind: "save";
      readonly id: string;
      readonly key: Key;
      readonly data: Readonly<Record<string, unknown>>;
      /** The server version the edit was made on: a newer one supersedes the edit. */
      readonly baseLsn: number;
    }
  | {
      readonly kind: "create";
      readonly id: string;
      readonly key: Key;
      readonly row: FlatInstance;
      readonly parentKey: Key;
      readonly field: string;
      readonly many: boolean;
    }
  | { readonly kind: "delete"; readonly id: string; readonly key: Key };

/** Pending writes by id, with the row view that applies them. */
export class Overlay implements RowView {
  private readonly ops = new Map<string, PendingOp>();
  private readonly byKey = new Map<Key, PendingOp[]>();
  private readonly schema: Schema;
  private counter = 0;

  constructor(schema: Schema) {
    this.schema = schema;
  }

  get size(): number {
    return this.ops.size;
  }

  get(id: string): PendingOp | undefined {
    return this.ops.get(id);
  }

  all(): PendingOp[] {
    return [...this.ops.values()];
  }

  /** Register an op; returns the keys whose view changes. */
  add(op: PendingOp): Key[] {
    this.ops.set(op.id, op);
    const keys = affected(op);
    for (const key of keys) {
      const list = this.byKey.get(key) ?? [];
      list.push(op);
      this.byKey.set(key, list);
    }
    return keys;
  }

  /** Forget an op (confirmed or refused); returns the keys whose view changes. */
  remove(id: string): Key[] {
    const op = this.ops.get(id);
    if (op === undefined) return [];
    this.ops.delete(id);
    const keys = affected(op);
    for (const key of keys) {
      const list = (this.byKey.get(key) ?? []).filter((o) => o !== op);
      if (list.length > 0) this.byKey.set(key, list);
      else this.byKey.delete(key);
    }
    return keys;
  }

  /** A temporary key for an optimistic create, shaped like the type's real keys. */
  tempPk(type: string): Pk {
    this.counter += 1;
    return this.schema.types[type]?.pkKind === "string" ? `~pending-${this.counter}` : -this.counter;
  }

  /** The temporary row shown for a create: the data given, empty relations, the temp key. */
  tempRow(type: string, pk: Pk, data: Readonly<Record<string, unknown>>): FlatInstance {
    const spec = this.schema.types[type];
    const row: Record<string, unknown> = { ...data };
    for (const [field, [, many]] of Object.entries(spec?.nested ?? {})) {
      row[field] = many ? [] : null;
    }
    if (spec?.pk) row[spec.pk] = pk;
    return { ...row, _type: type, _pk: pk, _lsn: 0, _pending: "create" };
  }

  effective(key: Key, row: FlatInstance | undefined): FlatInstance | undefined {
    const ops = this.byKey.get(key);
    if (ops === undefined) return row;
    let out = row;
    for (const op of ops) {
      if (op.kind === "create" && op.key === key && out === undefined) out = op.row;
    }
    for (const op of ops) {
      if (out === undefined) return undefined;
      if (op.kind === "delete") {
        return undefined;
      } else if (op.kind === "save" && out._lsn <= op.baseLsn) {
        out = { ...out, ...op.data, _pending: "save" };
      } else if (op.kind === "create" && op.parentKey === key) {
        const value = out[op.field];
        const ids = Array.isArray(value) ? (value as unknown[]) : [];
        out = { ...out, [op.field]: op.many ? [...ids, op.row._pk] : op.row._pk };
      }
    }
    return out;
  }
}

function affected(op: PendingOp): Key[] {
  return op.kind === "create" ? [op.key, op.parentKey] : [op.key];
}

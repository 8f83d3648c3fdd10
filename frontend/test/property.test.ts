// Property: random server transactions for a three-level state (project → tasks → assignee and
// labels) give, after every transaction, exactly the nested structure the serializer produces.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Store } from "../../rxcdc/client/store";
import type { FlatInstance, Schema, ServerFrame, StateFrame, Tombstone } from "../../rxcdc/client/types";

const PROJECT = "app.ProjectSerializer";
const TASK = "app.TaskSerializer";
const USER = "app.UserSerializer";
const LABEL = "app.LabelSerializer";
const schema: Schema = {
  root: PROJECT,
  many: false,
  types: {
    [PROJECT]: { pk: "id", pkKind: "number", nested: { tasks: [TASK, true] } },
    [TASK]: { pk: "id", pkKind: "number", nested: { assignee: [USER, false], labels: [LABEL, true] } },
    [USER]: { pk: "id", pkKind: "string", nested: {} },
    [LABEL]: { pk: "id", pkKind: "number", nested: {} },
  },
};

interface Task { id: number; project: number; title: string; assignee: string | null; labels: number[] }

/** The database and the server side of one anchor (project 1), as the worker keeps it. */
class Server {
  projects = new Map<number, string>([[1, "p1"], [2, "p2"]]);
  tasks = new Map<number, Task>();
  users = new Map<string, string>([["u1", "ann"], ["u2", "bob"], ["u3", "cy"]]);
  labels = new Map<number, string>([[1, "red"], [2, "green"], [3, "blue"]]);
  lsn = 100;
  nextTask = 1;
  /** What the anchor holds: key → [serialized json, lsn written, present]. */
  docs = new Map<string, { json: string; inst: FlatInstance | null; lsn: number }>();

  constructor() {
    this.publish([]);
  }

  /** Flat instances of the anchor's members, serialized from the database. */
  members(): Map<string, FlatInstance> {
    const out = new Map<string, FlatInstance>();
    const put = (i: FlatInstance) => out.set(`${i._type}:${i._pk}`, i);
    const tasks = [...this.tasks.values()].filter((t) => t.project === 1).sort((a, b) => a.id - b.id);
    put({ _type: PROJECT, _pk: 1, _lsn: 0, id: 1, name: this.projects.get(1), tasks: tasks.map((t) => t.id) });
    for (const t of tasks) {
      const labels = [...t.labels].sort((a, b) => a - b);
      put({ _type: TASK, _pk: t.id, _lsn: 0, id: t.id, title: t.title, assignee: t.assignee, labels });
      if (t.assignee !== null) put({ _type: USER, _pk: t.assignee, _lsn: 0, id: t.assignee, name: this.users.get(t.assignee) });
      for (const l of labels) put({ _type: LABEL, _pk: l, _lsn: 0, id: l, name: this.labels.get(l) });
    }
    return out;
  }

  /** The nested structure the anchor serializer renders (what the client must show). */
  expected(): unknown {
    const tasks = [...this.tasks.values()].filter((t) => t.project === 1).sort((a, b) => a.id - b.id);
    return {
      id: 1,
      name: this.projects.get(1),
      tasks: tasks.map((t) => ({
        id: t.id,
        title: t.title,
        assignee: t.assignee === null ? null : { id: t.assignee, name: this.users.get(t.assignee) },
        labels: [...t.labels].sort((a, b) => a - b).map((l) => ({ id: l, name: this.labels.get(l) })),
      })),
    };
  }

  /** Commit: the update frame for the anchor (changed or joined rows, tombstones of leavers). */
  publish(touched: string[]): { lsn: number; instances: FlatInstance[]; tombstones: Tombstone[] } {
    this.lsn += 10;
    const lsn = this.lsn;
    const instances: FlatInstance[] = [];
    const tombstones: Tombstone[] = [];
    const now = this.members();
    for (const [key, row] of now) {
      const json = JSON.stringify(row);
      const doc = this.docs.get(key);
      // rows the transaction touched are re-sent even when unchanged (the worker re-reads them)
      if (doc?.inst && doc.json === json && !touched.includes(key)) continue;
      const stamped = { ...row, _lsn: lsn };
      this.docs.set(key, { json, inst: stamped, lsn });
      instances.push(stamped);
    }
    for (const [key, doc] of this.docs) {
      if (doc.inst !== null && !now.has(key)) {
        const tomb = { _type: doc.inst._type, _pk: doc.inst._pk, _lsn: lsn };
        this.docs.set(key, { json: "", inst: null, lsn });
        tombstones.push(tomb);
      }
    }
    return { lsn, instances, tombstones };
  }

  snapshot(since: number | undefined): ServerFrame[] {
    const delta = since !== undefined;
    const instances: FlatInstance[] = [];
    const tombstones: Tombstone[] = [];
    for (const doc of this.docs.values()) {
      if (delta && doc.lsn <= since) continue;
      if (doc.inst !== null) instances.push(doc.inst);
      else if (delta) tombstones.push(...this.tombOf(doc));
    }
    return [
      { type: "snapshot.begin", anchor: 1, lsn: this.lsn, mode: delta ? "delta" : "full" },
      { type: "snapshot.instances", anchor: 1, instances, tombstones },
      { type: "snapshot.end", anchor: 1, lsn: this.lsn },
    ];
  }

  private tombOf(doc: { json: string; lsn: number }): Tombstone[] {
    for (const [key, d] of this.docs) {
      if (d === doc) {
        const [type, pk] = key.split(":") as [string, string];
        return [{ _type: type, _pk: type === USER ? pk : Number(pk), _lsn: doc.lsn }];
      }
    }
    return [];
  }
}

type Op =
  | { op: "insert"; project: number; title: string; user: number }
  | { op: "title"; task: number; title: string }
  | { op: "move"; task: number; project: number }
  | { op: "assign"; task: number; user: number }
  | { op: "delete"; task: number }
  | { op: "renameUser"; user: number; name: string }
  | { op: "deleteUser"; user: number }
  | { op: "label"; task: number; label: number }
  | { op: "renameLabel"; label: number; name: string }
  | { op: "renameProject"; name: string };

type Step =
  | { kind: "txn"; ops: Op[]; parts: number; replay: number }
  | { kind: "reconnect" }
  | { kind: "reset" };

const small = fc.integer({ min: 0, max: 7 });
const word = fc.constantFrom("a", "b", "c", "d");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("insert" as const), project: fc.constantFrom(1, 1, 2), title: word, user: small }),
  fc.record({ op: fc.constant("title" as const), task: small, title: word }),
  fc.record({ op: fc.constant("move" as const), task: small, project: fc.constantFrom(1, 2) }),
  fc.record({ op: fc.constant("assign" as const), task: small, user: small }),
  fc.record({ op: fc.constant("delete" as const), task: small }),
  fc.record({ op: fc.constant("renameUser" as const), user: small, name: word }),
  fc.record({ op: fc.constant("deleteUser" as const), user: small }),
  fc.record({ op: fc.constant("label" as const), task: small, label: small }),
  fc.record({ op: fc.constant("renameLabel" as const), label: small, name: word }),
  fc.record({ op: fc.constant("renameProject" as const), name: word }),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("txn" as const), ops: fc.array(opArb, { minLength: 1, maxLength: 4 }), parts: fc.integer({ min: 1, max: 3 }), replay: fc.integer({ min: -1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reconnect" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
);

function pick<T>(items: T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[index % items.length];
}

/** Apply one op to the database; returns the keys of rows it wrote. */
function run(server: Server, op: Op): string[] {
  const tasks = [...server.tasks.values()];
  const users = [...server.users.keys()];
  const user = (i: number) => (i >= users.length ? null : (users[i] ?? null)); // past the end: null FK
  switch (op.op) {
    case "insert": {
      const id = server.nextTask++;
      server.tasks.set(id, { id, project: op.project, title: op.title, assignee: user(op.user), labels: [] });
      return [`${TASK}:${id}`];
    }
    case "renameUser": {
      const u = pick(users, op.user);
      if (u !== undefined) server.users.set(u, op.name + u);
      return u === undefined ? [] : [`${USER}:${u}`];
    }
    case "deleteUser": {
      const u = pick(users, op.user);
      if (u === undefined) return [];
      server.users.delete(u);
      const touched = [];
      for (const t of server.tasks.values()) {
        if (t.assignee === u) (t.assignee = null), touched.push(`${TASK}:${t.id}`); // SET_NULL
      }
      return touched;
    }
    case "renameLabel":
      server.labels.set(1 + (op.label % 3), op.name);
      return [`${LABEL}:${1 + (op.label % 3)}`];
    case "renameProject":
      server.projects.set(1, op.name);
      return [`${PROJECT}:1`];
  }
  const task = pick(tasks, op.task);
  if (task === undefined) return [];
  const key = `${TASK}:${task.id}`;
  switch (op.op) {
    case "title":
      task.title = op.title;
      break;
    case "move":
      task.project = op.project;
      break;
    case "assign":
      task.assignee = user(op.user);
      break;
    case "delete":
      server.tasks.delete(task.id);
      break;
    case "label": {
      const label = 1 + (op.label % 3);
      task.labels = task.labels.includes(label) ? task.labels.filter((l) => l !== label) : [...task.labels, label];
      break;
    }
  }
  return [key];
}

function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith("_")) out[k] = plain(v);
  return out;
}

function split<T>(items: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => out[i % parts]!.push(item));
  return out;
}

describe("Store: property", () => {
  it("matches the serializer's nested structure after every transaction", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), (steps) => {
        const server = new Server();
        const store = new Store(schema);
        const apply = (frames: ServerFrame[]) => frames.map((f) => store.apply(f as StateFrame));
        const sent: ServerFrame[] = [];
        store.setAnchors([1]);
        apply(server.snapshot(undefined));
        expect(plain(store.state())).toEqual(server.expected());
        for (const step of steps) {
          if (step.kind === "reconnect") {
            store.interrupted();
            store.setAnchors([1]);
            apply(server.snapshot(store.since()["1"]));
          } else if (step.kind === "reset") {
            apply([{ type: "reset", anchor: 1, lsn: server.lsn }, ...server.snapshot(undefined)]);
          } else {
            const touched = step.ops.flatMap((op) => run(server, op));
            const { lsn, instances, tombstones } = server.publish(touched);
            const frames: ServerFrame[] =
              step.parts === 1
                ? [{ type: "update", anchor: 1, lsn, instances, tombstones }]
                : split(instances, step.parts).map((chunk, i) => ({
                    type: "update" as const,
                    anchor: 1,
                    lsn,
                    part: i,
                    ...(i === step.parts - 1 ? { last: true } : {}),
                    instances: chunk,
                    tombstones: i === step.parts - 1 ? tombstones : [],
                  }));
            const before = store.state();
            const changed = apply(frames);
            // one transition per transaction: only the last part may change the state
            expect(changed.slice(0, -1).every((c) => !c)).toBe(true);
            if (!changed.at(-1)) expect(store.state()).toBe(before);
            sent.push(...frames.filter((f) => f.type === "update" && f.part === undefined));
            // at-least-once delivery: an earlier transaction arrives again and changes nothing
            const again = step.replay >= 0 ? sent[step.replay % sent.length] : undefined;
            if (again !== undefined) {
              const state = store.state();
              expect(store.apply(again as StateFrame)).toBe(false);
              expect(store.state()).toBe(state);
            }
          }
          expect(plain(store.state())).toEqual(server.expected());
        }
      }),
      { numRuns: 300, seed: 20261123 },
    );
  });
});

// One table: the published (immutable) state, the writer used while applying an entry, and the
// read handle that views and transactions expose (`view.tasks.byService(id)`).
import { ShoalError } from '@shoal/api';
import type { Node, NodeAvailability, NodeRole, Task, TaskState } from '@shoal/api';
import { PTree, type Edit, type TreeBuilder } from './btree.js';
import { SEP, indexPos, nameKey, numKey, type IndexDef, type Kind, type Stored, type TableSchema } from './schema.js';

/** Published state of one table: objects by id plus one sorted set per secondary index. */
export class TableState<T extends Stored = Stored> {
  constructor(
    readonly schema: TableSchema,
    readonly primary: PTree<T>,
    /**
     * per index def: `key SEP id` -> id. An update whose index keys did not change (a task's status
     * report: most writes) touches only the primary tree; an index query looks each id up there.
     */
    readonly indexes: readonly PTree<string>[],
  ) {}

  static empty(schema: TableSchema): TableState {
    return new TableState(
      schema,
      PTree.empty(),
      schema.indexes.map(() => PTree.empty<string>()),
    );
  }
}

function defs<T>(schema: TableSchema): readonly IndexDef<T>[] {
  return schema.indexes as unknown as readonly IndexDef<T>[];
}

/** Error for a unique index entry taken by another object. */
export function nameTaken(kind: Kind, def: IndexDef<unknown>, key: string, otherId: string): ShoalError {
  return new ShoalError('AlreadyExists', `${kind} ${def.name} "${key}" is already used by ${kind} ${otherId}`);
}

/** Applies writes to a table under one edit token; `finish()` publishes a new TableState. */
export class TableWriter<T extends Stored> {
  private readonly primary: TreeBuilder<T>;
  private readonly idx: TreeBuilder<string>[];
  private readonly defs: readonly IndexDef<T>[];

  constructor(
    private readonly state: TableState<T>,
    edit: Edit,
  ) {
    this.primary = state.primary.builder(edit);
    this.idx = state.indexes.map((t) => t.builder(edit));
    this.defs = defs<T>(state.schema);
  }

  get(id: string): T | undefined {
    return this.primary.get(id);
  }

  /** Inserts or replaces obj (old is the object it replaces). Throws AlreadyExists on a unique clash. */
  put(obj: T, old: T | undefined): void {
    const id = obj.id;
    const defs = this.defs;
    for (let i = 0; i < defs.length; i++) {
      const def = defs[i]!;
      const k = def.key(obj);
      const ok = old ? def.key(old) : undefined;
      if (k === ok) continue; // same entry, and it holds the id: nothing to write
      const tree = this.idx[i]!;
      if (k !== undefined && def.unique) {
        const other = tree.firstWithPrefix(k + SEP);
        if (other !== undefined && other !== id) throw nameTaken(this.state.schema.kind, def as IndexDef<unknown>, k, other);
      }
      if (ok !== undefined) tree.delete(ok + SEP + id);
      if (k !== undefined) tree.set(k + SEP + id, id);
    }
    this.primary.set(id, obj);
  }

  remove(old: T): void {
    const id = old.id;
    const defs = this.defs;
    for (let i = 0; i < defs.length; i++) {
      const k = defs[i]!.key(old);
      if (k !== undefined) this.idx[i]!.delete(k + SEP + id);
    }
    this.primary.delete(id);
  }

  finish(): TableState<T> {
    return new TableState(
      this.state.schema,
      this.primary.finish(),
      this.idx.map((b) => b.finish()),
    );
  }
}

/** A transaction's own writes over a table: id -> object, or null when deleted. */
export interface Overlay<T> {
  readonly size: number;
  lookup(id: string): T | null | undefined;
  entries(): Iterable<[string, T | null]>;
}

/** Where a transaction's table handles send their writes (see tx.ts). */
export interface TxSink {
  create(kind: Kind, obj: Stored): void;
  update(kind: Kind, obj: Stored): void;
  delete(kind: Kind, target: Stored | string): void;
}

/**
 * A table handle: read queries as seen by a view (no overlay) or by a transaction (which also sees
 * its own writes), plus the writes of a transaction. Views expose it through the read-only types
 * (`ReadTable`, `ReadTasks`, `ReadNodes`); calling a write method on a view throws.
 */
export class TableReader<T extends Stored> {
  constructor(
    protected readonly state: TableState<T>,
    protected readonly overlay: Overlay<T> | null,
    private readonly sink: TxSink | null = null,
  ) {}

  /** Creates obj (its id must be set and unused; its meta is ignored). */
  create(obj: T): void {
    this.writable().create(this.kind, obj);
  }

  /** Replaces the object with obj.id; obj.meta.version must be the version read, else Conflict. */
  update(obj: T): void {
    this.writable().update(this.kind, obj);
  }

  /** Deletes by id (not version-checked) or by object (its meta.version is checked). */
  delete(target: T | string): void {
    this.writable().delete(this.kind, target);
  }

  private writable(): TxSink {
    if (!this.sink) throw new ShoalError('FailedPrecondition', `${this.kind}: write outside a transaction (views are read-only)`);
    return this.sink;
  }

  get kind(): Kind {
    return this.state.schema.kind;
  }

  get(id: string): T | undefined {
    const ov = this.overlay;
    if (ov !== null && ov.size > 0) {
      const o = ov.lookup(id);
      if (o !== undefined) return o ?? undefined;
    }
    return this.state.primary.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  count(): number {
    const ov = this.overlay;
    let n = this.state.primary.size;
    if (ov !== null) {
      for (const [id, o] of ov.entries()) {
        const inBase = this.state.primary.get(id) !== undefined;
        if (o && !inBase) n++;
        else if (!o && inBase) n--;
      }
    }
    return n;
  }

  /** All objects, by id. Cheap on a view (one walk of the table). */
  all(): T[] {
    const ov = this.overlay;
    if (ov === null || ov.size === 0) return this.state.primary.values();
    return this.scan(-1, '');
  }

  /** Visits every object by id without building an array; fn returns false to stop. */
  forEach(fn: (obj: T) => boolean | void): void {
    const ov = this.overlay;
    if (ov === null || ov.size === 0) {
      this.state.primary.forEach((_k, v) => fn(v));
      return;
    }
    for (const o of this.scan(-1, '')) if (fn(o) === false) return;
  }

  byIdPrefix(prefix: string): T[] {
    return this.scan(-1, prefix);
  }

  /** Objects whose name is exactly name (case-insensitive). */
  byName(name: string): T[] {
    return this.find('name', name);
  }

  getByName(name: string): T | undefined {
    return this.byName(name)[0];
  }

  byNamePrefix(prefix: string): T[] {
    return this.scan(indexPos(this.state.schema, 'name'), nameKey(prefix) ?? '');
  }

  /** Objects whose key in the named index is key (or starts with key when prefix is set). */
  find(index: string, key: string, opts: { prefix?: boolean } = {}): T[] {
    const k = index === 'name' ? (nameKey(key) ?? '') : key;
    return this.scan(indexPos(this.state.schema, index), opts.prefix ? k : k + SEP);
  }

  /** Objects whose entry in index pos (-1: the id) starts with prefix, in entry order. */
  protected scan(pos: number, prefix: string): T[] {
    const out: T[] = [];
    const primary = this.state.primary;
    const ov = this.overlay;
    const untouched = (o: T) => ov === null || ov.lookup(o.id) === undefined;
    if (pos < 0) {
      primary.forEachPrefix(prefix, (_k, v) => {
        if (untouched(v)) out.push(v);
      });
    } else {
      this.state.indexes[pos]!.forEachPrefix(prefix, (_k, id) => {
        const v = primary.get(id)!;
        if (untouched(v)) out.push(v);
      });
    }
    if (ov === null || ov.size === 0) return out;
    const def = pos < 0 ? undefined : (this.state.schema.indexes[pos] as unknown as IndexDef<T>);
    const entryKey = (o: T): string | undefined => {
      if (!def) return o.id;
      const k = def.key(o);
      return k === undefined ? undefined : k + SEP + o.id;
    };
    let added = false;
    for (const [, o] of ov.entries()) {
      if (!o) continue;
      const ek = entryKey(o);
      if (ek !== undefined && ek.startsWith(prefix)) {
        out.push(o);
        added = true;
      }
    }
    if (!added) return out;
    const keyed = out.map((o) => [entryKey(o)!, o] as const);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return keyed.map((e) => e[1]);
  }
}

export class TaskReader extends TableReader<Task> {
  /** Tasks of a service, by slot (served by the (service, slot) index). */
  byService(serviceId: string): Task[] {
    return this.find('serviceSlot', serviceId + SEP, { prefix: true });
  }
  bySlot(serviceId: string, slot: number): Task[] {
    return this.find('serviceSlot', serviceId + SEP + numKey(slot));
  }
  byNode(nodeId: string): Task[] {
    return this.find('node', nodeId);
  }
  byDesiredState(state: TaskState): Task[] {
    return this.find('desiredState', numKey(state));
  }
}

export class NodeReader extends TableReader<Node> {
  byRole(role: NodeRole): Node[] {
    return this.find('role', numKey(role));
  }
  byAvailability(availability: NodeAvailability): Node[] {
    return this.find('availability', numKey(availability));
  }
}

type Writes = 'create' | 'update' | 'delete';
/** Read-only table handle of a view. */
export type ReadTable<T extends Stored> = Omit<TableReader<T>, Writes>;
export type ReadTasks = Omit<TaskReader, Writes>;
export type ReadNodes = Omit<NodeReader, Writes>;

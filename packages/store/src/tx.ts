// A write transaction: reads see the state it started from plus its own writes; writes are
// checked early (existence, version, unique names) and recorded as StoreActions. Nothing changes
// in the store until the entry is committed and applied (see apply.ts), where every check is
// made again against the state at that log position.
import { ShoalError } from '@shoal/api';
import type { Cluster, Config, Network, Secret, Service } from '@shoal/api';
import type { StoreAction, StoreEntry, ActionOp } from './codec.js';
import { deepFreeze } from './freeze.js';
import { applyPatch, changedFields, encodePatch } from './patch.js';
import { KIND_POS, SCHEMAS, schemaOf, type Kind, type Stored, type StoreObjects } from './schema.js';
import { nameTaken, type NodeReader, type Overlay, type TableReader, type TaskReader, type TxSink } from './table.js';
import { TableSet, makeHandle, type StoreState } from './view.js';

interface Pending {
  readonly kind: Kind;
  readonly id: string;
  op: ActionOp;
  /** version read from the committed state (0: create, or delete by id) */
  readonly version: number;
  body: Uint8Array | undefined;
  /** patch: the fields it replaces, and the committed version it applies to */
  fields: readonly string[] | undefined;
  base: Stored | undefined;
  /** createdAt of the committed object (updates), for read copies */
  readonly createdAt: string | undefined;
  /** read copy, decoded from body on first read */
  obj: Stored | undefined;
  live: boolean;
}

class PendingTable implements Overlay<Stored> {
  readonly map = new Map<string, Pending>();
  constructor(private readonly tx: Tx) {}
  get size(): number {
    return this.map.size;
  }
  lookup(id: string): Stored | null | undefined {
    const p = this.map.get(id);
    if (!p) return undefined;
    return this.tx.readCopy(p);
  }
  *entries(): IterableIterator<[string, Stored | null]> {
    for (const [id, p] of this.map) yield [id, this.tx.readCopy(p)];
  }
}

export function conflict(kind: Kind, id: string, expected: number, current: number): ShoalError {
  return new ShoalError('Conflict', `${kind} ${id}: version ${expected} is stale, current is ${current}`);
}

export function notFound(kind: Kind, id: string): ShoalError {
  return new ShoalError('NotFound', `${kind} ${id} not found`);
}

/** Encodes obj without its meta (apply sets meta from the entry). */
function body(kind: Kind, obj: Stored): Uint8Array {
  const bare = obj.meta === undefined ? obj : { ...obj, meta: undefined };
  return schemaOf(kind).codec.encode(bare as never).finish();
}

export class Tx extends TableSet implements TxSink {
  private readonly pending: PendingTable[] = SCHEMAS.map(() => new PendingTable(this));
  private readonly order: Pending[] = [];
  private live = 0;
  private sealed = false;
  private readonly iso: string;

  constructor(
    base: StoreState,
    /** Milliseconds since the epoch; becomes createdAt/updatedAt of what this transaction writes. */
    readonly timestamp: number,
    private readonly idGen: (() => string) | undefined,
  ) {
    super(base);
    this.iso = new Date(timestamp).toISOString();
  }

  /** Index of the state this transaction reads from. */
  get baseIndex(): number {
    return this.base.index;
  }

  /** Number of objects this transaction changes. */
  get changes(): number {
    return this.live;
  }

  /** A new object id from the generator injected into the store. */
  newId(): string {
    if (!this.idGen) throw new ShoalError('FailedPrecondition', 'store has no id generator (pass newId in StoreOptions)');
    return this.idGen();
  }

  protected make(pos: number): TableReader<Stored> {
    return makeHandle(this.base.tables[pos]!, this.pending[pos]!, this);
  }

  table<K extends Kind>(kind: K): TableReader<StoreObjects[K]> {
    return this.handle(KIND_POS[kind]) as unknown as TableReader<StoreObjects[K]>;
  }
  get clusters(): TableReader<Cluster> {
    return this.table('cluster');
  }
  get nodes(): NodeReader {
    return this.handle(KIND_POS.node) as unknown as NodeReader;
  }
  get services(): TableReader<Service> {
    return this.table('service');
  }
  get tasks(): TaskReader {
    return this.handle(KIND_POS.task) as unknown as TaskReader;
  }
  get networks(): TableReader<Network> {
    return this.table('network');
  }
  get secrets(): TableReader<Secret> {
    return this.table('secret');
  }
  get configs(): TableReader<Config> {
    return this.table('config');
  }

  /** @internal no more writes: the entry has been taken */
  seal(): void {
    this.sealed = true;
  }

  private open(kind: Kind): void {
    if (this.sealed) throw new ShoalError('FailedPrecondition', `${kind}: write after the transaction ended`);
  }

  /** @internal the object a pending write shows to reads in this transaction (null: deleted). */
  readCopy(p: Pending): Stored | null {
    if (p.op === 'delete') return null;
    if (p.obj) return p.obj;
    const o = p.op === 'patch' ? applyPatch(p.kind, p.base!, p.fields!, p.body!) : (schemaOf(p.kind).codec.decode(p.body!) as Stored);
    o.meta = { version: p.version, createdAt: p.createdAt ?? this.iso, updatedAt: this.iso };
    return (p.obj = deepFreeze(o));
  }

  private checkUnique(kind: Kind, obj: Stored, current: Stored | undefined): void {
    const schema = schemaOf(kind);
    for (const def of schema.indexes) {
      if (!def.unique) continue;
      const k = def.key(obj as never);
      if (k === undefined || (current && def.key(current as never) === k)) continue;
      for (const other of this.table(kind).find(def.name, k)) {
        if (other.id !== obj.id) throw nameTaken(kind, def as never, k, other.id);
      }
    }
  }

  create(kind: Kind, obj: Stored): void {
    this.open(kind);
    if (!obj.id) throw new ShoalError('InvalidArgument', `${kind}: create without an id`, { field: 'id' });
    const map = this.pending[KIND_POS[kind]]!.map;
    const p = map.get(obj.id);
    if (p?.op === 'delete') throw new ShoalError('FailedPrecondition', `${kind} ${obj.id}: re-created in the transaction that deleted it`);
    if (p || this.base.tables[KIND_POS[kind]]!.primary.get(obj.id)) throw new ShoalError('AlreadyExists', `${kind} ${obj.id} already exists`);
    this.checkUnique(kind, obj, undefined);
    this.add(map, { kind, id: obj.id, op: 'create', version: 0, body: body(kind, obj), fields: undefined, base: undefined, createdAt: undefined, obj: undefined, live: true });
  }

  update(kind: Kind, obj: Stored): void {
    this.open(kind);
    const current = this.table(kind).get(obj.id);
    if (!current) throw notFound(kind, obj.id);
    const v = obj.meta?.version;
    if (v === undefined) throw new ShoalError('InvalidArgument', `${kind} ${obj.id}: update without meta.version`, { field: 'meta.version' });
    const cv = current.meta?.version ?? 0;
    if (v !== cv) throw conflict(kind, obj.id, v, cv);
    this.checkUnique(kind, obj, current);
    const pos = KIND_POS[kind];
    const map = this.pending[pos]!.map;
    const p = map.get(obj.id);
    if (p?.op === 'create') {
      p.body = body(kind, obj);
      p.obj = undefined;
      return;
    }
    // a patch of the committed version: the fields whose values are not that version's
    const committed = p ? (this.base.tables[pos]!.primary.get(obj.id) as Stored) : current;
    const fields = changedFields(committed, obj);
    const patch = encodePatch(kind, obj, fields);
    if (p) {
      Object.assign(p, { op: 'patch', body: patch, fields, base: committed, obj: undefined });
      return;
    }
    this.add(map, { kind, id: obj.id, op: 'patch', version: cv, body: patch, fields, base: committed, createdAt: current.meta?.createdAt, obj: undefined, live: true });
  }

  delete(kind: Kind, target: Stored | string): void {
    this.open(kind);
    const id = typeof target === 'string' ? target : target.id;
    const current = this.table(kind).get(id);
    if (!current) throw notFound(kind, id);
    const cv = current.meta?.version ?? 0;
    if (typeof target !== 'string' && target.meta !== undefined && target.meta.version !== cv) {
      throw conflict(kind, id, target.meta.version, cv);
    }
    const map = this.pending[KIND_POS[kind]]!.map;
    const p = map.get(id);
    if (p?.op === 'create') {
      p.live = false;
      map.delete(id);
      this.live--;
      return;
    }
    if (p) {
      p.op = 'delete';
      p.body = undefined;
      p.fields = undefined;
      p.base = undefined;
      p.obj = undefined;
      return;
    }
    const checked = typeof target !== 'string' && target.meta !== undefined;
    this.add(map, { kind, id, op: 'delete', version: checked ? cv : 0, body: undefined, fields: undefined, base: undefined, createdAt: undefined, obj: undefined, live: true });
  }

  private add(map: Map<string, Pending>, p: Pending): void {
    map.set(p.id, p);
    this.order.push(p);
    this.live++;
  }

  /** The log entry of this transaction, or null when it changes nothing. */
  entry(): StoreEntry | null {
    if (this.live === 0) return null;
    const actions: StoreAction[] = [];
    for (const p of this.order) {
      if (p.live) actions.push(p.op === 'patch' ? { kind: p.kind, op: p.op, id: p.id, version: p.version, body: p.body, fields: p.fields } : { kind: p.kind, op: p.op, id: p.id, version: p.version, body: p.body });
    }
    return { timestamp: this.timestamp, actions };
  }
}

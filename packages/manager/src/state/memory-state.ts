// ManagerState in memory: one version counter, copy-on-write maps, synchronous commits.
// Used by unit tests and wherever the real store is not needed; the semantics match what the
// Control API and dispatcher expect of the store (versions, conflicts, per-commit events).
import { ShoalError, isoTime } from '@shoal/api';
import { realClock, type Clock } from '../util/clock.js';
import { TABLES, type AnyObject, type Change, type Commit, type ManagerState, type ReadTx, type TableName, type Tables, type WriteTx } from './state.js';

type Maps = { [T in TableName]: Map<string, Tables[T]> };

function clone<T>(o: T): T {
  return structuredClone(o);
}

export class MemoryState implements ManagerState {
  private maps: Maps = Object.fromEntries(TABLES.map((t) => [t, new Map()])) as unknown as Maps;
  private version = 0;
  private readonly subs = new Set<(c: Commit) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  /** number of committed transactions (tests count store writes with it) */
  commits = 0;

  constructor(private readonly clock: Clock = realClock) {}

  view<R>(fn: (tx: ReadTx) => R): R {
    return fn(this.reader(this.maps, this.version));
  }

  update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    const run = this.queue.then(() => this.commit(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  subscribe(cb: (c: Commit) => void): () => void {
    this.subs.add(cb);
    return () => void this.subs.delete(cb);
  }

  private reader(maps: Maps, version: number): ReadTx {
    const all = <T extends TableName>(t: T): Tables[T][] => [...(maps[t] as Map<string, Tables[T]>).values()].map(clone);
    return {
      version,
      get: (t, id) => {
        const o = (maps[t] as Map<string, AnyObject>).get(id);
        return o === undefined ? undefined : (clone(o) as never);
      },
      all,
      tasksByNode: (nodeId) => all('tasks').filter((x) => x.nodeId === nodeId),
      tasksByService: (serviceId) => all('tasks').filter((x) => x.serviceId === serviceId),
    };
  }

  private commit<R>(fn: (tx: WriteTx) => R): R {
    const next = this.version + 1;
    const maps = Object.fromEntries(TABLES.map((t) => [t, new Map(this.maps[t] as Map<string, AnyObject>)])) as unknown as Maps;
    const changes: Change[] = [];
    const now = isoTime(this.clock.now());
    const tbl = (t: TableName): Map<string, AnyObject> => maps[t] as Map<string, AnyObject>;
    const tx: WriteTx = {
      ...this.reader(maps, this.version),
      create: (t, obj) => {
        if (tbl(t).has(obj.id)) throw new ShoalError('AlreadyExists', `${t} ${obj.id} already exists`);
        const o = clone(obj);
        o.meta = { version: next, createdAt: now, updatedAt: now };
        tbl(t).set(o.id, o);
        changes.push({ action: 'create', table: t, object: clone(o) });
      },
      update: (t, obj) => {
        const old = tbl(t).get(obj.id);
        if (!old) throw new ShoalError('NotFound', `${t} ${obj.id} not found`);
        if ((obj.meta?.version ?? 0) !== (old.meta?.version ?? 0)) {
          throw new ShoalError('Conflict', `${t} ${obj.id} was changed (version ${old.meta?.version ?? 0}, not ${obj.meta?.version ?? 0}); read it again`);
        }
        const o = clone(obj);
        o.meta = { version: next, createdAt: old.meta?.createdAt, updatedAt: now };
        tbl(t).set(o.id, o);
        changes.push({ action: 'update', table: t, object: clone(o), old });
      },
      delete: (t, id) => {
        const old = tbl(t).get(id);
        if (!old) throw new ShoalError('NotFound', `${t} ${id} not found`);
        tbl(t).delete(id);
        changes.push({ action: 'delete', table: t, object: old });
      },
    };
    const result = fn(tx);
    if (changes.length === 0) return result;
    this.maps = maps;
    this.version = next;
    this.commits++;
    const c: Commit = { version: next, changes };
    for (const cb of [...this.subs]) cb(c);
    return result;
  }
}

// ManagerState over the replicated @shoal/store Store (LocalProposer in tests, raft in production).
import { Store, type ReadView, type StoreEvent, type Kind } from '@shoal/store';
import type { AnyObject, Change, Commit, ManagerState, ReadTx, TableName, Tables, WriteTx } from './state.js';

const KIND: Record<TableName, Kind> = { cluster: 'cluster', nodes: 'node', services: 'service', tasks: 'task', networks: 'network', secrets: 'secret', configs: 'config' };
const TABLE: Record<Kind, TableName> = Object.fromEntries(Object.entries(KIND).map(([t, k]) => [k, t])) as Record<Kind, TableName>;
const ACCESSOR: Record<TableName, string> = { cluster: 'clusters', nodes: 'nodes', services: 'services', tasks: 'tasks', networks: 'networks', secrets: 'secrets', configs: 'configs' };

type Tableish = { get(id: string): unknown; all(): unknown[] };
type TaskTable = Tableish & { byNode(id: string): unknown[]; byService(id: string): unknown[] };

function reader(src: ReadView | object, version: number): ReadTx {
  const table = (t: TableName): Tableish => (src as unknown as Record<string, Tableish>)[ACCESSOR[t]]!;
  const tasks = (): TaskTable => table('tasks') as TaskTable;
  return {
    version,
    get: (t, id) => (table(t).get(id) ?? undefined) as never,
    // the store's table handles return fresh arrays: no second copy (100k tasks per full read)
    all: (t) => table(t).all() as never,
    tasksByNode: (id) => tasks().byNode(id) as Tables['tasks'][],
    tasksByService: (id) => tasks().byService(id) as Tables['tasks'][],
  };
}

export class StoreState implements ManagerState {
  constructor(readonly store: Store) {}

  view<R>(fn: (tx: ReadTx) => R): R {
    return this.store.view((v) => fn(reader(v, v.index)));
  }

  /**
   * Versions are assigned when the entry is applied, so an object written and returned by `fn`
   * is read again after the commit: callers get it with its committed meta (as with MemoryState).
   */
  async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    const written = new Map<string, TableName>();
    const res = await this.store.update((tx) => {
      const w: WriteTx = {
        ...reader(tx, 0),
        create: (t, obj) => (tx.create(KIND[t], obj), written.set(obj.id, t)),
        update: (t, obj) => (tx.update(KIND[t], obj), written.set(obj.id, t)),
        delete: (t, id) => tx.delete(KIND[t], id),
      };
      return fn(w);
    });
    const v = res.value as unknown;
    if (v && typeof v === 'object' && 'id' in v && typeof v.id === 'string' && written.has(v.id)) {
      const t = written.get(v.id)!;
      const fresh = this.view((r) => r.get(t, v.id as string));
      if (fresh) return fresh as R;
    }
    return res.value;
  }

  subscribe(cb: (c: Commit) => void): () => void {
    const w = this.store.watch();
    let changes: Change[] = [];
    const take = (events: StoreEvent[]): void => {
      for (const e of events) {
        if (e.action === 'commit') {
          const c = { version: e.index, changes };
          changes = [];
          cb(c);
        } else if (e.action === 'update') {
          changes.push({ action: 'update', table: TABLE[e.kind], object: e.object as AnyObject, old: (e.oldObject ?? e.object) as AnyObject });
        } else {
          changes.push({ action: e.action, table: TABLE[e.kind], object: e.object as AnyObject });
        }
      }
    };
    void (async () => {
      try {
        for await (const batch of w.batches()) take(batch);
      } catch {
        /* closed or overflowed: the consumer re-reads on its next leadership */
      }
    })();
    return () => w.close();
  }
}

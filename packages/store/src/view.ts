// Consistent read views over one published store state.
import type { Cluster, Config, Network, Secret, Service } from '@shoal/api';
import { KIND_POS, SCHEMAS, type Kind, type Stored, type StoreObjects } from './schema.js';
import { NodeReader, TableReader, TableState, TaskReader, type Overlay, type ReadNodes, type ReadTable, type ReadTasks, type TxSink } from './table.js';

/** The whole published state: the last applied index and one TableState per kind (KIND_POS order). */
export interface StoreState {
  readonly index: number;
  readonly tables: readonly TableState[];
}

export function emptyState(index = 0): StoreState {
  return { index, tables: SCHEMAS.map((s) => TableState.empty(s)) };
}

export function makeHandle(state: TableState, overlay: Overlay<Stored> | null, sink: TxSink | null): TableReader<Stored> {
  switch (state.schema.kind) {
    case 'task':
      return new TaskReader(state as never, overlay as never, sink) as unknown as TableReader<Stored>;
    case 'node':
      return new NodeReader(state as never, overlay as never, sink) as unknown as TableReader<Stored>;
    default:
      return new TableReader(state, overlay, sink);
  }
}

/** Table handles over a state, created on first use. */
export abstract class TableSet {
  private readonly handles: (TableReader<Stored> | undefined)[] = [];
  constructor(protected readonly base: StoreState) {}
  protected abstract make(pos: number): TableReader<Stored>;
  protected handle(pos: number): TableReader<Stored> {
    return (this.handles[pos] ??= this.make(pos));
  }
}

/**
 * A consistent, immutable read view of the store at one index. Later commits do not change it;
 * holding it costs nothing but the memory of the versions it keeps alive. Objects returned are
 * deeply frozen and shared (no copy per read).
 */
export class ReadView extends TableSet {
  /** Index of the last entry applied in this view. */
  get index(): number {
    return this.base.index;
  }
  protected make(pos: number): TableReader<Stored> {
    return makeHandle(this.base.tables[pos]!, null, null);
  }
  table<K extends Kind>(kind: K): ReadTable<StoreObjects[K]> {
    return this.handle(KIND_POS[kind]) as unknown as ReadTable<StoreObjects[K]>;
  }
  get clusters(): ReadTable<Cluster> {
    return this.table('cluster');
  }
  get nodes(): ReadNodes {
    return this.handle(KIND_POS.node) as unknown as ReadNodes;
  }
  get services(): ReadTable<Service> {
    return this.table('service');
  }
  get tasks(): ReadTasks {
    return this.handle(KIND_POS.task) as unknown as ReadTasks;
  }
  get networks(): ReadTable<Network> {
    return this.table('network');
  }
  get secrets(): ReadTable<Secret> {
    return this.table('secret');
  }
  get configs(): ReadTable<Config> {
    return this.table('config');
  }
}

// The narrow view of the replicated store that the Control API, the dispatcher and the leader
// loops are written against. The store package implements it through an adapter (see
// store-adapter.ts); MemoryState implements it in memory for tests and single-process use.
import type { Cluster, Config, Network, Node, Secret, Service, Task } from '@shoal/api';

export interface Tables {
  cluster: Cluster;
  nodes: Node;
  services: Service;
  tasks: Task;
  networks: Network;
  secrets: Secret;
  configs: Config;
}
export type TableName = keyof Tables;
export const TABLES: readonly TableName[] = ['cluster', 'nodes', 'services', 'tasks', 'networks', 'secrets', 'configs'];
export type AnyObject = Tables[TableName];

export interface ReadTx {
  /** version (raft index) of the state this read sees */
  readonly version: number;
  get<T extends TableName>(table: T, id: string): Tables[T] | undefined;
  all<T extends TableName>(table: T): Tables[T][];
  tasksByNode(nodeId: string): Task[];
  tasksByService(serviceId: string): Task[];
}

export interface WriteTx extends ReadTx {
  /** AlreadyExists when the id is taken. */
  create<T extends TableName>(table: T, obj: Tables[T]): void;
  /** Conflict when obj.meta.version is not the stored version (optimistic concurrency). */
  update<T extends TableName>(table: T, obj: Tables[T]): void;
  /** NotFound when absent. */
  delete<T extends TableName>(table: T, id: string): void;
}

export type Change =
  | { action: 'create'; table: TableName; object: AnyObject }
  | { action: 'update'; table: TableName; object: AnyObject; old: AnyObject }
  | { action: 'delete'; table: TableName; object: AnyObject };

/** One committed transaction: its changes in order, then the version it produced. */
export interface Commit {
  version: number;
  changes: Change[];
}

export interface ManagerState {
  view<R>(fn: (tx: ReadTx) => R): R;
  /** Runs fn against the latest state and commits its writes as one entry; resolves once applied. */
  update<R>(fn: (tx: WriteTx) => R): Promise<R>;
  /** Every commit from now on, in order. Subscribe before reading the full state. */
  subscribe(cb: (commit: Commit) => void): () => void;
}

export function objectId(o: AnyObject): string {
  return o.id;
}

/**
 * @shoal/store — the replicated cluster state: tables, indexes, transactions, watch, snapshots.
 *
 * The manager uses this surface:
 *
 *   const store = new Store({ proposer, clock: Date.now, newId: nanoid });
 *   // proposer: Proposer = { propose(entry: Uint8Array): Promise<{ index: number }> } — raft;
 *   // the raft wiring calls store.apply(entry, index) for every committed entry, in order, and
 *   // resolves a proposal of this manager after applying it. Tests: LocalProposer (the default).
 *
 *   await store.update((tx) => {            // Promise<{ index, value, changes }>
 *     const s = tx.services.get(id);        // reads see the start state + own writes
 *     tx.services.update({ ...s!, spec });  // s.meta.version is checked: Conflict if it moved
 *     tx.tasks.create({ ...task, id: tx.newId() });
 *   });
 *   store.view((v) => v.tasks.byService(id));        // consistent, immutable, no copies
 *   const v = store.snapshotView();                  // O(1), unaffected by later commits
 *   const w = store.watch({ kinds: ['task'] });      // AsyncIterable<StoreEvent>, .batches(), .poll()
 *   const { view, watcher } = store.viewAndWatch();  // full state, then every later change
 *   store.apply(entry, index);                       // ApplyResult; pure function of state + entry
 *   const bytes = store.snapshot(); store.restore(bytes); Store.restore(bytes, opts);
 *
 * Tables (view.<name> / tx.<name>): clusters, nodes, services, tasks, networks, secrets, configs.
 * Every table: get, has, count, all, forEach, byIdPrefix, byName, getByName, byNamePrefix, find.
 * tasks: byService, bySlot, byNode, byDesiredState. nodes: byRole, byAvailability.
 * Names are unique (case-insensitive) for clusters, services, networks, secrets, configs.
 *
 * Objects returned by views, transactions and events are deeply frozen and shared: never mutate
 * them; build a new object (`{ ...task, status }`) or use mutableCopy().
 * Errors: ShoalError with code NotFound, AlreadyExists, Conflict, InvalidArgument,
 * FailedPrecondition, Unavailable (watcher overflow or restore).
 */
export { Store, type StoreOptions, type UpdateResult, type ApplyResult } from './store.js';
export { LocalProposer, type Proposer, type Applier } from './proposer.js';
export { Tx } from './tx.js';
export { ReadView, type StoreState } from './view.js';
export { TableReader, TaskReader, NodeReader, type ReadTable, type ReadTasks, type ReadNodes } from './table.js';
export {
  Watcher,
  DEFAULT_MAX_QUEUE,
  type WatchOptions,
  type StoreEvent,
  type ObjectEvent,
  type CommitEvent,
  type ObjectAction,
} from './watch.js';
export { encodeEntry, decodeEntry, type StoreAction, type StoreEntry, type ActionOp } from './codec.js';
export { KINDS, TABLE_NAMES, SCHEMAS, type Kind, type TableName, type StoreObjects, type StoreObject, type Stored } from './schema.js';
export { mutableCopy } from './freeze.js';

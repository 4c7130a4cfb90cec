// What the Control API implementation needs from the manager.
import { ShoalError, type ReadOptions } from '@shoal/api';
import type { RandomBytes } from '../ca/join-tokens.js';
import type { RaftMembership } from '../loops/roles.js';
import type { ManagerState, ReadTx } from '../state/state.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

export interface ControlDeps {
  state: ManagerState;
  /** object ids (nanoid in production, a counter in tests) */
  newId: () => string;
  random?: RandomBytes;
  /** linearizable reads: resolves once the local state has caught up with the leader's commit index */
  readBarrier?: () => Promise<void>;
  /** Dispatcher addresses of the managers (GetJoinTokens) */
  managerAddrs?: () => string[];
  log: Logger;
  /** raft membership (demotion and manager removal check quorum against it); absent without raft */
  membership?: RaftMembership;
  /** time of update statuses written by the API (rollback start); default the real clock */
  clock?: Clock;
}

export async function read<R>(deps: ControlDeps, opts: ReadOptions | undefined, fn: (tx: ReadTx) => R): Promise<R> {
  if (opts?.linearizable) {
    if (!deps.readBarrier) throw new ShoalError('Unavailable', 'linearizable reads are not available on this manager');
    await deps.readBarrier();
  }
  return deps.state.view(fn);
}

export function notFound(what: string, id: string): ShoalError {
  return new ShoalError('NotFound', `${what} ${id} not found`);
}

export function requireId(field: string, id: string): void {
  if (!id) throw new ShoalError('InvalidArgument', `invalid ${field}: an id is required`, { field });
}

/** Find by exact id, else by unique id prefix, else by exact name. */
export function lookup<T extends { id: string }>(all: T[], idOrName: string, name: (o: T) => string): T | undefined {
  const exact = all.find((o) => o.id === idOrName);
  if (exact) return exact;
  const byName = all.filter((o) => name(o) === idOrName);
  if (byName.length === 1) return byName[0];
  const byPrefix = all.filter((o) => o.id.startsWith(idOrName));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

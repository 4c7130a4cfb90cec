// Options of a RaftNode and the state machine it drives. Defaults follow ARCHITECTURE.md.
import type { Clock } from '../clock.js';
import type { ConfState, Entry, NodeId, SnapshotMetadata } from '../core/types.js';
import type { Logger } from '../transport/logger.js';

/** What raft replicates into. apply must be a pure function of state and log (no side effects). */
export interface StateMachine {
  /** applies committed entries in log order (empty entries, such as a new leader's no-op, are not passed) */
  apply(entries: Entry[]): void | Promise<void>;
  /** the state as of the last applied entry */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** replaces the whole state by a snapshot */
  restore(data: Uint8Array, metadata: SnapshotMetadata): void | Promise<void>;
}

export interface Member {
  id: NodeId;
  addr: string;
}

export interface RaftNodeOptions {
  id: NodeId;
  clusterId: string;
  dataDir: string;
  stateMachine: StateMachine;
  /** the initial voters (including this node) of a brand-new cluster; ignored once the storage holds state */
  bootstrap?: Member[];
  /**
   * A joining node: the cluster's bootstrap configuration (the founding voters at index 0) as
   * Raft.Join answered it. A node whose storage is empty starts from it, so that replaying the
   * log's membership changes yields the cluster's members. Without it (and without `bootstrap`)
   * an empty node asks `peers` for it (Raft.Members) before it starts.
   */
  joinConfState?: ConfState;
  /** addresses known from configuration, merged with what the log and snapshots say */
  peers?: Member[];
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** take a snapshot every this many applied entries (default 10,000) */
  snapshotEvery?: number;
  /** entries kept in the log behind a snapshot, for followers a little behind (default 500) */
  snapshotKeep?: number;
  /**
   * also take a snapshot once the entries applied since the last one hold this many bytes, or as
   * many as the last snapshot if that is more (default 64 MiB): the log is held in memory until
   * compacted, and a few thousand entries of a thousand tasks each are gigabytes
   */
  snapshotBytes?: number;
  /**
   * This member's snapshot thresholds (snapshotEvery, and snapshotBytes or the last snapshot's
   * size) are 1 + snapshotStagger times the configured ones (default 0). Members apply the same
   * entries, so with equal thresholds all of them snapshot at the same index, each encoding the
   * whole state at the same moment; members given different staggers take turns, and a quorum
   * keeps committing meanwhile.
   */
  snapshotStagger?: number;
  /** at most this many bytes of entries are kept behind a snapshot (default 8 MiB) */
  snapshotKeepBytes?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxSnapshotChunk?: number;
  /**
   * A leader's commit advance that no append carries along is sent to the followers this long
   * after it (default 5 ms; 0: at once, one empty append per follower per commit). Clients are
   * answered by the leader, which does not wait for it: followers apply a little later, and under
   * load the next append carries the commit index anyway.
   */
  commitDelayMs?: number;
  /** reads and forwarded proposals give up after this long (default 5 s) */
  requestTimeoutMs?: number;
  /** the leader promotes a learner to voter once it has caught up (default true) */
  autoPromote?: boolean;
  /** how long an empty joining node asks its peers for the bootstrap configuration (default 30 s) */
  joinTimeoutMs?: number;
  /** fsync every write (default true); false only in tests that do not care about durability */
  sync?: boolean;
  log?: Logger;
  /** time, timers and randomness of the node, its transport and the KV service (default: the real clock) */
  clock?: Clock;
}

export const DEFAULTS = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEvery: 10_000,
  snapshotKeep: 500,
  snapshotBytes: 64 * 1024 * 1024,
  snapshotStagger: 0,
  snapshotKeepBytes: 8 * 1024 * 1024,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxSnapshotChunk: 1024 * 1024,
  requestTimeoutMs: 5_000,
  commitDelayMs: 5,
  joinTimeoutMs: 30_000,
};

export type ResolvedOptions = RaftNodeOptions & typeof DEFAULTS;

/** the options with the defaults filled in where unset (or set to undefined) */
export function withDefaults(opts: RaftNodeOptions): ResolvedOptions {
  const set = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<RaftNodeOptions>;
  return { ...DEFAULTS, ...set } as ResolvedOptions;
}

// The simulation's options, its client history and its result (see cluster.ts).
import type { TestingKnobs } from '../../src/core/raft.js';
import type { NodeId } from '../../src/core/types.js';

export interface SimOptions {
  seed: number;
  knobs?: TestingKnobs;
  /** called with every trace line (for --trace) */
  trace?: (line: string) => void;
  /** ticks of faults before healing */
  chaosTicks?: number;
  /** ticks allowed after healing for a leader to emerge and everything to commit */
  livenessBound?: number;
  /** 'crashy': leaders crash and restart often and Appends carry one entry (Figure 8 pressure) */
  profile?: 'mixed' | 'crashy';
  /** deliberately wrong (mutation test): a joining node starts with an empty configuration */
  unsafeJoinWithoutBootstrap?: boolean;
}

/** one client operation in the history (ret undefined: outcome unknown) */
export interface HistoryOp {
  id: number;
  key: string;
  kind: 'get' | 'put' | 'cas';
  value: string | null;
  expect: string | null;
  /** get: the value read; cas: whether it swapped */
  output: string | null | boolean | undefined;
  invoke: number;
  ret: number | undefined;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  reason?: string;
  ticks: number;
  history: HistoryOp[];
  stats: { committed: number; elections: number; crashes: number; confChanges: number; snapshots: number; acked: number };
}

/** a client operation in flight */
export interface PendingOp {
  op: HistoryOp;
  node: NodeId;
  deadline: number;
  /** reads: the read index, once the leader confirmed it */
  readIndex?: number;
  ctx?: string;
}

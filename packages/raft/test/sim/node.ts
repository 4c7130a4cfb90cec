// One simulated server: durable storage (a MemoryStorage standing for the synced disk), the
// RawNode and the KV state machine, which are lost on a crash and rebuilt on restart.
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { RawNode } from '../../src/core/rawnode.js';
import type { TestingKnobs } from '../../src/core/raft.js';
import type { ConfState, NodeId, RaftConfig } from '../../src/core/types.js';
import type { DurableLogView } from './invariants.js';
import { KvStateMachine } from './kv.js';

export class SimNode implements DurableLogView {
  readonly durable: MemoryStorage;
  rn: RawNode | undefined;
  sm = new KvStateMachine();
  appliedIndex = 0;
  /** retired nodes were removed from the cluster and never come back */
  retired = false;
  readonly chain = new Map<number, number>([[0, 0]]);
  restarts = 0;

  constructor(
    readonly id: NodeId,
    confState: ConfState,
    private readonly cfg: RaftConfig,
    private readonly knobs: TestingKnobs,
  ) {
    this.durable = new MemoryStorage(confState);
  }

  get up(): boolean {
    return this.rn !== undefined;
  }

  firstIndex(): number {
    return this.durable.firstIndex();
  }

  lastIndex(): number {
    return this.durable.lastIndex();
  }

  start(): void {
    this.rn = new RawNode(this.cfg, this.durable, this.knobs);
    const snap = this.durable.snapshot();
    this.sm = KvStateMachine.restore(snap.data);
    this.appliedIndex = snap.metadata.index;
  }

  crash(): void {
    this.rn = undefined;
    this.restarts++;
  }
}

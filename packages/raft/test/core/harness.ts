// A small synchronous network of RawNodes for unit tests (in the spirit of etcd's raft tests):
// every Ready is persisted to a MemoryStorage, its messages are queued, committed entries are
// recorded, and `settle()` delivers messages until the network is quiet.
import { MemoryStorage } from '../../src/core/memory-storage.js';
import { RawNode } from '../../src/core/rawnode.js';
import type { TestingKnobs } from '../../src/core/raft.js';
import { decodeConfChange } from '../../src/core/confchange.js';
import { EntryType, MessageType, Role, type Entry, type Message, type NodeId, type RaftConfig, type ReadState, type Snapshot } from '../../src/core/types.js';

export interface TestNode {
  id: NodeId;
  rn: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  snapshots: Snapshot[];
}

export function config(id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig {
  let seed = (id * 0x9e3779b9) >>> 0;
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    maxSnapshotChunk: 1024,
    preVote: true,
    checkQuorum: true,
    randInt: (n) => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let z = Math.imul(seed ^ (seed >>> 15), seed | 1);
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
      return (((z ^ (z >>> 14)) >>> 0) % n);
    },
    ...over,
  };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

export class Net {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** messages for which this returns true are dropped */
  drop: (m: Message) => boolean = () => false;
  readonly delivered: Message[] = [];

  constructor(
    ids: NodeId[],
    over: Partial<RaftConfig> = {},
    learners: NodeId[] = [],
    knobs: TestingKnobs = {},
  ) {
    for (const id of [...ids, ...learners]) {
      const storage = new MemoryStorage({ voters: ids, learners });
      this.add(id, storage, over, knobs);
    }
  }

  add(id: NodeId, storage: MemoryStorage, over: Partial<RaftConfig> = {}, knobs: TestingKnobs = {}): TestNode {
    const n: TestNode = { id, rn: new RawNode(config(id, over), storage, knobs), storage, applied: [], readStates: [], snapshots: [] };
    this.nodes.set(id, n);
    return n;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** handles every pending Ready of every node (persist, queue messages, apply, advance) */
  flush(): void {
    for (const n of this.nodes.values()) {
      while (n.rn.hasReady()) {
        const rd = n.rn.ready();
        if (rd.snapshot) {
          n.storage.applySnapshot(rd.snapshot);
          n.snapshots.push(rd.snapshot);
        }
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        this.queue.push(...rd.messages);
        for (const e of rd.committedEntries) {
          n.applied.push(e);
          if (e.type === EntryType.ConfChange) n.rn.applyConfChange(decodeConfChange(e.data));
        }
        n.readStates.push(...rd.readStates);
        n.rn.advance(rd);
      }
    }
  }

  /** delivers messages until none are left (at most `limit` rounds) */
  settle(limit = 1000): void {
    for (let i = 0; i < limit; i++) {
      this.flush();
      if (this.queue.length === 0) return;
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        if (this.drop(m)) continue;
        const to = this.nodes.get(m.to);
        if (!to) continue;
        this.delivered.push(m);
        to.rn.step(m);
      }
    }
    throw new Error('network did not settle');
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.node(id).rn.tick();
  }

  /** ticks every node once, then settles; repeated n times */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.rn.tick();
      this.settle();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).rn.campaign();
    this.settle();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.rn.status().role === Role.Leader).map((n) => n.id);
  }

  /** isolates a node: messages from and to it are dropped */
  isolate(id: NodeId): void {
    this.drop = (m) => m.from === id || m.to === id;
  }

  heal(): void {
    this.drop = () => false;
  }

  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => str(e.data));
  }
}

export { MessageType, Role };

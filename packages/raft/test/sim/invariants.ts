// Safety invariants of Raft (Figure 3 of the paper), checked incrementally as the simulation
// runs, so that a violation is reported at the step that caused it.
//
// Log matching is checked with a hash chain: the chain value of entry i covers every entry up to
// i, so "same index and term implies same chain value" is exactly the Log Matching Property.
import { EntryType, type ConfState, type Entry, type NodeId } from '../../src/core/types.js';

export class Violation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Violation';
  }
}

function hashBytes(h: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 16777619) >>> 0;
  return h;
}

/** a 53-bit hash of the previous chain value and an entry */
export function chainHash(prev: number, e: Entry): number {
  const lo = prev % 4294967296;
  const hi = Math.floor(prev / 4294967296);
  let a = hashBytes((2166136261 ^ lo) >>> 0, e.data);
  a = Math.imul(a ^ e.term, 16777619) >>> 0;
  a = Math.imul(a ^ e.type, 16777619) >>> 0;
  let b = Math.imul((hi ^ 0x9e3779b9) + e.index, 0x85ebca6b) >>> 0;
  b = Math.imul(b ^ (a >>> 13) ^ e.term, 0xc2b2ae35) >>> 0;
  b = Math.imul(b ^ lo, 0x27d4eb2d) >>> 0;
  return (b & 0x1fffff) * 4294967296 + a;
}

/** what the checker needs to see of a node's durable log */
export interface DurableLogView {
  id: NodeId;
  /** chain value of each durable entry (and of the snapshot's last entry) */
  chain: Map<number, number>;
  firstIndex(): number;
  lastIndex(): number;
}

export class Checker {
  readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly chainOf = new Map<string, number>();
  /** chain value of the entry applied at each index (by anyone) */
  readonly applied = new Map<number, number>();
  maxApplied = 0;
  /** the configuration every node must reach by applying the conf change at each index */
  private readonly confAt = new Map<number, string>();

  /** §5.2 Election Safety: at most one leader per term */
  observeLeader(term: number, id: NodeId): void {
    const seen = this.leaderOfTerm.get(term);
    if (seen !== undefined && seen !== id) {
      throw new Violation(`election safety: nodes ${seen} and ${id} both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, id);
  }

  /** the node durably appended `entries`; checks the Log Matching Property */
  persisted(node: DurableLogView, entries: Entry[]): void {
    for (const e of entries) {
      for (let i = e.index; node.chain.has(i); i++) node.chain.delete(i); // overwritten suffix
      const prev = node.chain.get(e.index - 1);
      if (prev === undefined) throw new Violation(`node ${node.id}: entry ${e.index} persisted after a gap`);
      const h = chainHash(prev, e);
      node.chain.set(e.index, h);
      const key = `${e.index}:${e.term}`;
      const seen = this.chainOf.get(key);
      if (seen === undefined) this.chainOf.set(key, h);
      else if (seen !== h) {
        throw new Violation(`log matching: node ${node.id} has entry ${e.index} of term ${e.term} with a different history`);
      }
    }
  }

  /** the node installed a snapshot ending at (index, term) */
  snapshotInstalled(node: DurableLogView, index: number, term: number): void {
    const h = index === 0 ? 0 : (this.chainOf.get(`${index}:${term}`) ?? this.applied.get(index));
    if (h === undefined) throw new Violation(`node ${node.id}: snapshot at ${index}/${term} of an unknown entry`);
    const applied = this.applied.get(index);
    if (applied !== undefined && applied !== h) {
      throw new Violation(`state machine safety: snapshot at ${index} on node ${node.id} differs from what was applied`);
    }
    node.chain.clear();
    node.chain.set(index, h);
  }

  /** §5.4.3 State Machine Safety: no two nodes apply different entries at one index */
  appliedEntry(node: DurableLogView, e: Entry): void {
    const h = node.chain.get(e.index);
    if (h === undefined) throw new Violation(`node ${node.id}: applied entry ${e.index} that it had not persisted`);
    const seen = this.applied.get(e.index);
    if (seen === undefined) {
      this.applied.set(e.index, h);
      if (e.index > this.maxApplied) this.maxApplied = e.index;
    } else if (seen !== h) {
      throw new Violation(`state machine safety: node ${node.id} applied a different entry at index ${e.index}`);
    }
  }

  /**
   * Configuration agreement: applying the same log gives every node the same members (a node that
   * joined with a wrong starting configuration, e.g. empty instead of the bootstrap one, differs).
   */
  configuration(node: DurableLogView, index: number, cs: ConfState): void {
    const key = `voters=${cs.voters.join(',')} learners=${cs.learners.join(',')}`;
    const seen = this.confAt.get(index);
    if (seen === undefined) this.confAt.set(index, key);
    else if (seen !== key) {
      throw new Violation(`configuration agreement: node ${node.id} has ${key} after the conf change at ${index}, others ${seen}`);
    }
  }

  /** §5.4 Leader Completeness: a new leader's log holds every entry committed so far */
  leaderElected(node: DurableLogView, term: number): void {
    this.observeLeader(term, node.id);
    const c = this.maxApplied;
    if (c === 0) return;
    if (node.lastIndex() < c) {
      throw new Violation(`leader completeness: leader ${node.id} of term ${term} ends at ${node.lastIndex()} < committed ${c}`);
    }
    const at = Math.max(c, node.firstIndex() - 1);
    const mine = node.chain.get(at);
    const committed = this.applied.get(at);
    if (committed !== undefined && mine !== committed) {
      throw new Violation(`leader completeness: leader ${node.id} of term ${term} lacks committed entry ${at}`);
    }
  }
}

export function isNoop(e: Entry): boolean {
  return e.type === EntryType.Normal && e.data.byteLength === 0;
}

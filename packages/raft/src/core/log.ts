// The Raft log as the core sees it: what durable storage holds (read through
// RaftStorageReader) plus an unstable tail (entries or a snapshot not yet persisted by the driver).
import { RaftError, type Entry, type RaftStorageReader, type Snapshot } from './types.js';

export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** keeps a prefix of `ents` whose total size is at most maxBytes (always at least one entry) */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0] as Entry);
  let n = 1;
  while (n < ents.length) {
    size += entrySize(ents[n] as Entry);
    if (size > maxBytes) break;
    n++;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  constructor(public offset: number) {}

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return (this.entries[i - this.offset] as Entry).term;
  }
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || i < this.offset) return;
    if (gt === t) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }
  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }
  truncateAndAppend(ents: Entry[]): void {
    const after = (ents[0] as Entry).index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // replaces the whole unstable tail (and part of what storage holds)
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** highest index known to be durably persisted by the driver */
  persisted: number;

  constructor(readonly storage: RaftStorageReader) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // the state machine restarts from the latest snapshot, which may be ahead of the compaction point
    const snapIndex = Math.min(Math.max(first - 1, storage.snapshot().metadata.index), last);
    this.committed = snapIndex;
    this.applied = snapIndex;
    this.persisted = last;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** term of entry i; throws RaftError('Compacted') below the log, ('Unavailable') past its end */
  term(i: number): number {
    const t = this.maybeTerm(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new RaftError('Compacted', `index ${i} is compacted (first ${dummy + 1})`);
    throw new RaftError('Unavailable', `index ${i} is past the last index`);
  }

  /** term of entry i, or undefined if it is compacted or past the end (no exception: hot path) */
  maybeTerm(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** term of i, or 0 if unknown */
  zeroTermOnErr(i: number): number {
    return this.maybeTerm(i) ?? 0;
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    return this.maybeTerm(i) === t;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** appends entries whose indexes follow the log (possibly overwriting an uncommitted suffix) */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    if (after < this.committed) {
      throw new Error(`raft log: append after ${after} is below commit ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    if (this.persisted > after) this.persisted = after;
    return this.lastIndex();
  }

  /** index of the first entry of `ents` that is not already in the log with the same term, or 0 */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (or the first index - 1).
   * Used by a follower to hint and by the leader to skip a whole term while backtracking.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    const first = this.firstIndex() - 1;
    let i = Math.min(index, this.lastIndex());
    while (i > first) {
      const t = this.zeroTermOnErr(i);
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: i, term: this.zeroTermOnErr(i) };
  }

  /** handles an Append: returns the last new index or undefined if the previous entry does not match */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`raft log: conflict at ${ci} below commit ${this.committed}`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  commitTo(c: number): void {
    if (c > this.committed) {
      if (c > this.lastIndex()) throw new Error(`raft log: commit ${c} past last index ${this.lastIndex()}`);
      this.committed = c;
    }
  }

  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.zeroTermOnErr(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i > this.applied) this.applied = i;
  }

  stableTo(i: number, t: number): void {
    if (i > this.persisted && this.matchTerm(i, t)) this.persisted = i;
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
    if (i > this.persisted) this.persisted = i;
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** committed entries not yet applied (none while a received snapshot waits to be persisted) */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** entries in [lo, hi), at most maxBytes (at least one) */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new RaftError('Compacted', `index ${lo} is compacted (first ${first})`);
    if (hi > this.lastIndex() + 1) throw new Error(`raft log: slice [${lo},${hi}) out of bound`);
    let ents: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      const stored = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      if (stored.length < Math.min(hi, off) - lo) return stored; // hit the size limit
      ents = stored;
    }
    if (hi > off) ents = ents.concat(this.unstable.slice(Math.max(lo, off), hi));
    return limitSize(ents, maxBytes);
  }

  /** entries from i to the end, at most maxBytes */
  entriesFrom(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** a snapshot to send to a follower that is behind the log */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }
}

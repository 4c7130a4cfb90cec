// An in-memory RaftStorageReader with the write side a driver needs. Used by the simulator and
// by tests; the level-backed storage offers the same write operations.
//
// The entry array always starts with a dummy entry standing for the last entry covered by the
// snapshot (its index and term), so `term(firstIndex() - 1)` is answerable.
import { limitSize } from './log.js';
import { cloneConfState } from './confchange.js';
import { EntryType, RaftError, type ConfState, type Entry, type HardState, type RaftStorageReader, type Snapshot } from './types.js';

export class MemoryStorage implements RaftStorageReader {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];
  private readonly boot: ConfState | undefined;

  /** `confState`: the cluster's bootstrap configuration (index 0), for founding and joining members alike */
  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.snap = { metadata: { index: 0, term: 0, confState: cloneConfState(confState) }, data: new Uint8Array() };
    this.ents = [{ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array() }];
    if (confState.voters.length > 0 || confState.learners.length > 0) this.boot = cloneConfState(confState);
  }

  /** the bootstrap configuration this storage started from (kept through snapshots and compaction) */
  bootstrapConfState(): ConfState | undefined {
    return this.boot ? cloneConfState(this.boot) : undefined;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  private get offset(): number {
    return (this.ents[0] as Entry).index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(index: number): number {
    if (index < this.offset) throw new RaftError('Compacted', `index ${index} is compacted`);
    if (index > this.lastIndex()) throw new RaftError('Unavailable', `index ${index} is unavailable`);
    return (this.ents[index - this.offset] as Entry).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new RaftError('Compacted', `index ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) throw new RaftError('Unavailable', `entries [${lo},${hi}) past last index`);
    return limitSize(this.ents.slice(lo - this.offset, hi - this.offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** appends entries, overwriting any existing suffix they conflict with */
  append(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = (ents[0] as Entry).index;
    if (first + ents.length - 1 <= this.offset) return; // all compacted already
    let toAdd = ents;
    if (first <= this.offset) toAdd = ents.slice(this.offset + 1 - first);
    const start = (toAdd[0] as Entry).index;
    if (start > this.lastIndex() + 1) throw new Error(`memory storage: gap before ${start}`);
    this.ents = this.ents.slice(0, start - this.offset).concat(toAdd);
  }

  /** replaces the whole log by a snapshot received from the leader */
  applySnapshot(s: Snapshot): void {
    if (s.metadata.index <= this.snap.metadata.index) return;
    this.snap = s;
    this.ents = [{ index: s.metadata.index, term: s.metadata.term, type: EntryType.Normal, data: new Uint8Array() }];
  }

  /**
   * Records a snapshot of the state machine at `index` (which must be applied, hence committed).
   * Does not drop entries; call compact() for that.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex()) throw new RaftError('Unavailable', `snapshot index ${index} past last index`);
    this.snap = { metadata: { index, term: this.term(index), confState: cloneConfState(confState) }, data };
    return this.snap;
  }

  /** drops entries up to and including `index` (must be <= the snapshot index) */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.snap.metadata.index) throw new RaftError('InvalidArgument', `compact ${index} beyond snapshot`);
    const i = index - this.offset;
    const dummy = this.ents[i] as Entry;
    const head: Entry = { index: dummy.index, term: dummy.term, type: EntryType.Normal, data: new Uint8Array() };
    this.ents = [head, ...this.ents.slice(i + 1)];
  }
}

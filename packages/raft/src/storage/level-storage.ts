// Durable raft storage on level (LevelDB). Reads are synchronous from an in-memory copy of the
// uncompacted log (loaded at open, bounded by compaction); every write is one atomic batch
// written with sync: true, so a resolved save() has reached the disk.
import { Level } from 'level';
import { entrySize, limitSize } from '../core/log.js';
import { cloneConfState } from '../core/confchange.js';
import { RaftError, type ConfState, type Entry, type HardState, type NodeId, type RaftStorageReader, type Snapshot } from '../core/types.js';
import {
  ENTRY_PREFIX,
  KEY_BOOTSTRAP,
  KEY_HARD_STATE,
  KEY_OFFSET,
  KEY_SNAP_DATA,
  KEY_SNAP_META,
  decodeBootstrap,
  decodeEntry,
  decodeHardState,
  decodeOffset,
  decodeSnapMeta,
  encodeBootstrap,
  encodeEntry,
  encodeHardState,
  encodeOffset,
  encodeSnapMeta,
  entryKey,
  entryKeyIndex,
} from './codec.js';

type Db = Level<Buffer, Buffer>;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface LevelStorageOptions {
  /** write with fsync (default true); false only for tests that do not care about durability */
  sync?: boolean;
}

export class LevelStorage implements RaftStorageReader {
  private hs: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  /** the cluster's configuration at index 0 (founding voters), kept apart from snapshots */
  private boot: ConfState | undefined;
  private bootAddrs = new Map<NodeId, string>();
  /** the log floor: index and term of the last compacted entry (entries start at offset + 1) */
  private offset = 0;
  private offsetTerm = 0;
  /** entries offset+1 .. lastIndex, in order */
  private ents: Entry[] = [];
  /**
   * byte positions: pos[i] is the total entrySize() of the log up to and including ents[i], and
   * basePos that up to the offset; only differences matter (bytesBetween), so they never rebase
   */
  private pos: number[] = [];
  private basePos = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly sync: boolean;

  private constructor(
    private readonly db: Db,
    opts: LevelStorageOptions,
  ) {
    this.sync = opts.sync ?? true;
    this.snap = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array() };
  }

  static async open(dir: string, opts: LevelStorageOptions = {}): Promise<LevelStorage> {
    const db: Db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const s = new LevelStorage(db, opts);
    try {
      await s.load();
    } catch (err) {
      await db.close();
      throw err;
    }
    return s;
  }

  private async load(): Promise<void> {
    const hs = await this.db.get(KEY_HARD_STATE);
    if (hs) this.hs = decodeHardState(hs);
    const meta = await this.db.get(KEY_SNAP_META);
    if (meta) {
      const data = await this.db.get(KEY_SNAP_DATA);
      this.snap = { metadata: decodeSnapMeta(meta), data: new Uint8Array(data ?? new Uint8Array()) };
    }
    const boot = await this.db.get(KEY_BOOTSTRAP);
    if (boot) ({ confState: this.boot, addrs: this.bootAddrs } = decodeBootstrap(boot));
    else if (meta && this.snap.metadata.index === 0 && !confStateEmpty(this.snap.metadata.confState)) {
      // written before the bootstrap had a key of its own: the index-0 snapshot metadata is it
      this.boot = cloneConfState(this.snap.metadata.confState);
    }
    const off = await this.db.get(KEY_OFFSET);
    if (off) ({ index: this.offset, term: this.offsetTerm } = decodeOffset(off));
    const ents: Entry[] = [];
    const hi = Buffer.from([ENTRY_PREFIX + 1]);
    for await (const [k, v] of this.db.iterator({ gt: entryKey(this.offset), lt: hi })) {
      const i = entryKeyIndex(k);
      const expected = this.offset + 1 + ents.length;
      if (i !== expected) throw new Error(`raft storage: log has a gap (expected index ${expected}, found ${i})`);
      ents.push(decodeEntry(i, v));
    }
    this.ents = ents;
    this.pos = positions(0, ents);
    this.basePos = 0;
  }

  /**
   * A brand-new member's initial configuration (only on an empty storage): the cluster's
   * bootstrap configuration, i.e. the founding voters for a founding member, or what the cluster
   * answered for a joining one (its log's conf changes then replay to the cluster's members).
   * It is also kept under a key of its own that compaction never touches, so that this member
   * can hand it on to later joiners (bootstrapConfState()).
   */
  async bootstrap(confState: ConfState, addrs: ReadonlyMap<NodeId, string> = new Map()): Promise<void> {
    if (!this.isEmpty()) return;
    if (confStateEmpty(confState)) throw new RaftError('InvalidArgument', 'raft storage: empty bootstrap configuration');
    const metadata = { index: 0, term: 0, confState: cloneConfState(confState) };
    await this.write([
      { type: 'put', key: KEY_SNAP_META, value: encodeSnapMeta(metadata) },
      { type: 'put', key: KEY_BOOTSTRAP, value: encodeBootstrap(confState, addrs) },
    ]);
    this.snap = { metadata, data: new Uint8Array() };
    this.boot = cloneConfState(confState);
    this.bootAddrs = new Map(addrs);
  }

  /**
   * The founding members' addresses as known at bootstrap: the log's membership changes carry
   * the addresses of the members added later, but not of those (a restarted joiner needs them).
   */
  bootstrapAddrs(): Map<NodeId, string> {
    return new Map(this.bootAddrs);
  }

  /** the cluster's bootstrap configuration (index 0), or undefined if this storage never learnt it */
  bootstrapConfState(): ConfState | undefined {
    return this.boot ? cloneConfState(this.boot) : undefined;
  }

  /** nothing was ever written (no log, no term, no configuration) */
  isEmpty(): boolean {
    return this.lastIndex() === 0 && this.hs.term === 0 && this.snap.metadata.index === 0 && confStateEmpty(this.snap.metadata.confState);
  }

  // ---- RaftStorageReader ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hs }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length;
  }

  term(index: number): number {
    if (index < this.offset) throw new RaftError('Compacted', `index ${index} is compacted`);
    if (index === this.offset) return this.offsetTerm;
    const e = this.ents[index - this.offset - 1];
    if (!e) throw new RaftError('Unavailable', `index ${index} is unavailable`);
    return e.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new RaftError('Compacted', `index ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) throw new RaftError('Unavailable', `entries [${lo},${hi}) past last index`);
    return limitSize(this.ents.slice(lo - this.offset - 1, hi - this.offset - 1), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Total entrySize() of the stored entries (lo, hi], clamped to what is held (offset, lastIndex]:
   * lets the driver snapshot by accumulated log bytes and not only by entry count.
   */
  bytesBetween(lo: number, hi: number): number {
    const a = Math.max(lo, this.offset);
    const b = Math.min(hi, this.lastIndex());
    if (b <= a) return 0;
    const at = (i: number): number => (i === this.offset ? this.basePos : (this.pos[i - this.offset - 1] as number));
    return at(b) - at(a);
  }

  /**
   * Where to compact when snapshotting at `index` so that at most `keepEntries` entries and at
   * most `keepBytes` bytes stay behind it (always at least the entry at `index` itself may go;
   * never below the current offset).
   */
  compactionPoint(index: number, keepEntries: number, keepBytes: number): number {
    let upTo = Math.max(this.offset, index - keepEntries);
    while (upTo < index && this.bytesBetween(upTo, index) > keepBytes) upTo++;
    return upTo;
  }

  hardState(): HardState {
    return { ...this.hs };
  }

  // ---- writes ----

  /**
   * Persists one Ready atomically and synced: an optional snapshot received from the leader
   * (replacing the whole log), entries (overwriting any conflicting suffix) and the hard state.
   */
  save(hardState: HardState | undefined, entries: Entry[], snapshot?: Snapshot): Promise<void> {
    return this.serial(async () => {
      const ops: BatchOp[] = [];
      let snap = this.snap;
      let offset = this.offset;
      let offsetTerm = this.offsetTerm;
      let ents = this.ents;
      let pos = this.pos;
      let basePos = this.basePos;
      if (snapshot && snapshot.metadata.index > snap.metadata.index) {
        for (const e of ents) ops.push({ type: 'del', key: entryKey(e.index) });
        ops.push({ type: 'put', key: KEY_SNAP_META, value: encodeSnapMeta(snapshot.metadata) });
        ops.push({ type: 'put', key: KEY_SNAP_DATA, value: Buffer.from(snapshot.data) });
        snap = snapshot;
        offset = snapshot.metadata.index;
        offsetTerm = snapshot.metadata.term;
        ops.push({ type: 'put', key: KEY_OFFSET, value: encodeOffset(offset, offsetTerm) });
        basePos = pos.length > 0 ? (pos[pos.length - 1] as number) : basePos;
        ents = [];
        pos = [];
      }
      if (entries.length > 0) {
        let toAdd = entries;
        const first = (entries[0] as Entry).index;
        if (first <= offset) toAdd = entries.slice(offset + 1 - first); // already covered by the snapshot
        if (toAdd.length > 0) {
          const start = (toAdd[0] as Entry).index;
          const last = offset + ents.length;
          if (start > last + 1) throw new Error(`raft storage: gap before index ${start} (last ${last})`);
          const newLast = (toAdd[toAdd.length - 1] as Entry).index;
          // entries past the new tail belong to a conflicting suffix: delete them
          for (let i = newLast + 1; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
          for (const e of toAdd) ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(e) });
          const keep = start - offset - 1;
          ents = ents.slice(0, keep).concat(toAdd);
          pos = pos.slice(0, keep).concat(positions(keep > 0 ? (pos[keep - 1] as number) : basePos, toAdd));
        }
      }
      const hs = hardState ?? this.hs;
      if (hardState) ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(hardState) });
      if (ops.length === 0) return;
      // like etcd's WAL: a change of the commit index alone need not be synced (it is recovered
      // from the leader); entries, snapshots, term and vote always are
      const mustSync = entries.length > 0 || snapshot !== undefined || hs.term !== this.hs.term || hs.vote !== this.hs.vote;
      await this.write(ops, mustSync);
      this.snap = snap;
      this.offset = offset;
      this.offsetTerm = offsetTerm;
      this.ents = ents;
      this.pos = pos;
      this.basePos = basePos;
      this.hs = { ...hs };
    });
  }

  /**
   * Records a snapshot of the state machine at `index` (applied, hence committed and stored) and
   * deletes the entries up to `compactTo` (<= index) in the same synced batch; the entries between
   * compactTo and index stay, so that a follower a little behind still catches up from the log.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array, compactTo: number = index): Promise<Snapshot> {
    return this.serial(async () => {
      if (index <= this.snap.metadata.index) return this.snap;
      if (index > this.lastIndex()) throw new RaftError('Unavailable', `snapshot index ${index} past last index`);
      const metadata = { index, term: this.term(index), confState: cloneConfState(confState) };
      const ops: BatchOp[] = [
        { type: 'put', key: KEY_SNAP_META, value: encodeSnapMeta(metadata) },
        { type: 'put', key: KEY_SNAP_DATA, value: Buffer.from(data) },
      ];
      const upTo = Math.min(compactTo, index);
      let offsetTerm = this.offsetTerm;
      if (upTo > this.offset) {
        offsetTerm = this.term(upTo);
        for (let i = this.offset + 1; i <= upTo; i++) ops.push({ type: 'del', key: entryKey(i) });
        ops.push({ type: 'put', key: KEY_OFFSET, value: encodeOffset(upTo, offsetTerm) });
      }
      await this.write(ops);
      this.snap = { metadata, data };
      if (upTo > this.offset) {
        const drop = upTo - this.offset;
        this.basePos = this.pos[drop - 1] as number;
        this.ents = this.ents.slice(drop);
        this.pos = this.pos.slice(drop);
        this.offset = upTo;
        this.offsetTerm = offsetTerm;
      }
      return this.snap;
    });
  }

  private async write(ops: BatchOp[], sync = true): Promise<void> {
    if (this.closed) throw new RaftError('Unavailable', 'raft storage is closed');
    await this.db.batch(ops, { sync: this.sync && sync });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

function positions(start: number, ents: Entry[]): number[] {
  const out: number[] = new Array<number>(ents.length);
  let p = start;
  for (let i = 0; i < ents.length; i++) {
    p += entrySize(ents[i] as Entry);
    out[i] = p;
  }
  return out;
}

function confStateEmpty(cs: ConfState): boolean {
  return cs.voters.length === 0 && cs.learners.length === 0;
}

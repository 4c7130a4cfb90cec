// Durable raft storage: a write-ahead log (wal.ts) in front of level (LevelDB). Reads are
// synchronous from an in-memory copy of the uncompacted log (loaded at open, bounded by
// compaction).
//
// This departs from "every write is one synced level batch" (issue 3, item 2) for the log and the
// hard state, to take level's synced writes off raft's commit path. Measured in the raft bench
// on a quiet machine before this change: a save() with sync: true took ~3 ms on the leader and
// 4-18 ms on a follower (level appends to a growing log file, so each sync also journals the new
// file size, and its writes queue behind one another on the thread pool), against 0.3-0.8 ms for
// one fdatasync of a write into a preallocated file (bench: 109-229 writes/s with one client, p50
// 3.2-7.3 ms; etcd 448-520/s, 1.7-1.9 ms). On a loaded machine (load 20-28 on 2 cores) both are
// ~0.7-1 ms alone and ~3-5 ms inside the bench, where waiting for a CPU dominates.
// So:
//  - save() appends one WAL record (hard state + entries) with one write and one fdatasync; once
//    it resolves, the write is durable (a change of the commit index alone is not synced);
//  - the same changes are later applied to level in the background (level-writer.ts), without
//    sync, in batches that also record the last WAL seq they include (key "w"); level stays the
//    store of record with the layout of codec.ts. Later: only when they are many, or a
//    checkpoint or a snapshot needs them; entries a snapshot compacts before then are never
//    written to level at all (level's per-entry write path was the largest CPU cost of a
//    follower in the raft bench);
//  - now and then (a WAL segment filled up, a snapshot) a checkpoint makes level durable
//    (compactRange flushes and syncs its memtable) and deletes the WAL segments it covers;
//  - snapshots (created here or received from the leader) and the bootstrap are written to level
//    directly in synced batches, as before;
//  - open() = open level, then replay the WAL records after level's "w".
import { join } from 'node:path';
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
  KEY_WAL_SEQ,
  decodeBootstrap,
  decodeEntry,
  decodeHardState,
  decodeOffset,
  decodeSeq,
  decodeSnapMeta,
  encodeBootstrap,
  encodeHardState,
  encodeOffset,
  encodeSeq,
  encodeSnapMeta,
  entryKey,
  entryKeyIndex,
} from './codec.js';
import { LevelWriter, flushLevel, toBatchOp, type BatchOp, type Db, type PendingOp } from './level-writer.js';
import { Wal } from './wal.js';
import type { SaveRecord } from './wal-record.js';

export interface LevelStorageOptions {
  /** write with fsync (default true); false only for tests that do not care about durability */
  sync?: boolean;
  /** size of a write-ahead log segment file (default 64 MiB) */
  walSegmentBytes?: number;
  /** operations per batch of the background writes to level (default 512; tests make it small) */
  levelSliceOps?: number;
}

const DEFAULT_SEGMENT_BYTES = 64 << 20;

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
  /** the range deletes of compacted entries (clearCompacted), in order */
  private clearing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly sync: boolean;
  private wal!: Wal;
  /** applies the WAL records' changes to level, later */
  private writer!: LevelWriter;

  private constructor(
    private readonly db: Db,
    private readonly opts: LevelStorageOptions,
  ) {
    this.sync = opts.sync ?? true;
    this.snap = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array() };
  }

  /** opens level in `dir` and the write-ahead log in `dir`/wal, replaying the log into level */
  static async open(dir: string, opts: LevelStorageOptions = {}): Promise<LevelStorage> {
    const db: Db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const s = new LevelStorage(db, opts);
    try {
      await s.load();
      await s.recover(join(dir, 'wal'), opts.walSegmentBytes ?? DEFAULT_SEGMENT_BYTES);
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
    // compacted entries a crash left before their range delete (see createSnapshot)
    if (this.offset > 0) await this.db.clear({ gte: entryKey(0), lte: entryKey(this.offset) });
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

  /** replays the WAL records level does not have yet, and writes them to level */
  private async recover(walDir: string, segmentBytes: number): Promise<void> {
    const w = await this.db.get(KEY_WAL_SEQ);
    const after = w ? decodeSeq(w) : 0;
    const ops: BatchOp[] = [];
    const loadedHigh = this.lastIndex();
    const { wal } = await Wal.open(walDir, after, { segmentBytes, sync: this.sync }, (r: SaveRecord) => {
      this.checkAppend(r.entries);
      for (const op of this.applyLog(r.hardState, r.entries)) ops.push(toBatchOp(op));
    });
    this.wal = wal;
    if (ops.length > 0 || wal.lastSeq() !== after) {
      ops.push({ type: 'put', key: KEY_WAL_SEQ, value: encodeSeq(wal.lastSeq()) });
      await this.db.batch(ops, { sync: false });
    }
    this.writer = new LevelWriter(this.db, wal, Math.max(loadedHigh, this.lastIndex()), this.opts.levelSliceOps);
    if (wal.segmentCount() > 1) this.writer.checkpoint();
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
   * Persists one Ready: an optional snapshot received from the leader (replacing the whole log),
   * entries (overwriting any conflicting suffix) and the hard state. Resolved once durable.
   */
  save(hardState: HardState | undefined, entries: Entry[], snapshot?: Snapshot): Promise<void> {
    return this.serial(async () => {
      this.check();
      if (snapshot && snapshot.metadata.index > this.snap.metadata.index) return this.saveSnapshot(hardState, entries, snapshot);
      if (!hardState && entries.length === 0) return;
      this.checkAppend(entries);
      // like etcd's WAL: a change of the commit index alone need not be synced (it is recovered
      // from the leader); entries, term and vote always are
      const mustSync = entries.length > 0 || (hardState !== undefined && (hardState.term !== this.hs.term || hardState.vote !== this.hs.vote));
      const segs = this.wal.segmentCount();
      const seq = await this.wal.append(hardState, entries, mustSync);
      this.writer.add(this.applyLog(hardState, entries), seq);
      if (this.wal.segmentCount() > segs) this.writer.checkpoint();
    });
  }

  /** throws if `entries` would leave a gap after the log (before anything is written) */
  private checkAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    const last = this.lastIndex();
    const start = Math.max(first, this.offset + 1);
    if (start <= (entries[entries.length - 1] as Entry).index && start > last + 1) throw new Error(`raft storage: gap before index ${start} (last ${last})`);
  }

  /**
   * Applies entries (checked by checkAppend) and a hard state to the in-memory log, in place,
   * and returns the level operations that do the same.
   */
  private applyLog(hardState: HardState | undefined, entries: readonly Entry[]): PendingOp[] {
    const ops: PendingOp[] = [];
    if (entries.length > 0) {
      const first = (entries[0] as Entry).index;
      const skip = Math.max(0, this.offset + 1 - first); // already covered by the snapshot
      if (skip < entries.length) {
        const start = first + skip;
        const last = this.lastIndex();
        const newLast = (entries[entries.length - 1] as Entry).index;
        // entries past the new tail belong to a conflicting suffix: delete them
        for (let i = newLast + 1; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
        const keep = start - this.offset - 1;
        if (keep < this.ents.length) {
          this.ents.length = keep;
          this.pos.length = keep;
        }
        let p = keep > 0 ? (this.pos[keep - 1] as number) : this.basePos;
        for (let j = skip; j < entries.length; j++) {
          const e = entries[j] as Entry;
          ops.push({ type: 'ent', e });
          p += entrySize(e);
          this.ents.push(e);
          this.pos.push(p);
        }
      }
    }
    if (hardState) {
      ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(hardState) });
      this.hs = { ...hardState };
    }
    return ops;
  }

  /**
   * A snapshot from the leader replaces the log: written to level directly, synced, with level
   * first made durable up to the WAL's last record, so that no WAL record before the snapshot is
   * ever replayed on top of it.
   */
  private async saveSnapshot(hardState: HardState | undefined, entries: Entry[], snapshot: Snapshot): Promise<void> {
    await this.drain();
    await flushLevel(this.db);
    const ops: BatchOp[] = [];
    for (let i = this.offset + 1; i <= Math.min(this.lastIndex(), this.writer.levelHigh); i++) ops.push({ type: 'del', key: entryKey(i) });
    ops.push({ type: 'put', key: KEY_SNAP_META, value: encodeSnapMeta(snapshot.metadata) });
    ops.push({ type: 'put', key: KEY_SNAP_DATA, value: bufferView(snapshot.data) });
    ops.push({ type: 'put', key: KEY_OFFSET, value: encodeOffset(snapshot.metadata.index, snapshot.metadata.term) });
    ops.push({ type: 'put', key: KEY_WAL_SEQ, value: encodeSeq(this.wal.lastSeq()) });
    const prev = { ents: this.ents, pos: this.pos, basePos: this.basePos, offset: this.offset, offsetTerm: this.offsetTerm, hs: this.hs };
    this.basePos = this.pos.length > 0 ? (this.pos[this.pos.length - 1] as number) : this.basePos;
    this.ents = [];
    this.pos = [];
    this.offset = snapshot.metadata.index;
    this.offsetTerm = snapshot.metadata.term;
    try {
      this.checkAppend(entries);
      for (const op of this.applyLog(hardState, entries)) ops.push(toBatchOp(op));
      await this.write(ops);
    } catch (err) {
      ({ ents: this.ents, pos: this.pos, basePos: this.basePos, offset: this.offset, offsetTerm: this.offsetTerm, hs: this.hs } = prev);
      throw err;
    }
    this.writer.levelHigh = Math.max(this.writer.levelHigh, this.lastIndex());
    this.snap = snapshot;
    this.writer.checkpoint();
  }

  /**
   * Records a snapshot of the state machine at `index` (applied, hence committed and stored) and
   * deletes the entries up to `compactTo` (<= index) in the same synced batch; the entries between
   * compactTo and index stay, so that a follower a little behind still catches up from the log.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array, compactTo: number = index): Promise<Snapshot> {
    return this.serial(async () => {
      this.check();
      if (index <= this.snap.metadata.index) return this.snap;
      if (index > this.lastIndex()) throw new RaftError('Unavailable', `snapshot index ${index} past last index`);
      const metadata = { index, term: this.term(index), confState: cloneConfState(confState) };
      const ops: BatchOp[] = [
        { type: 'put', key: KEY_SNAP_META, value: encodeSnapMeta(metadata) },
        { type: 'put', key: KEY_SNAP_DATA, value: bufferView(data) },
      ];
      const upTo = Math.min(compactTo, index);
      let offsetTerm = this.offsetTerm;
      // The compacted entries that level has (most never reached it, see LevelWriter) are deleted
      // after this batch, by a range delete that runs off the event loop: once the batch moved
      // the offset, nothing reads them (load() starts after it, and cleans up what a crash left).
      // Thousands of deletes in this batch held the event loop for ~100 ms.
      const clearFrom = this.offset;
      const clearTo = Math.min(upTo, this.writer.levelHigh);
      if (upTo > this.offset) {
        offsetTerm = this.term(upTo);
        ops.push({ type: 'put', key: KEY_OFFSET, value: encodeOffset(upTo, offsetTerm) });
      }
      // The entries this batch deletes that are not in level yet are never written (most entries
      // reach level this way: never); the other pending changes go in this same batch, which
      // moves "w" to the last WAL record: written on their own first, a crash before this batch
      // would leave level with "w" past entries it does not have (a gap in the log). A background
      // write still running finishes first, so that it cannot put back entries deleted here.
      if (upTo > this.offset) this.writer.dropPendingUpTo(upTo);
      await this.writer.idle();
      this.check();
      const taken = this.writer.take();
      if (taken) for (const op of taken.batch) ops.push(op);
      try {
        await this.write(ops);
      } catch (err) {
        if (taken) this.writer.putBack(taken);
        throw err;
      }
      if (taken) this.writer.written(taken);
      if (clearTo > clearFrom) this.clearCompacted(clearFrom, clearTo);
      this.snap = { metadata, data };
      if (upTo > this.offset) {
        const drop = upTo - this.offset;
        this.basePos = this.pos[drop - 1] as number;
        this.ents = this.ents.slice(drop);
        this.pos = this.pos.slice(drop);
        this.offset = upTo;
        this.offsetTerm = offsetTerm;
      }
      this.writer.checkpoint();
      return this.snap;
    });
  }

  /** number of write-ahead log segment files (for tests) */
  walSegments(): number {
    return this.wal.segmentCount();
  }

  /**
   * Deletes the entries (from, to] that a snapshot compacted, in the background: a range delete
   * (classic-level iterates and deletes in its own thread). Failing is harmless: the next open
   * deletes whatever lies at or below the offset.
   */
  private clearCompacted(from: number, to: number): void {
    this.clearing = this.clearing.then(() => this.db.clear({ gt: entryKey(from), lte: entryKey(to) })).catch(() => undefined);
  }

  /** waits for the background writes to level and a running checkpoint (for tests) */
  async settle(): Promise<void> {
    await this.drain();
    await this.writer.checkpointDone();
    await this.clearing;
    this.check();
  }

  /** writes to level every WAL record written so far, and waits for it */
  private async drain(): Promise<void> {
    await this.writer.drain();
    this.check();
  }

  private check(): void {
    if (this.closed) throw new RaftError('Unavailable', 'raft storage is closed');
    const failed = this.writer.failed;
    if (failed) throw new RaftError('Unavailable', `raft storage failed: ${failed.message}`);
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
    await this.writer.close();
    await this.clearing;
    this.closed = true;
    await this.wal.close();
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

/** the same bytes as a Buffer, without a copy (a snapshot's data is never changed once made) */
function bufferView(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

// The lazy level writer behind LevelStorage: the changes of WAL records already written (durable
// in the WAL) reach level later, in the background and unsynced, in batches that also record the
// last WAL seq they include (key "w"); only when they are many, or a checkpoint, a snapshot or a
// drain needs them. Entries a snapshot compacts before then are never written to level at all.
// A checkpoint makes level durable and deletes the WAL segments it covers.
import type { Level } from 'level';
import { entrySize } from '../core/log.js';
import type { Entry } from '../core/types.js';
import { KEY_HARD_STATE, KEY_WAL_SEQ, encodeEntry, encodeSeq, entryKey } from './codec.js';
import type { Wal } from './wal.js';

export type Db = Level<Buffer, Buffer>;
export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
/** a level change not written yet: entries are encoded only when written (most never are, see pump) */
export type PendingOp = BatchOp | { type: 'ent'; e: Entry };

/** pending level changes (see pump) are written once there are this many, or entries of this many bytes */
const PUMP_OPS = 20_000;
const PUMP_BYTES = 32 << 20;
/**
 * A background write goes to level in batches of about this many operations, each awaited before
 * the next is made: building a batch is synchronous (abstract-level checks and encodes every
 * operation, ~10 us each), and 10-20k operations in one batch held the event loop for 150-380 ms,
 * on every member at once (they reach the same WAL position together).
 */
export const PUMP_SLICE = 512;
/** a key range that holds no keys: compactRange over it only flushes (and syncs) the memtable */
const EMPTY_RANGE: [Buffer, Buffer] = [Buffer.from('z0'), Buffer.from('z1')];

/** pending changes taken out of the writer to go into another batch (see take) */
export interface TakenChanges {
  /** the level operations, ending with the put of "w" */
  batch: BatchOp[];
  ops: PendingOp[];
  hs: BatchOp | undefined;
  bytes: number;
  seq: number;
}

export class LevelWriter {
  /** level changes of WAL records written but not yet applied to level, and the last such seq */
  private pending: PendingOp[] = [];
  /** the last hard state of the pending records (only the last one is worth writing) */
  private pendingHs: BatchOp | undefined;
  /** bytes of the entries in `pending` */
  private pendingBytes = 0;
  private pendingSeq: number;
  /** the last WAL seq whose changes level has (not necessarily durably) */
  private appliedSeq: number;
  private pumping: Promise<void> | undefined;
  private checkpointing: Promise<void> | undefined;
  private closed = false;
  /** a background write or checkpoint failed: the storage refuses further writes */
  failed: Error | undefined;

  /**
   * @param levelHigh no entry above this index is in level (deletes need not go past it)
   */
  constructor(
    private readonly db: Db,
    private readonly wal: Wal,
    public levelHigh: number,
    /** operations per background batch (PUMP_SLICE; tests make it small) */
    private readonly sliceOps = PUMP_SLICE,
  ) {
    this.appliedSeq = wal.lastSeq();
    this.pendingSeq = this.appliedSeq;
  }

  /** the level changes `ops` of WAL record `seq` (just written) are to be applied to level */
  add(ops: readonly PendingOp[], seq: number): void {
    for (const op of ops) {
      if (op.type === 'put' && op.key === KEY_HARD_STATE) this.pendingHs = op;
      else {
        this.pending.push(op);
        if (op.type === 'ent') this.pendingBytes += entrySize(op.e);
      }
    }
    this.pendingSeq = seq;
    if (this.pending.length >= PUMP_OPS || this.pendingBytes >= PUMP_BYTES) this.pump();
  }

  /** forgets the pending puts of entries up to `index` (about to be compacted away) */
  dropPendingUpTo(index: number): void {
    const keep: PendingOp[] = [];
    let bytes = 0;
    for (const op of this.pending) {
      if (op.type === 'ent') {
        if (op.e.index <= index) continue;
        bytes += entrySize(op.e);
      }
      keep.push(op);
    }
    this.pending = keep;
    this.pendingBytes = bytes;
  }

  /** waits for a background write to level that is running, if any */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /**
   * Takes the pending changes (undefined when level has every WAL record) for the caller to
   * write in a batch of its own; it then calls written() or, if that write failed, putBack().
   * Only while idle (see idle()).
   */
  take(): TakenChanges | undefined {
    if (this.pendingSeq <= this.appliedSeq) return undefined;
    const taken = { ops: this.pending, hs: this.pendingHs, bytes: this.pendingBytes, seq: this.pendingSeq };
    const batch = taken.ops.map(toBatchOp);
    if (taken.hs) batch.push(taken.hs);
    batch.push({ type: 'put', key: KEY_WAL_SEQ, value: encodeSeq(taken.seq) });
    this.pending = [];
    this.pendingHs = undefined;
    this.pendingBytes = 0;
    return { batch, ...taken };
  }

  /** the changes taken were written to level */
  written(taken: TakenChanges): void {
    this.appliedSeq = taken.seq;
    this.levelHigh = Math.max(this.levelHigh, highestEntry(taken.ops));
  }

  /** the changes taken were not written: they are pending again */
  putBack(taken: TakenChanges): void {
    this.pending = [...taken.ops, ...this.pending];
    this.pendingHs ??= taken.hs;
    this.pendingBytes += taken.bytes;
  }

  /**
   * Applies the pending WAL records' changes to level, unsynced, in the background. Not after
   * every save: the changes wait until they are many (PUMP_OPS, PUMP_BYTES), a checkpoint, a
   * snapshot or a drain needs them. Level's own write path (a batch, an op per entry) was the
   * largest CPU cost of a follower, and most entries are compacted away by the next snapshot
   * before they are ever written; the WAL keeps them durable meanwhile (open() replays it).
   */
  private pump(): void {
    if (this.pumping || this.failed) return;
    this.pumping = (async () => {
      try {
        while (this.pendingSeq > this.appliedSeq) {
          const taken = this.pending;
          const hs = this.pendingHs;
          const seq = this.pendingSeq;
          this.pending = [];
          this.pendingHs = undefined;
          this.pendingBytes = 0;
          const high = highestEntry(taken);
          this.levelHigh = Math.max(this.levelHigh, high); // before the write: a delete racing it must cover it
          for (let from = 0; ; ) {
            const to = sliceEnd(taken, from, this.sliceOps);
            const ops = taken.slice(from, to).map(toBatchOp);
            if (to < taken.length) {
              await this.db.batch(ops, { sync: false });
              from = to;
              continue;
            }
            // the last slice moves "w": only then does level claim these WAL records
            if (hs) ops.push(hs);
            ops.push({ type: 'put', key: KEY_WAL_SEQ, value: encodeSeq(seq) });
            await this.db.batch(ops, { sync: false });
            break;
          }
          this.appliedSeq = seq;
        }
      } catch (err) {
        this.failed = err instanceof Error ? err : new Error(String(err));
      } finally {
        this.pumping = undefined;
      }
    })();
  }

  /** writes to level every WAL record written so far, and waits for it */
  async drain(): Promise<void> {
    if (this.pendingSeq > this.appliedSeq) this.pump();
    await this.idle();
  }

  /**
   * Makes level durable up to what it has now (compactRange flushes its memtable into a synced
   * table file) and deletes the WAL segments that holds no record after that. In the background.
   */
  checkpoint(): void {
    if (this.checkpointing || this.failed) return;
    this.checkpointing = (async () => {
      try {
        if (this.pendingSeq > this.appliedSeq) this.pump();
        if (this.pumping) await this.pumping;
        const upTo = this.appliedSeq;
        await flushLevel(this.db);
        await this.wal.removeUpTo(upTo);
      } catch (err) {
        if (!this.closed) this.failed = err instanceof Error ? err : new Error(String(err));
      } finally {
        this.checkpointing = undefined;
      }
    })();
  }

  /** waits for a running checkpoint, if any */
  async checkpointDone(): Promise<void> {
    while (this.checkpointing) await this.checkpointing;
  }

  /** level gets what it has not yet (a reopen need not replay the WAL for it); then nothing more is written */
  async close(): Promise<void> {
    await this.drain();
    await this.checkpointDone();
    this.closed = true;
  }
}

/**
 * Makes everything written to level so far durable: compactRange (classic-level, which `level`
 * is on Node) first flushes the memtable into a table file that LevelDB syncs, with its manifest,
 * before it returns; over a range without keys it does nothing else.
 */
export async function flushLevel(db: Db): Promise<void> {
  await (db as unknown as { compactRange(start: Buffer, end: Buffer): Promise<void> }).compactRange(...EMPTY_RANGE);
}

export function toBatchOp(op: PendingOp): BatchOp {
  return op.type === 'ent' ? { type: 'put', key: entryKey(op.e.index), value: encodeEntry(op.e) } : op;
}

/**
 * Where the slice of `ops` from `from` ends (exclusive): after `sliceOps` operations or more, and
 * only before the put of an entry. Level may then hold changes of WAL records past "w" (a crash
 * before the last slice): open() replays those records over them, which ends in the same state,
 * since each slice ends where level's log is gap-free: a record's deletes of a conflicting tail
 * (a suffix) come before its entries' puts, and are never split from them.
 */
export function sliceEnd(ops: readonly PendingOp[], from: number, sliceOps = PUMP_SLICE): number {
  let to = Math.min(ops.length, from + Math.max(1, sliceOps));
  while (to < ops.length && (ops[to] as PendingOp).type !== 'ent') to++;
  return to;
}

function highestEntry(ops: readonly PendingOp[]): number {
  let high = 0;
  for (const op of ops) if (op.type === 'ent' && op.e.index > high) high = op.e.index;
  return high;
}

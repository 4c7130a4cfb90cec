// The raft write-ahead log: numbered records (wal-record.ts) appended to segment files
// <first seq, 16 hex digits>.wal in one directory. Each append is one write and, when asked, one
// fdatasync on the segment's own descriptor; the fdatasync runs on libuv's thread pool (the
// event loop never waits for the disk). Segments are zero-filled to their full size before use,
// so that an fdatasync neither allocates blocks nor journals a new file size (only the data is
// flushed): the first segment of a process is small and filled at open, the full-size ones that
// follow are filled in the background (spare.tmp, renamed into place when needed). Without sync
// (tests), segments are sparse files.
//
// Recovery reads the segments in order and hands every record after a given seq to the caller.
// A bad record (short, bad checksum) at the end of the last segment is the tail of a write that
// never completed: the segment is truncated there. A bad record anywhere else, or followed by a
// good one, or a good record out of sequence, is corruption: open fails naming the segment and
// the offset.
import * as fs from 'node:fs';
import { mkdir, open as openFile, type FileHandle, readFile, readdir, rename, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, HardState } from '../core/types.js';
import { decodeSave, encodeSave, scanRecord, type SaveRecord } from './wal-record.js';

export interface WalOptions {
  /** size of a segment file (a bigger record gets a segment of its own size) */
  segmentBytes: number;
  /** fdatasync appends that ask for it (false: never, for tests that do not care) */
  sync: boolean;
}

interface Segment {
  path: string;
  firstSeq: number;
  /** seq of the last record in it (firstSeq - 1 when empty) */
  lastSeq: number;
}

interface Current extends Segment {
  fd: number;
  size: number;
  pos: number;
  /** written since the last fdatasync */
  dirty: boolean;
}

const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
const SPARE = 'spare.tmp';
const ZEROS = Buffer.alloc(1 << 20);
/**
 * The segment a process starts with is zero-filled before use, so it is kept small (a few ms to
 * write); the full-size ones that follow are prepared in the background.
 */
const FIRST_SEGMENT_BYTES = 4 << 20;
/** records up to this size are written on the event loop's thread (see writeAt) */
const SYNC_WRITE_BYTES = 256 << 10;

export class WalError extends Error {
  constructor(message: string) {
    super(`raft wal: ${message}`);
    this.name = 'WalError';
  }
}

export class Wal {
  /** closed segments, oldest first */
  private closedSegs: Segment[] = [];
  private cur!: Current;
  private last: number;
  private spare: 'none' | 'preparing' | 'ready' = 'none';
  private spareDone: Promise<void> = Promise.resolve();
  private broken: Error | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly opts: WalOptions,
    lastSeq: number,
  ) {
    this.last = lastSeq;
  }

  /**
   * Opens (creating) the log in `dir`, calls `onRecord` for every record after `afterSeq`, in
   * order, and starts a new segment for what follows. `torn` reports a truncated tail.
   */
  static async open(
    dir: string,
    afterSeq: number,
    opts: WalOptions,
    onRecord: (r: SaveRecord) => void,
  ): Promise<{ wal: Wal; replayed: number; torn: { segment: string; offset: number } | undefined }> {
    await mkdir(dir, { recursive: true });
    await unlink(join(dir, SPARE)).catch(() => undefined);
    const names = (await readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const segs: Segment[] = [];
    let expected: number | undefined;
    let replayed = 0;
    let torn: { segment: string; offset: number } | undefined;
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const path = join(dir, name);
      const buf = await readFile(path);
      const seg: Segment = { path, firstSeq: parseInt(name.slice(0, 16), 16), lastSeq: 0 };
      seg.lastSeq = seg.firstSeq - 1;
      let off = 0;
      for (;;) {
        const r = scanRecord(buf, off);
        if (r.kind === 'end') break;
        const why = r.kind === 'bad' ? r.why : '';
        if (r.kind === 'record' && expected === undefined && r.seq > afterSeq + 1) {
          throw new WalError(`records ${afterSeq + 1}..${r.seq - 1} are missing (segment ${name} starts at ${r.seq})`);
        }
        if (r.kind === 'record' && expected !== undefined && r.seq !== expected) {
          // a whole record with a good checksum cannot be a torn write
          throw new WalError(`segment ${name} is corrupt at offset ${off}: record ${r.seq} out of sequence (expected ${expected})`);
        }
        if (r.kind === 'record') {
          if (r.seq > afterSeq) {
            onRecord(decodeSave(r.body));
            replayed++;
          }
          seg.lastSeq = r.seq;
          expected = r.seq + 1;
          off = r.next;
          continue;
        }
        // a bad record: the torn tail of the last write, or corruption
        const lastSeg = i === names.length - 1;
        if (!lastSeg || followedByGoodRecord(buf, off, expected)) {
          throw new WalError(`segment ${name} is corrupt at offset ${off}: ${why}`);
        }
        await truncate(path, off);
        await fsyncPath(path);
        torn = { segment: name, offset: off };
        break;
      }
      segs.push(seg);
    }
    const wal = new Wal(dir, opts, Math.max(afterSeq, expected === undefined ? 0 : expected - 1));
    wal.closedSegs = segs;
    await wal.startSegment(0, true);
    return { wal, replayed, torn };
  }

  lastSeq(): number {
    return this.last;
  }

  /** number of segment files, the one being written included */
  segmentCount(): number {
    return this.closedSegs.length + 1;
  }

  /**
   * Appends one record and, if `sync`, makes it (and everything before it) durable. Not
   * reentrant: the caller waits for one append before the next. Returns the record's seq.
   */
  async append(hardState: HardState | undefined, entries: readonly Entry[], sync: boolean): Promise<number> {
    if (this.broken) throw this.broken;
    if (this.closed) throw new WalError('closed');
    const seq = this.last + 1;
    const buf = encodeSave(seq, hardState, entries);
    if (this.cur.pos + buf.byteLength > this.cur.size) await this.rotate(buf.byteLength);
    const c = this.cur;
    if (buf.byteLength <= SYNC_WRITE_BYTES) writeAt(c.fd, buf, c.pos);
    else await writeAtAsync(c.fd, buf, c.pos);
    c.pos += buf.byteLength;
    c.lastSeq = seq;
    this.last = seq;
    c.dirty = true;
    if (sync && this.opts.sync) await this.datasync(c);
    if (this.spare === 'none' && this.opts.sync && c.pos > c.size / 2) this.prepareSpare();
    return seq;
  }

  /** deletes the closed segments whose records all have a seq <= `seq`; returns how many */
  async removeUpTo(seq: number): Promise<number> {
    let n = 0;
    while (this.closedSegs.length > 0 && (this.closedSegs[0] as Segment).lastSeq <= seq) {
      const s = this.closedSegs.shift() as Segment;
      await unlink(s.path).catch(() => undefined);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.spareDone;
    const c = this.cur;
    if (c.dirty && this.opts.sync && !this.broken) await this.datasync(c).catch(() => undefined);
    await new Promise<void>((res) => fs.close(c.fd, () => res()));
  }

  private async datasync(c: Current): Promise<void> {
    try {
      await new Promise<void>((res, rej) => fs.fdatasync(c.fd, (err) => (err ? rej(err) : res())));
      c.dirty = false;
    } catch (err) {
      // after a failed fdatasync the kernel may have dropped the dirty pages: nothing written
      // since the last good one can be trusted, so the log refuses further writes
      this.broken = new WalError(`fdatasync of ${c.path} failed: ${(err as Error).message}`);
      throw this.broken;
    }
  }

  private async rotate(minBytes: number): Promise<void> {
    const old = this.cur;
    // a later synced record must not be acknowledged while an earlier one is not durable
    if (old.dirty && this.opts.sync) await this.datasync(old);
    await new Promise<void>((res) => fs.close(old.fd, () => res()));
    this.closedSegs.push({ path: old.path, firstSeq: old.firstSeq, lastSeq: old.lastSeq });
    await this.startSegment(minBytes);
  }

  /**
   * Opens a new segment for records from last + 1: the zero-filled spare if it is ready, else a
   * new file, zero-filled now if `fill` (the small first segment at open), else sparse (a
   * rotation never waits for the disk to write a whole segment; it then prepares the next spare).
   */
  private async startSegment(minBytes: number, fill = false): Promise<void> {
    const firstSeq = this.last + 1;
    const path = join(this.dir, `${firstSeq.toString(16).padStart(16, '0')}.wal`);
    const size = Math.max(fill ? Math.min(this.opts.segmentBytes, FIRST_SEGMENT_BYTES) : this.opts.segmentBytes, minBytes);
    // an empty segment left by a process that wrote nothing has this name: it is replaced
    this.closedSegs = this.closedSegs.filter((s) => s.path !== path);
    if (this.spare === 'ready' && size === this.opts.segmentBytes) {
      await rename(join(this.dir, SPARE), path);
      this.spare = 'none';
    } else {
      const h = await openFile(path, 'w');
      try {
        if (fill && this.opts.sync) {
          await zeroFill(h, size);
          await h.sync();
        } else await h.truncate(size);
      } finally {
        await h.close();
      }
    }
    if (this.opts.sync) await fsyncPath(this.dir);
    const fd = await new Promise<number>((res, rej) => fs.open(path, 'r+', (err, fd) => (err ? rej(err) : res(fd))));
    this.cur = { path, firstSeq, lastSeq: firstSeq - 1, fd, size, pos: 0, dirty: false };
    if (!fill && this.spare === 'none' && this.opts.sync) this.prepareSpare();
  }

  /** zero-fills the next segment in the background, a megabyte at a time */
  private prepareSpare(): void {
    this.spare = 'preparing';
    const path = join(this.dir, SPARE);
    this.spareDone = (async () => {
      try {
        const h = await openFile(path, 'w');
        try {
          await zeroFill(h, this.opts.segmentBytes, () => this.closed);
          await h.sync();
        } finally {
          await h.close();
        }
        this.spare = this.closed ? 'none' : 'ready';
      } catch {
        this.spare = 'none';
        await unlink(path).catch(() => undefined);
      }
    })();
  }
}

async function zeroFill(h: FileHandle, size: number, stop: () => boolean = () => false): Promise<void> {
  for (let off = 0; off < size && !stop(); off += ZEROS.byteLength) await h.write(ZEROS, 0, Math.min(ZEROS.byteLength, size - off), off);
}

function followedByGoodRecord(buf: Buffer, off: number, expected: number | undefined): boolean {
  if (off + 8 > buf.byteLength) return false;
  const len = buf.readUInt32BE(off);
  const next = off + 8 + len;
  if (len === 0 || next >= buf.byteLength) return false;
  const r = scanRecord(buf, next);
  return r.kind === 'record' && (expected === undefined || r.seq === expected + 1);
}

/**
 * Writes on the calling thread: a write of a few KB into the page cache of a preallocated file
 * takes microseconds, less than a round trip through the thread pool (on a loaded machine a
 * wakeup of the event loop can take longer than the disk); the fdatasync, which waits for the
 * disk, goes to the pool.
 */
function writeAt(fd: number, buf: Buffer, pos: number): void {
  let done = 0;
  while (done < buf.byteLength) done += fs.writeSync(fd, buf, done, buf.byteLength - done, pos + done);
}

/** a big record (a follower catching up) is written on the thread pool, not to hold the event loop */
function writeAtAsync(fd: number, buf: Buffer, pos: number): Promise<void> {
  return new Promise((res, rej) => {
    const step = (done: number): void => {
      fs.write(fd, buf, done, buf.byteLength - done, pos + done, (err, n) => {
        if (err) return rej(err);
        if (done + n < buf.byteLength) return step(done + n);
        res();
      });
    };
    step(0);
  });
}

async function fsyncPath(path: string): Promise<void> {
  const h = await openFile(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

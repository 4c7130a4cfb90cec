// The write-ahead log in front of level: torn tails, corruption, replay over level across a
// truncation, segments deleted behind checkpoints and snapshots, reopening again and again.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { LevelStorage } from '../../src/storage/index.js';
import { Wal } from '../../src/storage/wal.js';
import { encodeSave, scanRecord } from '../../src/storage/wal-record.js';
import { KEY_WAL_SEQ, decodeSeq, entryKeyIndex } from '../../src/storage/codec.js';
import { sliceEnd, type Db, type PendingOp } from '../../src/storage/level-writer.js';
import { EntryType, type Entry } from '../../src/core/types.js';

const ent = (index: number, term: number, s = `e${index}t${term}`): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(s) });
const text = (e: Entry): string => Buffer.from(e.data).toString();
const SMALL = 64 << 10; // 64 KiB segments, so that a test fills several

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-raft-wal-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function segments(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal')).sort();
}

/** offsets of the records in a segment file, and where its data ends */
async function records(path: string): Promise<{ offsets: number[]; end: number }> {
  const buf = await readFile(path);
  const offsets: number[] = [];
  let off = 0;
  for (;;) {
    const r = scanRecord(buf, off);
    if (r.kind !== 'record') break;
    offsets.push(off);
    off = r.next;
  }
  return { offsets, end: off };
}

async function patch(path: string, at: number, bytes: Uint8Array): Promise<void> {
  const buf = await readFile(path);
  buf.set(bytes, at);
  await writeFile(path, buf);
}

/** the entry indexes and the WAL position stored in level itself */
async function levelContents(dir: string): Promise<{ indexes: number[]; walSeq: number }> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    const indexes: number[] = [];
    for await (const k of db.keys({ gte: Buffer.from('e'), lt: Buffer.from('f') })) indexes.push(entryKeyIndex(k));
    const w = await db.get(KEY_WAL_SEQ);
    return { indexes, walSeq: w ? decodeSeq(w) : 0 };
  } finally {
    await db.close();
  }
}

test('a torn record at the tail is truncated; the storage reopens, appends and reopens again', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    await s.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1), ent(2, 1)]);
    await s.save(undefined, [ent(3, 1)]);
    await s.close();
    const segs = await segments(dir);
    const last = join(dir, 'wal', segs[segs.length - 1] as string);
    const { end } = await records(last);
    // half of a record for entries 4 and 5, as a write cut by a power failure leaves it
    const torn = encodeSave(99, undefined, [ent(4, 1), ent(5, 1)]);
    await patch(last, end, torn.subarray(0, torn.byteLength >> 1));
    s = await LevelStorage.open(dir);
    t.is(s.lastIndex(), 3, 'the torn record is not part of the log');
    t.deepEqual(s.entries(1, 4, 1e9).map(text), ['e1t1', 'e2t1', 'e3t1']);
    t.is((await readFile(last)).byteLength, end, 'the segment was truncated where the torn record began');
    await s.save(undefined, [ent(4, 1)]);
    await s.close();
    s = await LevelStorage.open(dir);
    t.is(s.lastIndex(), 4);
    t.deepEqual(s.entries(1, 5, 1e9).map(text), ['e1t1', 'e2t1', 'e3t1', 'e4t1']);
    await s.close();
  });
});

/** appends records level does not have yet, as if the process died before level had them */
async function appendBehindLevel(dir: string, batches: Entry[][], hs?: { term: number; vote: number; commit: number }): Promise<void> {
  const { walSeq } = await levelContents(dir);
  const { wal } = await Wal.open(join(dir, 'wal'), walSeq, { segmentBytes: SMALL, sync: true }, () => undefined);
  for (const b of batches) await wal.append(hs, b, true);
  await wal.close();
}

test('a last record with a bad checksum is a torn write too', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    await s.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1)]);
    await s.close();
    await appendBehindLevel(dir, [[ent(2, 1)]]);
    const segs = await segments(dir);
    const path = join(dir, 'wal', segs[segs.length - 1] as string);
    const { offsets, end } = await records(path);
    t.is(offsets.length, 1);
    await patch(path, end - 1, Buffer.from([0xff ^ (await readFile(path))[end - 1]!]));
    s = await LevelStorage.open(dir);
    t.is(s.lastIndex(), 1);
    await s.close();
  });
});

test('corruption before the tail fails the open, naming the segment and the offset', async (t) => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    await s.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1)]);
    await s.close();
    await appendBehindLevel(dir, [[ent(2, 1)], [ent(3, 1)]]);
    await appendBehindLevel(dir, [[ent(4, 1)]]); // a later segment
    const segs = await segments(dir);
    const second = segs[segs.length - 2] as string; // holds entries 2 and 3
    const path = join(dir, 'wal', second);
    const { offsets } = await records(path);
    t.is(offsets.length, 2);
    const at = (offsets[1] as number) - 1; // the last byte of the first record
    const orig = (await readFile(path))[at] as number;
    await patch(path, at, Buffer.from([orig ^ 0x5a]));
    await t.throwsAsync(LevelStorage.open(dir, { walSegmentBytes: SMALL }), { message: new RegExp(`segment ${second} is corrupt at offset ${offsets[0]}: checksum`) });
    // the same damage in the last segment, followed by a good record, is corruption as well
    await patch(path, at, Buffer.from([orig]));
    await rm(join(dir, 'wal', segs[segs.length - 1] as string));
    await patch(path, at, Buffer.from([orig ^ 0x5a]));
    await t.throwsAsync(LevelStorage.open(dir, { walSegmentBytes: SMALL }), { message: new RegExp(`segment ${second} is corrupt at offset ${offsets[0]}`) });
    await patch(path, at, Buffer.from([orig]));
    const r = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    t.is(r.lastIndex(), 3, 'repaired, it opens');
    await r.close();
  });
});

test('WAL records replayed over level truncate a conflicting suffix that level holds', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    await s.save({ term: 1, vote: 1, commit: 2 }, Array.from({ length: 10 }, (_, i) => ent(i + 1, 1)));
    await s.close();
    const before = await levelContents(dir);
    t.deepEqual(before.indexes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'level has the log');
    // a new leader's entries 6 and 7 reached the WAL, but the process died before level had them
    await appendBehindLevel(dir, [[ent(6, 2), ent(7, 2)]], { term: 2, vote: 2, commit: 5 });
    s = await LevelStorage.open(dir);
    t.is(s.lastIndex(), 7);
    t.deepEqual(s.entries(5, 8, 1e9).map(text), ['e5t1', 'e6t2', 'e7t2']);
    t.deepEqual(s.hardState(), { term: 2, vote: 2, commit: 5 });
    await s.close();
    const after = await levelContents(dir);
    t.deepEqual(after.indexes, [1, 2, 3, 4, 5, 6, 7], 'level deleted 8-10 when the record was replayed');
    t.is(after.walSeq, before.walSeq + 1);
    s = await LevelStorage.open(dir);
    t.deepEqual(s.entries(1, 8, 1e9).map(text), ['e1t1', 'e2t1', 'e3t1', 'e4t1', 'e5t1', 'e6t2', 'e7t2'], 'and again after another reopen');
    await s.close();
  });
});

test('checkpoints delete the segments level covers; a snapshot with compaction leaves only the current one', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    const big = (i: number, term = 1): Entry => ({ index: i, term, type: EntryType.Normal, data: Buffer.alloc(3000, i & 0xff) });
    for (let i = 1; i <= 200; i++) await s.save({ term: 1, vote: 1, commit: i - 1 }, [big(i)]);
    await s.settle();
    // 600 KB of records in 64 KiB segments: without checkpoints there would be about ten
    t.true((await segments(dir)).length <= 3, `old segments deleted (${(await segments(dir)).length} left)`);
    await s.createSnapshot(200, { voters: [1], learners: [] }, Buffer.from('state@200'), 190);
    await s.settle();
    t.is(s.walSegments(), 1);
    t.is((await segments(dir)).length, 1, 'only the segment being written is left');
    // a record bigger than a segment gets a segment of its own (and is written on the thread pool)
    await s.save(undefined, [{ index: 201, term: 1, type: EntryType.Normal, data: Buffer.alloc(300_000, 7) }]);
    await s.close();
    s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    t.is(s.firstIndex(), 191);
    t.is(s.lastIndex(), 201);
    t.is(s.entries(201, 202, 1e9)[0]?.data.byteLength, 300_000);
    t.true(s.entries(191, 201, 1e9).every((e) => e.data.byteLength === 3000 && e.data[0] === (e.index & 0xff)));
    t.is(Buffer.from(s.snapshot().data).toString(), 'state@200');
    await s.close();
  });
});

test('a snapshot from the leader is never undone by replaying older WAL records', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    // an old-term tail this follower will be told to drop
    await s.save({ term: 1, vote: 1, commit: 3 }, Array.from({ length: 8 }, (_, i) => ent(i + 1, 1)));
    const snap = { metadata: { index: 6, term: 2, confState: { voters: [1, 2, 3], learners: [] } }, data: Buffer.from('state@6') };
    await s.save({ term: 2, vote: 0, commit: 6 }, [], snap);
    await s.save(undefined, [ent(7, 2)]);
    await s.close();
    s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    t.is(s.firstIndex(), 7);
    t.is(s.lastIndex(), 7);
    t.is(s.term(6), 2);
    t.deepEqual(s.entries(7, 8, 1e9).map(text), ['e7t2']);
    await s.close();
    t.deepEqual((await levelContents(dir)).indexes, [7]);
  });
});

test('reopened many times, with torn tails between, the log stays whole', async (t) => {
  await withDir(async (dir) => {
    let next = 1;
    for (let round = 0; round < 12; round++) {
      const s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
      t.is(s.lastIndex(), next - 1, `round ${round}: reopened at the last acknowledged index`);
      const term = round + 1;
      for (let k = 0; k < 5 + round; k++, next++) await s.save({ term, vote: 1, commit: next - 1 }, [ent(next, term, `v${next}`)]);
      if (round % 3 === 2) await s.createSnapshot(next - 2, { voters: [1], learners: [] }, Buffer.from(`s${round}`), next - 4);
      await s.close();
      if (round % 2 === 1) {
        const segs = await segments(dir);
        const path = join(dir, 'wal', segs[segs.length - 1] as string);
        const { end } = await records(path);
        await patch(path, end, encodeSave(1e6, undefined, [ent(next, term)]).subarray(0, 20));
      }
    }
    const s = await LevelStorage.open(dir, { walSegmentBytes: SMALL });
    t.is(s.lastIndex(), next - 1);
    const ents = s.entries(s.firstIndex(), next, 1e9);
    t.true(ents.every((e) => text(e) === `v${e.index}`));
    t.true(ents.every((e, i) => i === 0 || (ents[i - 1] as Entry).term <= e.term), 'terms never go down');
    await s.close();
    t.true((await segments(dir)).length <= 13);
  });
});

test('pending level writes: a snapshot compacts entries level never got, and carries the rest; close writes what is left', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    for (let i = 1; i <= 100; i++) await s.save({ term: 1, vote: 1, commit: i - 1 }, [ent(i, 1)]);
    await s.createSnapshot(95, { voters: [1], learners: [] }, Buffer.from('state@95'), 90);
    await s.save({ term: 1, vote: 1, commit: 100 }, [ent(101, 1)]);
    await s.close();
    const level = await levelContents(dir);
    t.deepEqual(level.indexes, [91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101], 'level holds the log after the compaction point');
    s = await LevelStorage.open(dir);
    t.is(s.firstIndex(), 91);
    t.is(s.lastIndex(), 101);
    t.deepEqual(s.entries(91, 102, 1e9).map((e) => e.index), [91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101]);
    t.deepEqual(s.hardState(), { term: 1, vote: 1, commit: 100 });
    t.is(Buffer.from(s.snapshot().data).toString(), 'state@95');
    await s.close();
  });
});

test('a background write to level cut short between its slices is replayed from the WAL into the same log', async (t) => {
  // slices of 4 operations over: puts 1-10 (term 1); a new leader's record deleting 8-10 and
  // putting 6-7 (term 2); puts 8-12 (term 2). A cut after the 3rd, 2nd or 1st slice is a crash
  // before level has them all ("w" not moved); no slice may end inside the deletes, or level
  // would hold 10 without 8-9
  const t1 = Array.from({ length: 10 }, (_, i) => ent(i + 1, 1));
  const t2 = [ent(6, 2), ent(7, 2)];
  const t3 = [8, 9, 10, 11, 12].map((i) => ent(i, 2));
  const want = ['e1t1', 'e2t1', 'e3t1', 'e4t1', 'e5t1', 'e6t2', 'e7t2', 'e8t2', 'e9t2', 'e10t2', 'e11t2', 'e12t2'];
  for (const cutAfter of [0, 1, 2, 3]) {
    await withDir(async (dir) => {
      let s = await LevelStorage.open(dir, { levelSliceOps: 4 });
      await s.save({ term: 1, vote: 1, commit: 5 }, t1);
      await s.save({ term: 2, vote: 2, commit: 5 }, t2);
      await s.save({ term: 2, vote: 2, commit: 9 }, t3);
      const db = (s as unknown as { db: Db }).db;
      const batch = db.batch.bind(db) as (ops: unknown, o: unknown) => Promise<void>;
      let slices = 0;
      (db as unknown as { batch: unknown }).batch = (ops: unknown, o: unknown) => (++slices > cutAfter ? Promise.reject(new Error('crash')) : batch(ops, o));
      await s.close(); // the background write stops at the cut; level is closed as it is
      t.is(slices, cutAfter + 1, `cut after ${cutAfter} slices`);
      const level = await levelContents(dir);
      const lastIdx = level.indexes[level.indexes.length - 1] ?? 0;
      t.deepEqual(level.indexes, Array.from({ length: lastIdx }, (_, i) => i + 1), `level has no gap (cut after ${cutAfter}): ${level.indexes.join(',')}`);
      t.is(level.walSeq, 0, '"w" moves only with the last slice');
      s = await LevelStorage.open(dir);
      t.deepEqual(s.entries(1, 13, 1e9).map(text), want, `the log after replay (cut after ${cutAfter})`);
      t.deepEqual(s.hardState(), { term: 2, vote: 2, commit: 9 });
      await s.close();
      t.deepEqual((await levelContents(dir)).indexes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'and level has it all after the replay');
    });
  }
});

test('slices of a background write end only before the put of an entry', (t) => {
  const e = (i: number): PendingOp => ({ type: 'ent', e: ent(i, 1) });
  const d = (i: number): PendingOp => ({ type: 'del', key: Buffer.from([0x65, i]) });
  const ops = [e(1), e(2), e(3), d(4), d(5), d(6), e(3), e(4), e(5)];
  t.is(sliceEnd(ops, 0, 2), 2);
  t.is(sliceEnd(ops, 2, 2), 6, 'not inside the deletes: on to the next put');
  t.is(sliceEnd(ops, 6, 2), 8);
  t.is(sliceEnd(ops, 8, 2), 9, 'the rest');
  t.is(sliceEnd(ops, 0, 100), 9);
});

test('compacted entries level holds are range-deleted after the snapshot; what a crash left is deleted at the next open', async (t) => {
  for (const clearFails of [false, true]) {
    await withDir(async (dir) => {
      let s = await LevelStorage.open(dir);
      await s.save({ term: 1, vote: 1, commit: 50 }, Array.from({ length: 50 }, (_, i) => ent(i + 1, 1)));
      await s.settle(); // level has 1-50
      const db = (s as unknown as { db: Db }).db;
      if (clearFails) (db as unknown as { clear: unknown }).clear = () => Promise.reject(new Error('crash before the range delete'));
      await s.createSnapshot(40, { voters: [1], learners: [] }, Buffer.from('state@40'), 30);
      t.is(s.firstIndex(), 31);
      await s.close();
      const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
      t.deepEqual((await levelContents(dir)).indexes, clearFails ? range(1, 50) : range(31, 50), clearFails ? 'the range delete never ran' : 'level dropped 1-30');
      s = await LevelStorage.open(dir);
      t.is(s.firstIndex(), 31);
      t.deepEqual(s.entries(31, 51, 1e9).map(text), range(31, 50).map((i) => `e${i}t1`));
      await s.close();
      t.deepEqual((await levelContents(dir)).indexes, range(31, 50), 'after reopening, level holds only the log after the offset');
    });
  }
});

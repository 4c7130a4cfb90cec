// LevelStorage: reads, overwriting a conflicting suffix, snapshots and compaction, reopen.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStorage } from '../../src/storage/index.js';
import { EntryType, RaftError, type Entry } from '../../src/core/types.js';

const ent = (index: number, term: number, s = `e${index}t${term}`): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(s) });
const text = (e: Entry): string => Buffer.from(e.data).toString();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-raft-st-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('empty storage, bootstrap, append and reopen', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    t.true(s.isEmpty());
    t.is(s.firstIndex(), 1);
    t.is(s.lastIndex(), 0);
    t.is(s.term(0), 0);
    await s.bootstrap({ voters: [1, 2, 3], learners: [] });
    await s.save({ term: 2, vote: 1, commit: 2 }, [ent(1, 1), ent(2, 2), ent(3, 2)]);
    t.is(s.lastIndex(), 3);
    t.deepEqual(s.entries(2, 4, 1e9).map(text), ['e2t2', 'e3t2']);
    t.is(s.entries(1, 4, 1).length, 1, 'maxBytes keeps at least one entry');
    await s.close();
    s = await LevelStorage.open(dir);
    t.false(s.isEmpty());
    t.deepEqual(s.initialState(), { hardState: { term: 2, vote: 1, commit: 2 }, confState: { voters: [1, 2, 3], learners: [] } });
    t.is(s.lastIndex(), 3);
    t.is(s.term(3), 2);
    t.throws(() => s.term(4), { instanceOf: RaftError });
    await s.close();
  });
});

test('entries overwriting a conflicting suffix truncate it', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    await s.save({ term: 1, vote: 1, commit: 1 }, [1, 2, 3, 4, 5].map((i) => ent(i, 1)));
    await s.save({ term: 2, vote: 2, commit: 1 }, [ent(3, 2), ent(4, 2)]);
    t.is(s.lastIndex(), 4);
    t.deepEqual(s.entries(1, 5, 1e9).map(text), ['e1t1', 'e2t1', 'e3t2', 'e4t2']);
    await s.close();
    s = await LevelStorage.open(dir);
    t.is(s.lastIndex(), 4, 'the old entry 5 is gone after reopen too');
    t.deepEqual(s.entries(1, 5, 1e9).map(text), ['e1t1', 'e2t1', 'e3t2', 'e4t2']);
    await t.throwsAsync(s.save(undefined, [ent(7, 2)]), { message: /gap/ });
    await s.close();
  });
});

test('snapshot and compaction keep a tail; a received snapshot replaces the log', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    await s.save({ term: 1, vote: 1, commit: 10 }, Array.from({ length: 10 }, (_, i) => ent(i + 1, 1)));
    await s.createSnapshot(8, { voters: [1], learners: [] }, Buffer.from('state@8'), 5);
    t.is(s.snapshot().metadata.index, 8);
    t.is(s.firstIndex(), 6);
    t.is(s.term(5), 1);
    t.throws(() => s.entries(5, 7, 1e9), { instanceOf: RaftError, message: /compacted/ });
    t.deepEqual(s.entries(6, 11, 1e9).map(text), ['e6t1', 'e7t1', 'e8t1', 'e9t1', 'e10t1']);
    await s.close();
    s = await LevelStorage.open(dir);
    t.is(s.firstIndex(), 6);
    t.is(s.lastIndex(), 10);
    t.is(Buffer.from(s.snapshot().data).toString(), 'state@8');
    // a snapshot from the leader, ahead of our log, then entries after it
    const snap = { metadata: { index: 20, term: 3, confState: { voters: [1, 2], learners: [3] } }, data: Buffer.from('state@20') };
    await s.save({ term: 3, vote: 0, commit: 20 }, [ent(21, 3)], snap);
    t.is(s.firstIndex(), 21);
    t.is(s.lastIndex(), 21);
    t.is(s.term(20), 3);
    await s.close();
    s = await LevelStorage.open(dir);
    t.deepEqual(s.initialState().confState, { voters: [1, 2], learners: [3] });
    t.is(s.firstIndex(), 21);
    t.deepEqual(s.entries(21, 22, 1e9).map(text), ['e21t3']);
    await s.close();
  });
});

test('bytesBetween follows appends, conflicting suffixes, compaction, received snapshots and reopen', async (t) => {
  await withDir(async (dir) => {
    const sized = (index: number, term: number, n: number): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.alloc(n, index) });
    // entrySize is data bytes + 16
    let s = await LevelStorage.open(dir);
    t.is(s.bytesBetween(0, 10), 0);
    await s.save({ term: 1, vote: 1, commit: 0 }, [sized(1, 1, 100), sized(2, 1, 200), sized(3, 1, 300), sized(4, 1, 400)]);
    t.is(s.bytesBetween(0, 4), 100 + 200 + 300 + 400 + 4 * 16);
    t.is(s.bytesBetween(1, 3), 200 + 300 + 32);
    t.is(s.bytesBetween(2, 99), 300 + 400 + 32, 'clamped to the last index');
    // a conflicting suffix replaces entries 3 and 4 by a single 1,000-byte entry 3
    await s.save({ term: 2, vote: 2, commit: 0 }, [sized(3, 2, 1000)]);
    t.is(s.bytesBetween(0, 4), 100 + 200 + 1000 + 48);
    await s.save(undefined, [sized(4, 2, 10), sized(5, 2, 20)]);
    t.is(s.bytesBetween(2, 5), 1000 + 10 + 20 + 48);
    // compaction: the kept entries keep their sizes
    await s.createSnapshot(4, { voters: [1], learners: [] }, Buffer.from('s'), 2);
    t.is(s.firstIndex(), 3);
    t.is(s.bytesBetween(0, 5), 1000 + 10 + 20 + 48, 'compacted entries no longer count');
    t.is(s.bytesBetween(4, 5), 20 + 16);
    await s.close();
    s = await LevelStorage.open(dir);
    t.is(s.bytesBetween(2, 5), 1000 + 10 + 20 + 48, 'recomputed at open');
    // a snapshot from the leader replaces the log; later entries count from there
    await s.save({ term: 3, vote: 2, commit: 10 }, [], { metadata: { index: 10, term: 3, confState: { voters: [1], learners: [] } }, data: Buffer.from('x') });
    t.is(s.bytesBetween(0, 10), 0);
    await s.save(undefined, [sized(11, 3, 50), sized(12, 3, 60)]);
    t.is(s.bytesBetween(0, 12), 50 + 60 + 32);
    t.is(s.bytesBetween(11, 12), 60 + 16);
    await s.close();
  });
});

test('compactionPoint keeps at most keepEntries and keepBytes behind the snapshot index', async (t) => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    // ten entries of 84 + 16 = 100 bytes each
    await s.save({ term: 1, vote: 1, commit: 10 }, Array.from({ length: 10 }, (_, i) => ({ index: i + 1, term: 1, type: EntryType.Normal, data: Buffer.alloc(84) })));
    t.is(s.compactionPoint(10, 5, 1e9), 5, 'bounded by count');
    t.is(s.compactionPoint(10, 5, 250), 8, 'bounded by bytes: two entries (200 bytes) fit');
    t.is(s.compactionPoint(10, 5, 0), 10, 'nothing kept');
    t.is(s.compactionPoint(10, 50, 1e9), 0, 'never below the offset');
    await s.createSnapshot(10, { voters: [1], learners: [] }, Buffer.from('s'), s.compactionPoint(10, 5, 250));
    t.is(s.firstIndex(), 9);
    t.is(s.entries(9, 11, 1e9).length, 2);
    t.is(s.compactionPoint(10, 50, 1e9), 8, 'never below the current offset');
    await s.close();
  });
});

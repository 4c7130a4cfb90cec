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

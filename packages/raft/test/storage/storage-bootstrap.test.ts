// LevelStorage keeps the cluster's bootstrap configuration (index 0) under a key of its own:
// snapshots, compaction and a snapshot received from the leader never replace it, so that any
// member (founding or joined) can hand it to the next joiner.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { LevelStorage } from '../../src/storage/index.js';
import { EntryType, RaftError, type Entry } from '../../src/core/types.js';
import { KEY_BOOTSTRAP, KEY_SNAP_META, encodeSnapMeta } from '../../src/storage/codec.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(`e${index}`) });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-raft-boot-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the bootstrap configuration survives snapshots, compaction, a received snapshot and reopening', async (t) => {
  await withDir(async (dir) => {
    let s = await LevelStorage.open(dir);
    t.is(s.bootstrapConfState(), undefined);
    await t.throwsAsync(s.bootstrap({ voters: [], learners: [] }), { instanceOf: RaftError });
    await s.bootstrap({ voters: [1], learners: [] });
    await s.bootstrap({ voters: [7], learners: [] }); // a second bootstrap is ignored
    await s.save({ term: 1, vote: 1, commit: 5 }, [1, 2, 3, 4, 5].map((i) => ent(i, 1)));
    await s.createSnapshot(4, { voters: [1, 2, 3], learners: [] }, Buffer.from('sm'), 4);
    t.is(s.firstIndex(), 5);
    t.deepEqual(s.snapshot().metadata.confState, { voters: [1, 2, 3], learners: [] });
    t.deepEqual(s.bootstrapConfState(), { voters: [1], learners: [] });
    await s.save(undefined, [], { metadata: { index: 20, term: 2, confState: { voters: [1, 2, 3, 4], learners: [] } }, data: Buffer.from('x') });
    t.deepEqual(s.bootstrapConfState(), { voters: [1], learners: [] });
    await s.close();
    s = await LevelStorage.open(dir);
    t.deepEqual(s.bootstrapConfState(), { voters: [1], learners: [] });
    t.false(s.isEmpty());
    await s.close();
  });
});

test('a storage written before the bootstrap key existed reads it from its index-0 snapshot metadata', async (t) => {
  await withDir(async (dir) => {
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.put(KEY_SNAP_META, encodeSnapMeta({ index: 0, term: 0, confState: { voters: [1, 2, 3], learners: [] } }));
    await db.close();
    const s = await LevelStorage.open(dir);
    t.deepEqual(s.bootstrapConfState(), { voters: [1, 2, 3], learners: [] });
    t.false(s.isEmpty());
    await s.close();
    const probe = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    t.false((await probe.keys().all()).some((k) => k.equals(KEY_BOOTSTRAP)), 'reading does not write');
    await probe.close();
  });
});

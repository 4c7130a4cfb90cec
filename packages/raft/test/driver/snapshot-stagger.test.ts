// SnapshotScheduler: members given different snapshotStagger values snapshot at different indexes
// of the same log, by entry count and by bytes, and still when the last snapshot is bigger than
// snapshotBytes (the threshold then in force). Storage is a stand-in that counts bytes per entry.
import test from 'ava';
import { realClock } from '../../src/clock.js';
import { SnapshotScheduler } from '../../src/driver/snapshots.js';
import type { LevelStorage } from '../../src/storage/level-storage.js';
import { createLogger } from '../../src/transport/logger.js';

const BYTES_PER_ENTRY = 100;

/** applies entries 1..last one by one; returns the indexes at which a snapshot was taken */
async function snapshotIndexes(stagger: number, opts: { snapshotEvery: number; snapshotBytes: number; stateBytes: number }, last: number): Promise<number[]> {
  const taken: number[] = [];
  let applied = 0;
  const storage = {
    bytesBetween: (from: number, to: number) => (to - from) * BYTES_PER_ENTRY,
    compactionPoint: () => 0,
    createSnapshot: async () => {},
  } as unknown as LevelStorage;
  const s = new SnapshotScheduler({
    storage,
    sm: {
      apply: async () => {},
      restore: async () => {},
      snapshot: () => {
        taken.push(applied);
        return new Uint8Array(opts.stateBytes);
      },
    },
    log: createLogger('test', {}, 'silent'),
    clock: realClock,
    opts: { snapshotEvery: opts.snapshotEvery, snapshotBytes: opts.snapshotBytes, snapshotStagger: stagger, snapshotKeep: 0, snapshotKeepBytes: 0 },
    stopped: () => false,
  });
  for (applied = 1; applied <= last; applied++) {
    s.maybeSnapshot(applied, { voters: [1], learners: [] }, new Map([[1, 'a']]), new Set());
    await s.inFlight;
  }
  return taken;
}

test('by entry count: a member staggered by 1/4 snapshots at 125 entries where the others do at 100', async (t) => {
  const o = { snapshotEvery: 100, snapshotBytes: 1e12, stateBytes: 10 };
  t.deepEqual(await snapshotIndexes(0, o, 300), [100, 200, 300]);
  t.deepEqual(await snapshotIndexes(0.25, o, 300), [125, 250]);
});

test('by bytes, and by the size of a last snapshot bigger than snapshotBytes: the stagger scales both', async (t) => {
  // snapshotBytes 10,000 = 100 entries; each snapshot then holds 30,000 bytes of state, so the
  // next threshold is the last snapshot's size (300 entries and a little for the envelope)
  const o = { snapshotEvery: 1e9, snapshotBytes: 10_000, stateBytes: 30_000 };
  const base = await snapshotIndexes(0, o, 1000);
  const staggered = await snapshotIndexes(0.25, o, 1000);
  t.is(base[0], 100);
  t.is(staggered[0], 125);
  const gap = (xs: number[]) => xs[1]! - xs[0]!;
  t.true(gap(base) > 300 && gap(base) < 310, `base gap ${gap(base)}`);
  t.true(gap(staggered) > 375 && gap(staggered) < 390, `staggered gap ${gap(staggered)}`);
});
